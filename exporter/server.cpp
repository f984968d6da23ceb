#include "exporter/server.h"

#include <CivetServer.h>
#include <prometheus/text_serializer.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "exporter/log.h"
#include "exporter/scrape_executor.h"
#include "pagescope/version.h"

namespace pagescope {

std::string CivetListeningPorts(const std::vector<std::string>& addresses, bool tls) {
  std::string out;
  for (const auto& a : addresses) {
    std::string port = a;
    if (a.starts_with(":")) port = a.substr(1);
    if (!out.empty()) out += ',';
    out += port;
    if (tls) out += 's';
  }
  return out;
}

int CivetThreads(const ServerOptions& options) {
  if (options.num_threads > 0) return options.num_threads;
  return std::max(256, 4 * options.max_requests);
}

bool AcceptsGzip(std::string_view header) {
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t comma = header.find(',', start);
    std::string_view token = header.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    std::string_view coding = token.substr(0, token.find(';'));
    while (!coding.empty() && std::isspace(static_cast<unsigned char>(coding.front()))) {
      coding.remove_prefix(1);
    }
    while (!coding.empty() && std::isspace(static_cast<unsigned char>(coding.back()))) {
      coding.remove_suffix(1);
    }
    std::string lower(coding);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "gzip" || lower == "x-gzip") {
      // Refused only by an explicit q=0 (q=0, q=0.0, q=0.000).
      auto q = token.find("q=");
      if (q == std::string_view::npos) return true;
      std::string_view qv = token.substr(q + 2);
      bool zero = !qv.empty() && qv[0] == '0';
      for (std::size_t i = 1; zero && i < qv.size() && qv[i] != ' '; ++i) {
        if (qv[i] != '.' && qv[i] != '0') zero = false;
      }
      return !zero;
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

std::string Gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(zs.total_out);
  return out;
}

namespace {

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Headers from the web configuration, added to every response of the current request.
thread_local std::string configured_headers;

void Respond(mg_connection* conn, int status, std::string_view content_type, std::string_view body,
             bool head, std::string_view extra_headers = {}) {
  mg_response_header_start(conn, status);
  if (!configured_headers.empty()) {
    mg_response_header_add_lines(conn, configured_headers.c_str());
  }
  mg_response_header_add(conn, "Content-Type", content_type.data(),
                         static_cast<int>(content_type.size()));
  std::string len = std::to_string(body.size());
  mg_response_header_add(conn, "Content-Length", len.c_str(), -1);
  if (!extra_headers.empty())
    mg_response_header_add_lines(conn, std::string(extra_headers).c_str());
  mg_response_header_send(conn);
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
}

}  // namespace

struct Server::Impl : public CivetHandler {
  ServerOptions options;
  ScraperSource source;
  std::atomic<int> in_flight{0};
  // Declared before civet: destroyed after it, once no worker can wait on it any more.
  std::unique_ptr<ScrapeExecutor> executor = std::make_unique<ScrapeExecutor>();
  std::unique_ptr<CivetServer> civet;
  std::unique_ptr<TlsServerContext> tls;  // set when serving HTTPS
  BasicAuthChecker auth;
  mutable std::mutex web_mu;
  std::shared_ptr<const WebConfig> web;  // never null

  std::shared_ptr<const WebConfig> Web() const {
    std::lock_guard<std::mutex> lock(web_mu);
    return web;
  }

  bool handleGet(CivetServer* server, mg_connection* conn) override {
    return Handle(server, conn, false);
  }
  bool handleHead(CivetServer* server, mg_connection* conn) override {
    return Handle(server, conn, true);
  }
  bool handlePost(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }
  bool handlePut(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }
  bool handleDelete(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }
  bool handleOptions(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }
  bool handlePatch(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }

  bool NotAllowed(mg_connection* conn) {
    Respond(conn, 405, "text/plain; charset=utf-8", "Method Not Allowed\n", false,
            "Allow: GET, HEAD\r\n");
    return true;
  }

