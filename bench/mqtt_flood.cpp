// Publishes JSON readings to an MQTT broker at a paced rate, for the end-to-end ingest
// benchmark: libmosquitto without its network thread, QoS 0, one write per message, so one
// core publishes several hundred thousand small messages per second (faster than the
// consumers under test). Payloads are built before the clock starts.
//
// usage: mqtt_flood --port P [--host H] [--keys N] [--batch B] [--rate MSG_PER_S] [--count N]
//                   [--prefix TOPIC_PREFIX] [--format json|flatbuffers]
// Each message goes to PREFIX/<key> and holds B readings of that key: a JSON object when B is 1,
// an array of B objects otherwise ({"key":"m0042","temp":21.5}); or, with --format flatbuffers, a
// vigil.fb.Readings message of B readings, each with the key and a temp value and no time (as
// `vigil simulate --format flatbuffers` writes them, minus the time). Keys take turns. Prints
// the messages, readings and achieved rate on stdout.
#include <mosquitto.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "reading_codec.hpp"

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::size_t keys = 100;
  std::size_t batch = 1;
  double rate = 10000;
  std::size_t count = 10000;
  std::string prefix = "bench";
  bool flatbuffers = false;
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--host") o.host = v;
    else if (flag == "--port") o.port = std::atoi(v);
    else if (flag == "--keys") o.keys = std::strtoul(v, nullptr, 10);
    else if (flag == "--batch") o.batch = std::strtoul(v, nullptr, 10);
    else if (flag == "--rate") o.rate = std::strtod(v, nullptr);
    else if (flag == "--count") o.count = std::strtoul(v, nullptr, 10);
    else if (flag == "--prefix") o.prefix = v;
    else if (flag == "--format" && (std::string(v) == "json" || std::string(v) == "flatbuffers"))
      o.flatbuffers = std::string(v) == "flatbuffers";
    else return false;
  }
  return (argc % 2) == 1 && o.keys > 0 && o.batch > 0 && o.rate > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: mqtt_flood --port P [--host H] [--keys N] [--batch B] [--rate MSG_PER_S] [--count N] "
                 "[--prefix P] [--format json|flatbuffers]\n");
    return 2;
  }
  // Ten payload variants per key, so values move without formatting on the clock.
  constexpr std::size_t kVariants = 10;
  std::vector<std::string> topics;
  std::vector<std::string> payloads;
  vigil::sensors::ReadingEncoder encoder;
  const std::string names[] = {"temp"};
  for (std::size_t k = 0; k < o.keys; ++k) {
    char key[32];
    std::snprintf(key, sizeof key, "m%04zu", k);
    topics.push_back(o.prefix + "/" + key);
    for (std::size_t v = 0; v < kVariants; ++v) {
      if (o.flatbuffers) {
        encoder.clear();
        for (std::size_t r = 0; r < o.batch; ++r) {
          const double temp[] = {20.0 + static_cast<double>((v * 7 + r) % 100) / 10.0};
          encoder.add(key, false, 0, names, temp);
        }
        const auto bytes = encoder.finish();
        payloads.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        continue;
      }
      std::string p = o.batch > 1 ? "[" : "";
      for (std::size_t r = 0; r < o.batch; ++r) {
        char one[96];
        std::snprintf(one, sizeof one, "%s{\"key\":\"%s\",\"temp\":%.1f}", r ? "," : "", key,
                      20.0 + static_cast<double>((v * 7 + r) % 100) / 10.0);
        p += one;
      }
      if (o.batch > 1) p += "]";
      payloads.push_back(std::move(p));
    }
  }

  mosquitto_lib_init();
  mosquitto* mosq = mosquitto_new(nullptr, true, nullptr);
  if (mosq == nullptr || mosquitto_connect(mosq, o.host.c_str(), o.port, 30) != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "mqtt_flood: cannot connect to %s:%d\n", o.host.c_str(), o.port);
    return 1;
  }
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto last_loop = t0;
  std::size_t sent = 0;
  while (sent < o.count) {
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - t0).count();
    const std::size_t due = std::min(o.count, static_cast<std::size_t>(elapsed * o.rate) + 1);
    while (sent < due) {
      const std::size_t k = sent % o.keys;
      const std::string& p = payloads[k * kVariants + (sent / o.keys) % kVariants];
      const int rc = mosquitto_publish(mosq, nullptr, topics[k].c_str(), static_cast<int>(p.size()), p.data(), 0, false);
      if (rc != MOSQ_ERR_SUCCESS) {
        std::fprintf(stderr, "mqtt_flood: publish failed: %s\n", mosquitto_strerror(rc));
        return 1;
      }
      ++sent;
    }
    // Writes whatever the socket did not take at once, reads pings; about every millisecond.
    if (now - last_loop > std::chrono::milliseconds(1) || sent == o.count) {
      mosquitto_loop(mosq, 0, 1);
      last_loop = now;
    }
    if (sent < o.count && sent >= due) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  while (mosquitto_want_write(mosq)) mosquitto_loop(mosq, 10, 1);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  mosquitto_disconnect(mosq);
  mosquitto_loop(mosq, 10, 1);
  mosquitto_destroy(mosq);
  mosquitto_lib_cleanup();
  std::printf("messages %zu readings %zu seconds %.3f rate %.0f\n", sent, sent * o.batch, seconds,
              static_cast<double>(sent) / seconds);
  return 0;
}
