#pragma once
// A real mosquitto broker on a free loopback port, for tests of MQTT sources and outputs.
#include <cstdint>
#include <span>
#include <string>
#include <sys/types.h>

#include "test_support.hpp"

namespace vigil::test {

/// How the test broker is set up; the default is a plain anonymous listener without persistence.
struct MosquittoOptions {
  /// Keep sessions and queued QoS 1 messages across stop()/start() (a persistence file in the
  /// broker's temporary folder, written at stop), with no limit on queued messages per client.
  bool persistence = false;
  /// TLS listener: PEM files of the CA, the broker certificate and its key (all three or none).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  /// TLS only: clients must present a certificate signed by ca_file.
  bool require_certificate = false;
  /// When set, anonymous clients are refused and only this user, with this password, may connect
  /// (a password file made with mosquitto_passwd).
  std::string username;
  std::string password;
};

/// Makes, with the openssl command line, a CA (`ca.pem`, `ca.key`), a broker certificate for
/// `host_san` (a subjectAltName such as "IP:127.0.0.1,DNS:localhost"; `server.pem`, `server.key`)
/// and a client certificate (`client.pem`, `client.key`) in `dir`, readable by the broker.
void make_test_certificates(const TempDir& dir, const std::string& host_san);

/// Options of a TLS broker with the files make_test_certificates() put in `certs`; by default
/// clients must present a certificate of that CA.
MosquittoOptions tls_broker_options(const TempDir& certs, bool require_certificate = true);

/// Starts `mosquitto` (anonymous, 127.0.0.1 only) on a free port and waits until it accepts
/// connections; kills it on destruction. Fails the test (never skips) when the binary is missing
/// or the broker does not come up within a few seconds.
class MosquittoBroker {
 public:
  MosquittoBroker() : MosquittoBroker(MosquittoOptions{}) {}
  explicit MosquittoBroker(const MosquittoOptions& options);
  ~MosquittoBroker();
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  /// Stops the broker (SIGTERM, then SIGKILL after 2 s); a no-op when it is not running.
  void stop();
  /// Starts it again on the same port (after stop()).
  void start();
  bool running() const noexcept { return pid_ > 0; }

  int port() const noexcept { return port_; }
  /// tcp://127.0.0.1:<port>, or ssl://127.0.0.1:<port> with a TLS listener.
  std::string uri() const;
  /// Publishes one message at QoS 1 as an anonymous plain-TCP client; true once the broker
  /// acknowledged it.
  bool publish(const std::string& topic, const std::string& payload) const;
  /// Publishes `bytes` as they are (binary allowed, e.g. FlatBuffers), as publish() does.
  bool publish_bytes(const std::string& topic, std::span<const std::uint8_t> bytes) const;
  /// What the broker wrote to stdout/stderr so far (for failure messages).
  std::string log() const;

 private:
  TempDir dir_;
  int port_ = 0;
  bool tls_ = false;
  pid_t pid_ = -1;
};

}  // namespace vigil::test