  bool Handle(CivetServer*, mg_connection* conn, bool head) {
    const mg_request_info* info = mg_get_request_info(conn);
    std::string_view path = info->local_uri != nullptr ? info->local_uri : "";
    auto config = Web();
    configured_headers.clear();
    for (const auto& [name, value] : config->headers) {
      configured_headers += name + ": " + value + "\r\n";
    }
    if (path == options.telemetry_path) {
      if (config->RequiresAuth() && !Authorized(*config, conn)) {
        Respond(conn, 401, "text/plain; charset=utf-8", "Unauthorized\n", head,
                "WWW-Authenticate: Basic realm=\"pagescope\", charset=\"UTF-8\"\r\n");
        return true;
      }
      return Metrics(conn, info, head);
    }
    if (path == "/") return Landing(conn, head);
    if (path == "/-/healthy" || path == "/-/ready") {
      Respond(conn, 200, "text/plain; charset=utf-8", "OK\n", head);
      return true;
    }
    Respond(conn, 404, "text/plain; charset=utf-8", "404 page not found\n", head);
    return true;
  }

  bool Landing(mg_connection* conn, bool head) {
    auto scraper = source();
    std::ostringstream html;
    html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pagescope</title></head>"
            "<body>\n<h1>pagescope</h1>\n<p>Prometheus exporter for Linux memory paging: "
            "HugeTLB pools, THP, KSM, NUMA, faults and swap. Version "
         << HtmlEscape(kVersion) << " (" << HtmlEscape(kRevision) << ").</p>\n<p><a href=\""
         << HtmlEscape(options.telemetry_path) << "\">Metrics</a> &middot; "
         << "<a href=\"/-/healthy\">Health</a></p>\n<h2>Enabled collectors</h2>\n<ul>\n";
    for (const auto& n : scraper->enabled()) html << "<li>" << HtmlEscape(n) << "</li>\n";
    html << "</ul>\n<h2>Disabled collectors</h2>\n<ul>\n";
    for (const auto& n : scraper->disabled()) html << "<li>" << HtmlEscape(n) << "</li>\n";
    html << "</ul>\n</body></html>\n";
    Respond(conn, 200, "text/html; charset=utf-8", html.str(), head);
    return true;
  }

  bool Authorized(const WebConfig& config, mg_connection* conn) {
    const char* header = mg_get_header(conn, "Authorization");
    std::string user, password;
    if (header == nullptr || !ParseBasicAuthorization(header, &user, &password)) return false;
    return auth.Check(config, user, password);
  }

  static std::vector<std::string> Params(mg_connection* conn, const char* name) {
    std::vector<std::string> out;
    std::string value;
    for (std::size_t i = 0; CivetServer::getParam(conn, name, value, i); ++i) {
      if (!value.empty()) out.push_back(value);
    }
    return out;
  }

