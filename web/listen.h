#pragma once
// Listening sockets: "[host]:port" addresses, binding them, and the port a socket got.

#include <string>
#include <string_view>

namespace pagescope {

// "[host]:port" split into host (brackets removed; empty for all addresses) and port.
// Throws std::invalid_argument when it is not of that form.
struct ListenAddress {
  std::string host;
  std::string port;
};
ListenAddress SplitListenAddress(std::string_view address);

// Binds and listens on one address; "" host: every address (IPv6 and IPv4, or IPv4 alone where
// there is no IPv6); a name: one of its addresses, IPv4 first. Returns the listening descriptor
// (non-blocking, close-on-exec); throws std::runtime_error with the cause.
int ListenOn(const std::string& address);

// The port a socket is bound to; -1 when it cannot be told.
int BoundPort(int fd);

}  // namespace pagescope
