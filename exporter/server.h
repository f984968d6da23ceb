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
#include "exporter/web_config.h"

class CivetServer;
class CivetHandler;

namespace pagescope {

struct ServerOptions {
  std::vector<std::string> listen_addresses;
  std::string telemetry_path = "/metrics";
  // Parallel requests on the telemetry path; more are answered 503 at once.
  int max_requests = 40;
  // How long a connection may take to send its request (and to take the response), and how long
  // an idle keep-alive connection is kept. Each open connection holds one civetweb thread, so
  // these bound how long slow or idle clients can hold threads.
  int request_timeout_ms = 10000;
  int keep_alive_timeout_ms = 10000;
  // civetweb worker threads (one per open connection); 0: max(256, 4 * max_requests).
  int num_threads = 0;
  // TLS, basic auth and headers (--web.config.file); null: plain HTTP, no auth.
  std::shared_ptr<const WebConfig> web;
};

// civetweb's worker thread count for `options`.
int CivetThreads(const ServerOptions& options);

// Translates node_exporter-style addresses into civetweb's listening_ports syntax:
// ":9724" -> "9724", "127.0.0.1:9724" -> "127.0.0.1:9724", "[::1]:9724" -> "[::1]:9724".
// With `tls`, every port gets civetweb's "s" suffix.
std::string CivetListeningPorts(const std::vector<std::string>& addresses, bool tls = false);

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

  // Applies a reloaded web configuration: users, headers and TLS files take effect for new
  // requests and connections. Returns a message when part of it needs a restart (turning TLS on
  // or off), else an empty string.
  std::string SetWebConfig(std::shared_ptr<const WebConfig> web);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pagescope
