#include "web/listen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

namespace pagescope {

ListenAddress SplitListenAddress(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    throw std::invalid_argument("expected [host]:port, got \"" + std::string(address) + "\"");
  }
  std::string_view host = address.substr(0, colon);
  std::string_view port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    throw std::invalid_argument("an IPv6 address needs brackets: [" + std::string(host) +
                                "]:port, got \"" + std::string(address) + "\"");
  }
  bool digits = !port.empty() && port.size() <= 5 &&
                std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoul(std::string(port)) > 65535) {
    throw std::invalid_argument("expected [host]:port with a port from 0 to 65535, got \"" +
                                std::string(address) + "\"");
  }
  return {std::string(host), std::string(port)};
}

namespace {

// A socket address to try: its family and bytes.
struct Candidate {
  int family;
  std::vector<unsigned char> sockaddr;
};

template <typename SockAddr>
Candidate CandidateOf(int family, const SockAddr& sa) {
  const auto* p = reinterpret_cast<const unsigned char*>(&sa);
  return {family, std::vector<unsigned char>(p, p + sizeof(sa))};
}

// Where to listen for `a`: the IPv6 and IPv4 wildcards for an empty host, else the host's
// addresses, IPv4 first.
std::vector<Candidate> Candidates(const std::string& address, const ListenAddress& a) {
  std::vector<Candidate> out;
  if (a.host.empty()) {
    sockaddr_in6 any6{};
    any6.sin6_family = AF_INET6;
    any6.sin6_addr = in6addr_any;
    any6.sin6_port = htons(static_cast<uint16_t>(std::stoul(a.port)));
    sockaddr_in any4{};
    any4.sin_family = AF_INET;
    any4.sin_addr.s_addr = htonl(INADDR_ANY);
    any4.sin_port = any6.sin6_port;
    out.push_back(CandidateOf(AF_INET6, any6));
    out.push_back(CandidateOf(AF_INET, any4));
    return out;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(a.host.c_str(), a.port.c_str(), &hints, &found);
  if (rc != 0) throw std::runtime_error("cannot listen on " + address + ": " + gai_strerror(rc));
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const auto* p = reinterpret_cast<const unsigned char*>(ai->ai_addr);
    out.push_back({ai->ai_family, std::vector<unsigned char>(p, p + ai->ai_addrlen)});
  }
  freeaddrinfo(found);
  // A name is served on one of its addresses, IPv4 first, as node_exporter (Go) does:
  // "localhost" is 127.0.0.1, where clients connect, even where getaddrinfo lists ::1 first.
  std::stable_sort(out.begin(), out.end(), [](const Candidate& x, const Candidate& y) {
    return x.family == AF_INET && y.family != AF_INET;
  });
  return out;
}

}  // namespace

int ListenOn(const std::string& address) {
  ListenAddress a;
  try {
    a = SplitListenAddress(address);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  std::string last_error = "no address";
  for (const auto& [family, sa] : Candidates(address, a)) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6 && a.host.empty()) {
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, reinterpret_cast<const sockaddr*>(sa.data()), static_cast<socklen_t>(sa.size())) ==
            0 &&
        listen(fd, 1024) == 0) {
      return fd;
    }
    const int err = errno;
    last_error = std::strerror(err);
    close(fd);
    // An address in use is the answer; other families are tried only when one is missing.
    if (err == EADDRINUSE || err == EACCES) break;
  }
  throw std::runtime_error("cannot listen on " + address + ": " + last_error);
}

int BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return -1;
}

}  // namespace pagescope
