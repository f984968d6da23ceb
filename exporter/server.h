#pragma once
// The HTTP side: /metrics (telemetry path, GET and HEAD, gzip when asked, collect[]/exclude[]),
// a landing page on /, /-/healthy and /-/ready; everything else is 404.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/scraper.h"

class CivetServer;
class CivetHandler;

namespace pagescope {

struct ServerOptions {
  std::vector<std::string> listen_addresses;
  std::string telemetry_path = "/metrics";
  int max_requests = 40;
  int request_timeout_ms = 30000;
};

// Translates node_exporter-style addresses into civetweb's listening_ports syntax:
// ":9724" -> "9724", "127.0.0.1:9724" -> "127.0.0.1:9724", "[::1]:9724" -> "[::1]:9724".
std::string CivetListeningPorts(const std::vector<std::string>& addresses);

// True when an Accept-Encoding header value accepts gzip (q=0 refuses it).
bool AcceptsGzip(std::string_view accept_encoding);
// gzip-compresses `data` (RFC 1952).
std::string Gzip(std::string_view data);

class Server {
 public:
  using ScraperSource = std::function<std::shared_ptr<const Scraper>()>;
  // Binds and starts serving; throws std::runtime_error with the cause (e.g. the port is busy).
  Server(const ServerOptions& options, ScraperSource source);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The ports actually bound (useful with port 0).
  std::vector<int> ports() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pagescope
