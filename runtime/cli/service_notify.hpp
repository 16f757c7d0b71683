#pragma once
// Readiness notices for systemd (Type=notify), without linking libsystemd: the
// protocol is one datagram per notice on the socket named by $NOTIFY_SOCKET.
#include <string_view>

namespace vigil::cli {

/// Sends `state` (e.g. "READY=1") to the service manager when $NOTIFY_SOCKET is
/// set (a path, or "@name" for an abstract socket); does nothing otherwise. Returns false when
/// the socket is set but the notice could not be sent. Never blocks: when the manager's queue
/// is full the notice is dropped (false). Any thread may call it.
bool notify_service_manager(std::string_view state) noexcept;

}  // namespace vigil::cli
