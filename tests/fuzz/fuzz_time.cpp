// Fuzzes the text parsers for times, durations, sizes and numbers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vigil/runtime/plugin.hpp"
#include "vigil/runtime/time.hpp"

namespace rt = vigil::runtime;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  (void)rt::parse_duration(text);
  (void)rt::parse_size(text);
  (void)rt::parse_time_unit(text);

  // The two RFC 3339 parsers must agree.
  const auto with_message = rt::parse_rfc3339(text);
  const auto quiet = rt::rfc3339_to_nanos(text);
  if (with_message.ok() != quiet.has_value()) __builtin_trap();
  if (quiet && with_message.value() != *quiet) __builtin_trap();

  for (const auto unit : {rt::TimeUnit::s, rt::TimeUnit::ms, rt::TimeUnit::us, rt::TimeUnit::ns,
                          rt::TimeUnit::rfc3339})
    (void)rt::parse_time_value(text, unit);

  double value = 0;
  if (rt::parse_number(text, value)) (void)rt::to_nanos(value, rt::TimeUnit::ms);
  return 0;
}
