#pragma once
// Credentials and TLS settings of the command-line MQTT clients (`vigil simulate`,
// `vigil tail-upstream`), parsed from the same options in both. No MQTT library types here:
// each command turns a BrokerLogin into its client's options.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace vigil::runtime {

/// How a command-line client logs in to the broker and checks it. The password is read from
/// the environment variable named by --password-env, never from the command line.
struct BrokerLogin {
  std::string username;
  std::string password;
  std::string password_env;  ///< the variable it came from, for messages
  std::string ca_file;       ///< PEM CAs of the broker's certificate; empty: the system trust store
  std::string cert_file;     ///< PEM client certificate (mutual TLS)
  std::string key_file;      ///< its private key
  bool verify = true;        ///< check the broker's certificate chain and host name
};

/// The options, for usage lines.
inline constexpr const char* kBrokerLoginUsage =
    "[--username U [--password-env VAR]] [--ca-file FILE] [--cert-file FILE --key-file FILE] [--no-verify]";

/// What take_broker_login_option() made of args[i].
enum class LoginOption { not_mine, taken, error };

/// If args[i] is one of --username, --password-env, --ca-file, --cert-file, --key-file (value as
/// the next argument or after `=`) or --no-verify, stores it in `login`, advances `i` past its
/// value and returns taken; a missing value or an unset variable is an error (in `error`).
LoginOption take_broker_login_option(std::span<const std::string> args, std::size_t& i, BrokerLogin& login,
                                     std::string& error);

/// Checks `login` against the broker address: TLS options need ssl://, a key needs its
/// certificate and the other way round, a password needs a user name, every file must be
/// readable. Returns the problem worded for the user, or an empty string.
std::string check_broker_login(std::string_view broker, const BrokerLogin& login);

/// Why an MQTT 3.1.1 broker refused a connection, from its CONNACK return code (1 to 5), worded
/// for the user; empty for any other code (MQTT client libraries report these as "unknown").
std::string_view connack_refusal(int return_code) noexcept;

/// What to check when a TLS connection failed without a reason from the TLS library: the
/// certificate chain and host name checks, and how to skip them.
inline constexpr const char* kTlsVerifyHint =
    "the broker's certificate must be signed by a CA of --ca-file (or the system store) and name the host "
    "of --broker; --no-verify skips both checks";

}  // namespace vigil::runtime
