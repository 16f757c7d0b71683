// A bare Eclipse Paho MQTT C++ subscriber that only counts messages: the baseline the mqtt
// source's CPU per message is compared with in the end-to-end ingest benchmark.
// usage: mqtt_count_paho URI TOPIC [QOS]; runs until SIGINT/SIGTERM, then prints
// "messages N bytes B" on stdout. Logs "subscribed" on stderr once the subscription is made.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <mqtt/async_client.h>

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: mqtt_count_paho URI TOPIC [QOS]\n");
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const int qos = argc > 3 ? std::atoi(argv[3]) : 0;
  std::atomic<unsigned long long> messages{0};
  std::atomic<unsigned long long> bytes{0};
  try {
    mqtt::async_client client(argv[1], "count-paho-" + std::to_string(::getpid()),
                              mqtt::create_options(MQTTVERSION_3_1_1));
    client.set_message_callback([&](mqtt::const_message_ptr msg) {
      messages.fetch_add(1, std::memory_order_relaxed);
      bytes.fetch_add(msg->get_payload_ref().length(), std::memory_order_relaxed);
    });
    mqtt::connect_options opts;
    opts.set_mqtt_version(MQTTVERSION_3_1_1);
    opts.set_clean_session(true);
    opts.set_keep_alive_interval(30);
    client.connect(opts)->wait();
    client.subscribe(argv[2], qos)->wait();
    std::fprintf(stderr, "subscribed\n");
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    client.disconnect()->wait_for(std::chrono::seconds(1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqtt_count_paho: %s\n", e.what());
    return 1;
  }
  std::printf("messages %llu bytes %llu\n", messages.load(), bytes.load());
  return 0;
}
