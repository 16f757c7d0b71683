// SummaryBuffer: summaries released in (window end, pipeline, key first seen) order.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "allocation_counter.hpp"
#include "vigil/runtime/summary_buffer.hpp"

namespace vigil::test {
namespace {

using runtime::Summary;
using runtime::SummarySchema;

/// Records what reaches it as "end/pipeline/key/value0".
class Recorder final : public runtime::SummarySink {
 public:
  void emit(const Summary& s) noexcept override {
    std::string line = std::to_string(s.end) + "/" + (s.schema ? s.schema->pipeline : "-") + "/" +
                       std::string(s.key_name);
    if (!s.values.empty()) line += "/" + std::to_string(static_cast<int>(s.values[0]));
    seen.push_back(line);
  }
  std::vector<std::string> seen;
};

struct Fixture {
  SummarySchema first{"first", 0, {"v"}};
  SummarySchema second{"second", 1, {"v"}};
  std::vector<std::string> names{"k0", "k1", "k2", "k3"};
  Recorder sink;

  /// Emits a summary for pipeline `p` (0 or 1), key rank `rank`, window end `end`, value `v`.
  void emit(runtime::SummarySink& to, int p, std::uint64_t rank, runtime::Nanos end, double v) {
    double value = v;  // lives only during emit(), as pipeline storage would
    Summary s;
    s.schema = p == 0 ? &first : &second;
    s.key_name = names[rank];
    s.key_rank = rank;
    s.end = end;
    s.start = end - 10;
    s.count = 1;
    s.values = {&value, 1};
    to.emit(s);
    value = -1;
  }
};

TEST_CASE("a buffer holds summaries until released", "[runtime][buffer]") {
  Fixture f;
  runtime::SummaryBuffer buffer(8, 1, &f.sink);
  f.emit(buffer, 0, 0, 10, 1);
  CHECK(f.sink.seen.empty());
  CHECK(buffer.size() == 1);
  buffer.release();
  CHECK(f.sink.seen == std::vector<std::string>{"10/first/k0/1"});
  CHECK(buffer.size() == 0);
}

TEST_CASE("released summaries are ordered by window end, then pipeline, then key first seen",
          "[runtime][buffer]") {
  Fixture f;
  runtime::SummaryBuffer buffer(16, 1, &f.sink);
  f.emit(buffer, 1, 0, 20, 1);
  f.emit(buffer, 0, 2, 20, 2);
  f.emit(buffer, 0, 1, 20, 3);
  f.emit(buffer, 1, 3, 10, 4);
  f.emit(buffer, 0, 3, 10, 5);
  f.emit(buffer, 0, 0, 30, 6);
  buffer.release();
  CHECK(f.sink.seen == std::vector<std::string>{"10/first/k3/5", "10/second/k3/4", "20/first/k1/3",
                                                 "20/first/k2/2", "20/second/k0/1", "30/first/k0/6"});
}

TEST_CASE("summaries that tie on end, pipeline and key keep their arrival order", "[runtime][buffer]") {
  Fixture f;
  runtime::SummaryBuffer buffer(16, 1, &f.sink);
  for (int v = 0; v < 10; ++v) f.emit(buffer, 0, 1, 10, v);
  buffer.release();
  REQUIRE(f.sink.seen.size() == 10);
  for (int v = 0; v < 10; ++v) CHECK(f.sink.seen[static_cast<std::size_t>(v)] == "10/first/k1/" + std::to_string(v));
}

TEST_CASE("a buffer copies the values, so the emitter may reuse its storage", "[runtime][buffer]") {
  Fixture f;
  runtime::SummaryBuffer buffer(4, 1, &f.sink);
  f.emit(buffer, 0, 1, 10, 7);  // the emitter overwrites its value right after emit()
  f.emit(buffer, 0, 0, 10, 8);
  buffer.release();
  CHECK(f.sink.seen == std::vector<std::string>{"10/first/k0/8", "10/first/k1/7"});
}

TEST_CASE("a full buffer releases what it holds, sorted, before taking the next summary", "[runtime][buffer]") {
  Fixture f;
  runtime::SummaryBuffer buffer(2, 1, &f.sink);
  f.emit(buffer, 0, 1, 20, 1);
  f.emit(buffer, 0, 0, 20, 2);
  CHECK(f.sink.seen.empty());
  f.emit(buffer, 0, 0, 10, 3);  // full: the first two go out, sorted among themselves
  CHECK(f.sink.seen == std::vector<std::string>{"20/first/k0/2", "20/first/k1/1"});
  CHECK(buffer.size() == 1);
  buffer.release();
  CHECK(f.sink.seen.back() == "10/first/k0/3");
}

TEST_CASE("releasing an empty buffer sends nothing", "[runtime][buffer]") {
  Fixture f;
  runtime::SummaryBuffer buffer(2, 1, &f.sink);
  buffer.release();
  CHECK(f.sink.seen.empty());
}

TEST_CASE("a buffer can be redirected to another sink", "[runtime][buffer]") {
  Fixture f;
  Recorder other;
  runtime::SummaryBuffer buffer(4, 1, nullptr);
  f.emit(buffer, 0, 0, 10, 1);
  buffer.release();  // no sink: dropped quietly
  buffer.set_next(&other);
  f.emit(buffer, 0, 0, 20, 2);
  buffer.release();
  CHECK(other.seen == std::vector<std::string>{"20/first/k0/2"});
}

TEST_CASE("a buffer keeps at most max_columns values per summary", "[runtime][buffer]") {
  SummarySchema schema{"p", 0, {"a", "b", "c"}};
  struct Count final : runtime::SummarySink {
    void emit(const Summary& s) noexcept override { sizes.push_back(s.values.size()); }
    std::vector<std::size_t> sizes;
  } sink;
  runtime::SummaryBuffer buffer(2, 2, &sink);
  double values[3] = {1, 2, 3};
  Summary s;
  s.schema = &schema;
  s.values = values;
  buffer.emit(s);
  buffer.release();
  CHECK(sink.sizes == std::vector<std::size_t>{2});
}

TEST_CASE("emitting into and releasing a buffer allocates nothing", "[runtime][buffer][alloc]") {
  SummarySchema schema{"p", 0, {"v"}};
  struct Count final : runtime::SummarySink {
    void emit(const Summary&) noexcept override { ++n; }
    std::size_t n = 0;
  } sink;
  runtime::SummaryBuffer buffer(64, 1, &sink);
  Summary s;
  double value = 1;
  s.schema = &schema;
  s.values = {&value, 1};
  AllocationCounter allocs;
  for (int i = 0; i < 1000; ++i) {  // fills and releases the buffer many times over
    s.end = 1000 - i;
    s.key_rank = static_cast<std::uint64_t>(i % 3);
    buffer.emit(s);
  }
  buffer.release();
  CHECK(allocs.count() == 0);
  CHECK(sink.n == 1000);
}

}  // namespace
}  // namespace vigil::test