  bool Metrics(mg_connection* conn, const mg_request_info*, bool head) {
    struct InFlight {
      std::atomic<int>& n;
      int value;
      explicit InFlight(std::atomic<int>& c) : n(c), value(++c) {}
      ~InFlight() { --n; }
    } guard(in_flight);
    if (guard.value > options.max_requests) {
      Respond(conn, 503, "text/plain; charset=utf-8",
              "Too many parallel scrapes (--web.max-requests)\n", head);
      return true;
    }
    // The scrape and its serialization run on the executor's one thread; this worker only
    // waits, then compresses and writes.
    std::vector<std::string> collect = Params(conn, "collect[]");
    std::vector<std::string> exclude = Params(conn, "exclude[]");
    std::string key;
    for (const auto& c : collect) (key += 'c') += c + '\0';
    for (const auto& x : exclude) (key += 'x') += x + '\0';
    auto result = executor->Run(key, [scraper = source(), collect, exclude]() {
      std::ostringstream text;
      prometheus::TextSerializer().Serialize(text, scraper->Scrape(collect, exclude));
      return std::move(text).str();
    });
    if (!result->error.empty()) {
      int status = result->bad_request ? 400 : result->shutting_down ? 503 : 500;
      Respond(conn, status, "text/plain; charset=utf-8", result->error + "\n", head);
      return true;
    }
    std::string_view body = result->body;
    std::string compressed;
    const char* ae = mg_get_header(conn, "Accept-Encoding");
    std::string extra;
    if (ae != nullptr && AcceptsGzip(ae)) {
      compressed = Gzip(body);
      body = compressed;
      extra = "Content-Encoding: gzip\r\n";
    }
    extra += "Vary: Accept-Encoding\r\n";
    Respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", body, head, extra);
    return true;
  }
};

namespace {
int LogMessage(const mg_connection*, const char* message) {
  log::Warn("http server", {{"err", message}});
  return 1;
}

// civetweb asks for the SSL_CTX while starting; user_data is the CivetServer, whose user context
// is our Impl.
int ExternalSslCtx(void** ssl_ctx, void* user_data) {
  auto* civet = static_cast<CivetServer*>(user_data);
  auto* impl = static_cast<const Server::Impl*>(civet->getUserContext());
  if (impl == nullptr || !impl->tls) return 0;
  *ssl_ctx = impl->tls->ssl_ctx();
  return 1;
}
}  // namespace

Server::Server(const ServerOptions& options, ScraperSource source) : impl_(new Impl) {
  impl_->options = options;
  impl_->source = std::move(source);
  impl_->web = options.web ? options.web : std::make_shared<const WebConfig>();
  const bool https = impl_->web->tls.has_value();
  if (https) {
    std::string problem = CheckCivetwebTls();
    if (!problem.empty()) throw std::runtime_error("TLS is not usable: " + problem);
    impl_->tls = std::make_unique<TlsServerContext>();
    impl_->tls->Set(*impl_->web->tls);
  }
  const std::string ports = CivetListeningPorts(options.listen_addresses, https);
  std::vector<std::string> civet_options = {
      "listening_ports",
      ports,
      "num_threads",
      std::to_string(CivetThreads(options)),
      "listen_backlog",
      "1024",
      "connection_queue",
      "1024",
      "request_timeout_ms",
      std::to_string(options.request_timeout_ms),
      "enable_keep_alive",
      "yes",
      "keep_alive_timeout_ms",
      std::to_string(options.keep_alive_timeout_ms),
      "max_request_size",
      "8192",
      // Headers and body go out in separate writes; without this, Nagle's algorithm and the
      // client's delayed ACK add 40 ms to every keep-alive request.
      "tcp_nodelay",
      "1",
  };
  CivetCallbacks callbacks;
  callbacks.log_message = LogMessage;
  if (https) callbacks.external_ssl_ctx = ExternalSslCtx;
  try {
    impl_->civet = std::make_unique<CivetServer>(civet_options, &callbacks, impl_.get());
  } catch (const CivetException& e) {
    throw std::runtime_error(std::string("cannot listen on ") + ports + ": " + e.what());
  }
  impl_->civet->addHandler("/", impl_.get());
}

std::string Server::SetWebConfig(std::shared_ptr<const WebConfig> web) {
  if (!web) web = std::make_shared<const WebConfig>();
  std::string restart;
  const bool https = static_cast<bool>(impl_->tls);
  if (web->tls.has_value() != https) {
    restart = https
                  ? "turning TLS off needs a restart: still serving HTTPS with the old certificate"
                  : "turning TLS on needs a restart: still serving plain HTTP";
  }
  if (https && web->tls) impl_->tls->Set(*web->tls);
  std::lock_guard<std::mutex> lock(impl_->web_mu);
  impl_->web = std::move(web);
  return restart;
}

Server::~Server() {
  if (impl_ && impl_->civet) impl_->civet->close();
}

std::vector<int> Server::ports() const { return impl_->civet->getListeningPorts(); }

}  // namespace pagescope
