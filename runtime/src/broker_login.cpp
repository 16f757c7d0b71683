#include "vigil/runtime/broker_login.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace vigil::runtime {

LoginOption take_broker_login_option(std::span<const std::string> args, std::size_t& i, BrokerLogin& login,
                                     std::string& error) {
  const std::string_view arg = args[i];
  if (arg == "--no-verify") {
    login.verify = false;
    return LoginOption::taken;
  }
  struct Flag {
    std::string_view name;
    std::string* out;
  };
  std::string password_env;
  const Flag flags[] = {{"--username", &login.username}, {"--password-env", &password_env},
                        {"--ca-file", &login.ca_file},   {"--cert-file", &login.cert_file},
                        {"--key-file", &login.key_file}};
  for (const Flag& f : flags) {
    std::string value;
    if (arg.size() > f.name.size() && arg.starts_with(f.name) && arg[f.name.size()] == '=') {
      value = std::string(arg.substr(f.name.size() + 1));
    } else if (arg == f.name) {
      if (i + 1 >= args.size()) {
        error = std::string(f.name) + " needs a value";
        return LoginOption::error;
      }
      value = args[++i];
    } else {
      continue;
    }
    if (value.empty()) {
      error = std::string(f.name) + " needs a value";
      return LoginOption::error;
    }
    if (f.out == &password_env) {
      // The password itself would show in `ps` and in shell history; its variable's name does not.
      const char* password = std::getenv(value.c_str());
      if (password == nullptr) {
        error = "--password-env: the environment variable " + value + " is not set";
        return LoginOption::error;
      }
      login.password = password;
      login.password_env = value;
    } else {
      *f.out = std::move(value);
    }
    return LoginOption::taken;
  }
  return LoginOption::not_mine;
}

std::string check_broker_login(std::string_view broker, const BrokerLogin& login) {
  const bool tls = broker.starts_with("ssl://");
  if (!tls) {
    const char* tls_option = !login.ca_file.empty()     ? "--ca-file"
                             : !login.cert_file.empty() ? "--cert-file"
                             : !login.key_file.empty()  ? "--key-file"
                             : !login.verify            ? "--no-verify"
                                                        : nullptr;
    if (tls_option)
      return std::string(tls_option) + " applies to ssl:// brokers only; use ssl://host:8883 or leave it out";
  }
  if (!login.password_env.empty() && login.username.empty())
    return "--password-env: a password needs a user name; add --username";
  if (login.cert_file.empty() != login.key_file.empty())
    return login.cert_file.empty() ? "--key-file needs --cert-file (the certificate of this key)"
                                   : "--cert-file needs --key-file (the certificate's private key)";
  for (const auto& [option, path] : {std::pair<const char*, const std::string*>{"--ca-file", &login.ca_file},
                                     {"--cert-file", &login.cert_file},
                                     {"--key-file", &login.key_file}}) {
    if (!path->empty() && ::access(path->c_str(), R_OK) != 0)
      return std::string(option) + ": cannot read " + *path + ": " + std::strerror(errno);
  }
  return {};
}

std::string_view connack_refusal(int return_code) noexcept {
  switch (return_code) {
    case 1: return "the broker refused the connection: unacceptable protocol version (it needs MQTT 3.1.1)";
    case 2: return "the broker refused the connection: client id rejected";
    case 3: return "the broker refused the connection: server unavailable";
    case 4: return "the broker refused the connection: bad user name or password";
    case 5: return "the broker refused the connection: not authorized (check --username and --password-env)";
    default: return {};
  }
}

}  // namespace vigil::runtime
