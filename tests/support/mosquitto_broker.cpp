#include "mosquitto_broker.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

extern char** environ;

namespace vigil::test {
namespace {

using namespace std::chrono_literals;

std::string find_program(const std::string& name, const std::vector<std::string>& dirs) {
  for (const auto& d : dirs) {
    const std::string path = d + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

const std::vector<std::string> kBinDirs = {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"};

// The kernel picks a free port for a socket bound to port 0; it stays free for a while after
// the socket closes, long enough for the broker to take it.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// A broker started as root reads its files after dropping to its own user.
void readable_by_broker(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file())
      fs::permissions(entry.path(), fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                        fs::perms::others_read);
}

}  // namespace

void make_test_certificates(const TempDir& dir, const std::string& host_san) {
  const std::string openssl = find_program("openssl", {"/usr/bin", "/usr/local/bin", "/bin"});
  if (openssl.empty()) FAIL("the openssl command is not installed; TLS tests need it: apt-get install openssl");
  auto run = [&](const std::vector<std::string>& argv) {
    auto r = run_process(argv, 60'000);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  };
  const std::string ec = "ec";
  run({openssl, "req", "-x509", "-newkey", ec, "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
       dir.file("ca.key"), "-out", dir.file("ca.pem"), "-days", "2", "-subj", "/CN=vigil test CA"});
  write_file(dir.file("server.ext"), "subjectAltName=" + host_san + "\n");
  write_file(dir.file("client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const std::string name : {"server", "client"}) {
    run({openssl, "req", "-newkey", ec, "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
         dir.file(name + ".key"), "-out", dir.file(name + ".csr"), "-subj", "/CN=vigil-test-" + name});
    run({openssl, "x509", "-req", "-in", dir.file(name + ".csr"), "-CA", dir.file("ca.pem"), "-CAkey", dir.file("ca.key"),
         "-CAcreateserial", "-out", dir.file(name + ".pem"), "-days", "2", "-extfile", dir.file(name + ".ext")});
  }
  readable_by_broker(dir.path());
}

MosquittoOptions tls_broker_options(const TempDir& certs, bool require_certificate) {
  MosquittoOptions o;
  o.ca_file = certs.file("ca.pem");
  o.cert_file = certs.file("server.pem");
  o.key_file = certs.file("server.key");
  o.require_certificate = require_certificate;
  return o;
}

MosquittoBroker::MosquittoBroker(const MosquittoOptions& options) {
  port_ = free_port();
  // No queue limit for a subscriber that falls behind (mosquitto's default drops QoS 1 messages
  // past 1000 queued): a test's own subscriber must see everything the code under test sent.
  std::string conf = "listener " + std::to_string(port_) + " 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n";
  if (options.persistence) {
    // Started as root, mosquitto drops to its own user before it writes the persistence file.
    const std::string store = dir_.file("store");
    std::filesystem::create_directory(store);
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                                  std::filesystem::perms::others_exec);
    std::filesystem::permissions(store, std::filesystem::perms::all);
    conf += "persistence true\npersistence_location " + store + "/\n";
  } else {
    conf += "persistence false\n";
  }
  if (!options.cert_file.empty()) {
    tls_ = true;
    conf += "cafile " + options.ca_file + "\ncertfile " + options.cert_file + "\nkeyfile " + options.key_file + "\n";
    if (options.require_certificate) conf += "require_certificate true\n";
  }
  if (!options.username.empty()) {
    const std::string passwd = find_program("mosquitto_passwd", kBinDirs);
    if (passwd.empty())
      FAIL("mosquitto_passwd is not installed; broker tests with a password need it: apt-get install mosquitto");
    const std::string file = dir_.file("passwords");
    const ProcessResult r = run_process({passwd, "-c", "-b", file, options.username, options.password}, 10'000);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    // Started as root, mosquitto reads the file after dropping to its own user.
    readable_by_broker(dir_.path());
    conf.replace(conf.find("allow_anonymous true"), 20, "allow_anonymous false");
    conf += "password_file " + file + "\n";
  }
  write_file(dir_.file("mosquitto.conf"), conf);
  start();
}

MosquittoBroker::~MosquittoBroker() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void MosquittoBroker::start() {
  if (pid_ > 0) return;
  const std::string binary = find_program("mosquitto", kBinDirs);
  if (binary.empty())
    FAIL("the mosquitto broker is not installed (looked in /usr/sbin, /usr/bin, /usr/local/sbin, "
         "/usr/local/bin); MQTT integration tests need it: apt-get install mosquitto");
  const std::string conf = dir_.file("mosquitto.conf");
  const std::string log_path = dir_.file("mosquitto.log");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv = {const_cast<char*>(binary.c_str()), const_cast<char*>("-c"),
                             const_cast<char*>(conf.c_str()), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!accepts(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("mosquitto exited at start on port " << port_ << ":\n" << log());
    }
    if (std::chrono::steady_clock::now() > deadline) FAIL("mosquitto did not accept connections within 10 s:\n" << log());
    std::this_thread::sleep_for(5ms);
  }
}

void MosquittoBroker::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  pid_ = -1;
}

std::string MosquittoBroker::uri() const {
  return (tls_ ? "ssl://127.0.0.1:" : "tcp://127.0.0.1:") + std::to_string(port_);
}

bool MosquittoBroker::publish(const std::string& topic, const std::string& payload) const {
  return publish_bytes(topic, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
}

// An in-process Paho client per message (connect, publish at QoS 1, wait for the PUBACK,
// disconnect): mosquitto_pub now and then hangs at exit after its PUBACK came, which read as a
// failed publish on a loaded machine.
bool MosquittoBroker::publish_bytes(const std::string& topic, std::span<const std::uint8_t> bytes) const {
  static std::atomic<unsigned> next_client{0};
  const std::string id = "vigil-test-pub-" + std::to_string(::getpid()) + "-" + std::to_string(next_client++);
  try {
    mqtt::async_client client("tcp://127.0.0.1:" + std::to_string(port_), id, mqtt::create_options(MQTTVERSION_3_1_1));
    auto connect = mqtt::connect_options_builder().clean_session(true).connect_timeout(10s).finalize();
    if (!client.connect(connect)->wait_for(10s)) throw std::runtime_error("no CONNACK within 10 s");
    auto message = mqtt::make_message(topic, bytes.data(), bytes.size(), 1, false);
    if (!client.publish(message)->wait_for(10s)) throw std::runtime_error("no PUBACK within 10 s");
    client.disconnect()->wait_for(5s);
    return true;
  } catch (const std::exception& e) {
    UNSCOPED_INFO("publishing to " << topic << " on port " << port_ << " failed: " << e.what());
    return false;
  }
}

std::string MosquittoBroker::log() const { return read_file(dir_.file("mosquitto.log")); }

}  // namespace vigil::test
