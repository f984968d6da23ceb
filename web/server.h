#pragma once
// The HTTP side: /metrics (telemetry path, GET and HEAD, gzip when asked, collect[]/exclude[]),
// a landing page on /, /-/healthy and /-/ready; everything else is 404, methods other than GET
// and HEAD 405.
//
// A scrape answers by its scraper's timeout (see ServerOptions) counted from the request's
// arrival; a request whose answer is not ready halfway between its deadline and its scraper's
// timeout (it waited behind other scrapes, or assembling the answer took that long) is answered
// 503. Every scrape also carries pagescope_http_requests_total{code} (requests answered, by
// status) and pagescope_http_requests_refused_total{reason} (see kRefusalReasons in
// server.cpp).
//
// One event-loop thread (libevent's evhttp) owns every connection: an idle or slow connection
// costs a few KiB and no thread, so it cannot hold up scrapes. Scrapes run on one executor thread
// and uncached password checks (bcrypt) on another; the loop only parses requests and writes the
// answers they post back. What is not the loop is beside it: web/http.h (query, gzip),
// web/listen.h (sockets), web/landing.h (the page on /).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "exporter/scraper.h"
#include "web/web_config.h"
#include "web/web_security.h"

namespace pagescope {

struct ServerOptions {
  std::vector<std::string> listen_addresses;
  std::string telemetry_path = "/metrics";
  // Parallel requests on the telemetry path; more are answered 503 at once.
  int max_requests = 40;
  // A scrape's deadline: its arrival plus its scraper's timeout (X-Prometheus-Scrape-Timeout-
  // Seconds, else `scrape_timeout`; zero: none) less `scrape_timeout_offset` (at most half).
  std::chrono::nanoseconds scrape_timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds scrape_timeout_offset = std::chrono::milliseconds(500);
  // A connection that sends or takes nothing for this long is closed: a request head that
  // stalls, a response that is not read, an idle keep-alive connection.
  int idle_timeout_ms = 10000;
  // Request head (request line and headers) and body limits; larger requests get 413 or 400.
  int max_header_bytes = 8192;
  int max_body_bytes = 8192;
  // TLS, basic auth and headers (--web.config.file); null: plain HTTP, no auth.
  std::shared_ptr<const WebConfig> web;
  // What checks passwords and speaks TLS (LoadWebSecurity); needed when `web` is set.
  std::shared_ptr<WebSecurity> security;
};

class Server {
 public:
  using ScraperSource = std::function<std::shared_ptr<const Scraper>()>;
  // Binds and starts serving; throws std::runtime_error with the cause (e.g. the port is busy).
  Server(const ServerOptions& options, ScraperSource source);
  // Stops accepting, answers queued requests 503, waits for a running scrape to finish.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The ports actually bound (useful with port 0).
  std::vector<int> ports() const;

  // Applies a reloaded web configuration: users, headers and TLS files take effect for new
  // requests and connections. Returns a message when part of it needs a restart (turning TLS on
  // or off), else an empty string.
  std::string SetWebConfig(std::shared_ptr<const WebConfig> web,
                           std::shared_ptr<WebSecurity> security);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pagescope
