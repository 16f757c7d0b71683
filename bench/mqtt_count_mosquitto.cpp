// A bare libmosquitto subscriber that only counts messages, measured next to the bare Paho
// subscriber to decide which client library the mqtt source uses.
// usage: mqtt_count_mosquitto HOST PORT TOPIC [QOS] [thread]; runs until SIGINT/SIGTERM, then
// prints "messages N bytes B" on stdout. With `thread`, libmosquitto's own network thread runs
// the loop (as the mqtt source's `client: mosquitto` does); otherwise the main thread does.
#include <mosquitto.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

struct Counter {
  std::string topic;
  int qos = 0;
  std::atomic<unsigned long long> messages{0};
  std::atomic<unsigned long long> bytes{0};
};

extern "C" void on_connect(mosquitto* mosq, void* user, int rc) {
  auto* c = static_cast<Counter*>(user);
  if (rc == 0) mosquitto_subscribe(mosq, nullptr, c->topic.c_str(), c->qos);
}

extern "C" void on_subscribe(mosquitto*, void*, int, int, const int*) { std::fprintf(stderr, "subscribed\n"); }

extern "C" void on_message(mosquitto*, void* user, const mosquitto_message* msg) {
  auto* c = static_cast<Counter*>(user);
  c->messages.fetch_add(1, std::memory_order_relaxed);
  c->bytes.fetch_add(static_cast<unsigned long long>(msg->payloadlen), std::memory_order_relaxed);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: mqtt_count_mosquitto HOST PORT TOPIC [QOS] [thread]\n");
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Counter counter;
  counter.topic = argv[3];
  counter.qos = argc > 4 ? std::atoi(argv[4]) : 0;
  const bool threaded = argc > 5 && std::strcmp(argv[5], "thread") == 0;
  mosquitto_lib_init();
  mosquitto* mosq = mosquitto_new(nullptr, true, &counter);
  if (mosq == nullptr) return 1;
  mosquitto_connect_callback_set(mosq, on_connect);
  mosquitto_subscribe_callback_set(mosq, on_subscribe);
  mosquitto_message_callback_set(mosq, on_message);
  if (mosquitto_connect(mosq, argv[1], std::atoi(argv[2]), 30) != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "mqtt_count_mosquitto: cannot connect to %s:%s\n", argv[1], argv[2]);
    return 1;
  }
  if (threaded) {
    mosquitto_loop_start(mosq);
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    mosquitto_disconnect(mosq);
    mosquitto_loop_stop(mosq, false);
  } else {
    while (!g_stop.load()) mosquitto_loop(mosq, 50, 1);
    mosquitto_disconnect(mosq);
  }
  mosquitto_destroy(mosq);
  mosquitto_lib_cleanup();
  std::printf("messages %llu bytes %llu\n", counter.messages.load(), counter.bytes.load());
  return 0;
}
