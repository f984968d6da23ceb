#include "exporter/server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "exporter/scrape_executor.h"
#include "framework/log.h"
#include "pagescope/version.h"

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

// %XX escapes; '+' is a space only in query strings (`plus`), a plus sign in paths.
std::string UrlDecode(std::string_view s, bool plus = true) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus) {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> QueryValues(std::string_view query, std::string_view name) {
  std::vector<std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (UrlDecode(pair.substr(0, eq)) != name) continue;
    std::string value = UrlDecode(pair.substr(eq + 1));
    if (!value.empty()) out.push_back(std::move(value));
  }
  return out;
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

using Headers = std::vector<std::pair<std::string, std::string>>;

// A response body the event loop sends without copying: either its own text or a scrape result
// shared with other requests that coalesced onto the same scrape.
struct Body {
  std::string own;
  std::shared_ptr<const ScrapeExecutor::Result> shared;
  std::string_view view() const {
    return shared ? std::string_view(shared->body) : std::string_view(own);
  }
};

// One request on its way through the server. Created on the loop thread; travels through the
// executors; comes back to the loop thread to be answered.
struct Pending {
  evhttp_request* req = nullptr;  // owned by libevent until evhttp_send_reply
  bool head = false;
  bool gzip = false;
  bool counted = false;   // holds one of the --web.max-requests slots
  bool checking = false;  // holds one of the password-check slots
  std::shared_ptr<const WebConfig> web;
  // The answer, filled in off the loop thread.
  int status = 0;
  std::string content_type;
  Headers extra;
  std::unique_ptr<Body> body;
  // Set when the password check passed and the scrape is to be started on the loop.
  bool start_scrape = false;
  Server::Impl* owner = nullptr;
  std::shared_ptr<WebSecurity> security;  // comes with `web`; checks passwords
};

void LibeventLog(int severity, const char* msg) {
  switch (severity) {
    case EVENT_LOG_DEBUG:
      log::Debug("http server", {{"libevent", msg}});
      break;
    case EVENT_LOG_MSG:
      log::Info("http server", {{"libevent", msg}});
      break;
    case EVENT_LOG_WARN:
      log::Warn("http server", {{"libevent", msg}});
      break;
    default:
      log::Error("http server", {{"libevent", msg}});
  }
}

[[noreturn]] void LibeventFatal(int err) {
  log::Error("libevent fatal error", {{"code", std::to_string(err)}});
  std::abort();
}

void InitLibevent() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (evthread_use_pthreads() != 0) throw std::runtime_error("evthread_use_pthreads failed");
    event_set_log_callback(LibeventLog);
    event_set_fatal_callback(LibeventFatal);
  });
}

std::string Errno(int err) { return std::strerror(err); }

// Binds and listens on one address; "" host: every address (IPv6 and IPv4, or IPv4 alone where
// there is no IPv6). Returns the listening descriptor; throws with the cause.
int ListenOn(const std::string& address) {
  ListenAddress a;
  try {
    a = SplitListenAddress(address);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  std::vector<std::pair<int, std::vector<unsigned char>>> candidates;  // family, sockaddr
  addrinfo* found = nullptr;
  if (a.host.empty()) {
    sockaddr_in6 any6{};
    any6.sin6_family = AF_INET6;
    any6.sin6_addr = in6addr_any;
    any6.sin6_port = htons(static_cast<uint16_t>(std::stoul(a.port)));
    sockaddr_in any4{};
    any4.sin_family = AF_INET;
    any4.sin_addr.s_addr = htonl(INADDR_ANY);
    any4.sin_port = any6.sin6_port;
    auto bytes = [](const auto& sa) {
      const auto* p = reinterpret_cast<const unsigned char*>(&sa);
      return std::vector<unsigned char>(p, p + sizeof(sa));
    };
    candidates.push_back({AF_INET6, bytes(any6)});
    candidates.push_back({AF_INET, bytes(any4)});
  } else {
    int rc = getaddrinfo(a.host.c_str(), a.port.c_str(), &hints, &found);
    if (rc != 0) throw std::runtime_error("cannot listen on " + address + ": " + gai_strerror(rc));
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
      const auto* p = reinterpret_cast<const unsigned char*>(ai->ai_addr);
      candidates.push_back({ai->ai_family, std::vector<unsigned char>(p, p + ai->ai_addrlen)});
    }
    freeaddrinfo(found);
    // A name is served on one of its addresses, IPv4 first, as node_exporter (Go) does:
    // "localhost" is 127.0.0.1, where clients connect, even where getaddrinfo lists ::1 first.
    std::stable_sort(candidates.begin(), candidates.end(), [](const auto& x, const auto& y) {
      return x.first == AF_INET && y.first != AF_INET;
    });
  }
  std::string last_error = "no address";
  for (const auto& [family, sa] : candidates) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = Errno(errno);
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
    last_error = Errno(err);
    close(fd);
    // An address in use is the answer; other families are tried only when one is missing.
    if (err == EADDRINUSE || err == EACCES) break;
  }
  throw std::runtime_error("cannot listen on " + address + ": " + last_error);
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  ScraperSource source;
  bool tls = false;                           // serving HTTPS
  std::shared_ptr<WebSecurity> tls_security;  // holds the SSL_CTX when serving HTTPS
  mutable std::mutex web_mu;
  std::shared_ptr<const WebConfig> web;   // never null
  std::shared_ptr<WebSecurity> security;  // set with a web configuration

  event_base* base = nullptr;
  evhttp* http = nullptr;
  std::vector<evhttp_bound_socket*> bound;
  event* resume_accept = nullptr;
  log::RateLimiter accept_warnings{std::chrono::minutes(1)};
  int in_flight = 0;  // scrapes queued or running; loop thread only
  int checking = 0;   // password checks queued or running; loop thread only
  ScrapeExecutor scrapes;
  ScrapeExecutor logins;
  std::thread loop;

  // Answers posted to the loop and not yet run; freed (without touching their requests) if the
  // loop has stopped.
  std::mutex posted_mu;
  std::unordered_set<Pending*> posted;
  bool loop_done = false;

  std::pair<std::shared_ptr<const WebConfig>, std::shared_ptr<WebSecurity>> Web() const {
    std::lock_guard<std::mutex> lock(web_mu);
    return {web, security};
  }

  ~Impl() {
    logins.Stop();
    scrapes.Stop();
    if (loop.joinable()) {
      event_base_loopexit(base, nullptr);
      loop.join();
    }
    {
      std::lock_guard<std::mutex> lock(posted_mu);
      loop_done = true;
      for (Pending* p : posted) delete p;
      posted.clear();
    }
    if (http != nullptr) {
      {
        std::lock_guard<std::mutex> lock(owners_mu());
        owners().erase(http);
      }
      evhttp_free(http);  // closes connections, frees unanswered requests
    }
    if (resume_accept != nullptr) event_free(resume_accept);
    if (base != nullptr) event_base_free(base);
  }

  // --- loop thread -------------------------------------------------------------------------

  static void OnRequest(evhttp_request* req, void* arg) { static_cast<Impl*>(arg)->Handle(req); }

  void Handle(evhttp_request* req) {
    auto p = std::make_unique<Pending>();
    p->req = req;
    p->owner = this;
    std::tie(p->web, p->security) = Web();
    const auto method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
      p->extra.push_back({"Allow", "GET, HEAD"});
      return Send(Text(std::move(p), 405, "Method Not Allowed\n"));
    }
    p->head = method == EVHTTP_REQ_HEAD;
    if (evhttp_connection* conn = evhttp_request_get_connection(req)) {
      // libevent writes at most 16 KiB per connection and loop turn by default: a 70 KiB
      // scrape would take five turns, interleaved with every other connection's.
      if (bufferevent* bev = evhttp_connection_get_bufferevent(conn)) {
        bufferevent_set_max_single_write(bev, 1 << 20);
      }
      if (tls) evhttp_connection_set_closecb(conn, CloseTls, this);
    }
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* raw_path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
    std::string path =
        UrlDecode(raw_path != nullptr && *raw_path != '\0' ? raw_path : "/", /*plus=*/false);
    if (path == options.telemetry_path) return Metrics(std::move(p));
    if (path == "/") return Send(Landing(std::move(p)));
    if (path == "/-/healthy" || path == "/-/ready") return Send(Text(std::move(p), 200, "OK\n"));
    Send(Text(std::move(p), 404, "404 page not found\n"));
  }

  static std::unique_ptr<Pending> Text(std::unique_ptr<Pending> p, int status, std::string text) {
    p->status = status;
    p->content_type = "text/plain; charset=utf-8";
    p->body = std::make_unique<Body>();
    p->body->own = std::move(text);
    return p;
  }

  std::unique_ptr<Pending> Landing(std::unique_ptr<Pending> p) {
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
    p = Text(std::move(p), 200, std::move(html).str());
    p->content_type = "text/html; charset=utf-8";
    return p;
  }

  static std::unique_ptr<Pending> Unauthorized(std::unique_ptr<Pending> p) {
    p = Text(std::move(p), 401, "Unauthorized\n");
    p->extra.push_back({"WWW-Authenticate", "Basic realm=\"pagescope\", charset=\"UTF-8\""});
    return p;
  }

  void Metrics(std::unique_ptr<Pending> p) {
    if (!p->web->RequiresAuth()) return StartScrape(std::move(p));
    WebSecurity& checker = *p->security;
    const char* header =
        evhttp_find_header(evhttp_request_get_input_headers(p->req), "Authorization");
    std::string user, password;
    if (header == nullptr || !checker.ParseAuthorization(header, &user, &password)) {
      return Send(Unauthorized(std::move(p)));
    }
    if (checker.IsCached(*p->web, user, password)) return StartScrape(std::move(p));
    // bcrypt takes tens of milliseconds: not on the loop. Identical credentials queued
    // together share one check. At most --web.max-requests checks wait, so a client guessing
    // passwords on many connections gets 503s instead of a queue that delays everyone's first
    // check for minutes.
    if (checking >= options.max_requests) {
      return Send(Text(std::move(p), 503, "Too many password checks in progress\n"));
    }
    ++checking;
    p->checking = true;
    std::string key = user + '\0' + password;
    auto web_config = p->web;
    auto shared_checker = p->security;
    Pending* raw = p.release();
    logins.Submit(
        key,
        [web_config, shared_checker, user, password] {
          return std::string(shared_checker->Check(*web_config, user, password) ? "ok" : "");
        },
        [this, raw](std::shared_ptr<const ScrapeExecutor::Result> r) {
          std::unique_ptr<Pending> answer(raw);
          if (r->shutting_down) {
            answer = Text(std::move(answer), 503, "Shutting down\n");
          } else if (r->body == "ok") {
            answer->start_scrape = true;
          } else {
            answer = Unauthorized(std::move(answer));
          }
          Post(std::move(answer));
        });
  }

  void StartScrape(std::unique_ptr<Pending> p) {
    p->start_scrape = false;
    if (in_flight >= options.max_requests) {
      return Send(Text(std::move(p), 503, "Too many parallel scrapes (--web.max-requests)\n"));
    }
    ++in_flight;
    p->counted = true;
    std::vector<std::string> collect, exclude;
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(p->req);
    const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr;
    if (query != nullptr) {
      collect = QueryValues(query, "collect[]");
      exclude = QueryValues(query, "exclude[]");
    }
    const char* ae =
        evhttp_find_header(evhttp_request_get_input_headers(p->req), "Accept-Encoding");
    p->gzip = ae != nullptr && AcceptsGzip(ae);
    // gzip is part of the job (and of its key), so requests that share a scrape also share
    // its compression, done once on the scrape thread.
    std::string key = p->gzip ? "gzip\n" : "identity\n";
    for (const auto& c : collect) (key += 'c') += c + '\0';
    for (const auto& x : exclude) (key += 'x') += x + '\0';
    Pending* raw = p.release();
    scrapes.Submit(
        key,
        [scraper = source(), collect, exclude, gzip = raw->gzip]() {
          std::ostringstream text;
          prometheus::TextSerializer().Serialize(text, scraper->Scrape(collect, exclude));
          return gzip ? Gzip(std::move(text).str()) : std::move(text).str();
        },
        [this, raw](std::shared_ptr<const ScrapeExecutor::Result> r) {
          std::unique_ptr<Pending> answer(raw);
          if (!r->error.empty()) {
            int status = r->bad_request ? 400 : r->shutting_down ? 503 : 500;
            return Post(Text(std::move(answer), status, r->error + "\n"));
          }
          answer->status = 200;
          answer->content_type = "text/plain; version=0.0.4; charset=utf-8";
          answer->body = std::make_unique<Body>();
          answer->body->shared = std::move(r);
          if (answer->gzip) answer->extra.push_back({"Content-Encoding", "gzip"});
          answer->extra.push_back({"Vary", "Accept-Encoding"});
          Post(std::move(answer));
        });
  }

  static void FreeBody(const void*, size_t, void* extra) { delete static_cast<Body*>(extra); }

  // Sends the answer `p` carries; on the loop thread.
  void Send(std::unique_ptr<Pending> p) {
    if (p->counted) --in_flight;
    evkeyvalq* out = evhttp_request_get_output_headers(p->req);
    for (const auto& [name, value] : p->web->headers) {
      evhttp_add_header(out, name.c_str(), value.c_str());
    }
    std::string_view body = p->body ? p->body->view() : std::string_view();
    evhttp_add_header(out, "Content-Type", p->content_type.c_str());
    evhttp_add_header(out, "Content-Length", std::to_string(body.size()).c_str());
    for (const auto& [name, value] : p->extra) evhttp_add_header(out, name.c_str(), value.c_str());
    evbuffer* buf = evbuffer_new();
    if (buf != nullptr && !p->head && !body.empty()) {
      Body* owned = p->body.release();
      if (evbuffer_add_reference(buf, body.data(), body.size(), FreeBody, owned) != 0) {
        delete owned;
      }
    }
    evhttp_send_reply(p->req, p->status, nullptr, buf);
    if (buf != nullptr) evbuffer_free(buf);
  }

  // --- any thread --------------------------------------------------------------------------

  static void RunPosted(evutil_socket_t, short, void* arg) {
    auto* raw = static_cast<Pending*>(arg);
    Impl* self = raw->owner;
    {
      std::lock_guard<std::mutex> lock(self->posted_mu);
      self->posted.erase(raw);
    }
    std::unique_ptr<Pending> p(raw);
    if (p->checking) {
      p->checking = false;
      --self->checking;
    }
    if (p->start_scrape) return self->StartScrape(std::move(p));
    self->Send(std::move(p));
  }

  // Hands `p` to the loop thread (to Send, or to StartScrape after a password check).
  void Post(std::unique_ptr<Pending> p) {
    std::lock_guard<std::mutex> lock(posted_mu);
    if (loop_done) return;  // the request goes with evhttp_free
    Pending* raw = p.release();
    posted.insert(raw);
    timeval now{0, 0};
    if (event_base_once(base, -1, EV_TIMEOUT, RunPosted, raw, &now) != 0) {
      log::Error("cannot hand a response to the event loop");
      posted.erase(raw);
      delete raw;
    }
  }

  // --- connections ---------------------------------------------------------------------------

  static bufferevent* NewConnection(event_base* base, void* arg) {
    return static_cast<Impl*>(arg)->tls_security->NewTlsConnection(base);
  }

  // libevent closes TLS connections without a close_notify alert, which clients report as a
  // truncation; send it before the socket goes (the response has been written by then).
  static void CloseTls(evhttp_connection* conn, void* arg) {
    static_cast<Impl*>(arg)->tls_security->CloseTls(evhttp_connection_get_bufferevent(conn));
  }

  // accept() failed for a reason other than a retry (usually EMFILE: out of descriptors).
  // Without this, libevent would retry at once, forever, at full CPU.
  // (libevent passes the listener's callback argument, which evhttp set to itself.)
  static std::mutex& owners_mu() {
    static std::mutex mu;
    return mu;
  }
  static std::unordered_map<const evhttp*, Impl*>& owners() {
    static std::unordered_map<const evhttp*, Impl*> m;
    return m;
  }
  static void AcceptError(evconnlistener*, void* arg) {
    int err = EVUTIL_SOCKET_ERROR();
    Impl* self = nullptr;
    {
      std::lock_guard<std::mutex> lock(owners_mu());
      auto it = owners().find(static_cast<const evhttp*>(arg));
      if (it == owners().end()) return;
      self = it->second;
    }
    if (self->accept_warnings.Allow("accept")) {
      log::Warn("cannot accept connections, pausing for 100 ms",
                {{"err", evutil_socket_error_to_string(err)}});
    }
    for (auto* b : self->bound) evconnlistener_disable(evhttp_bound_socket_get_listener(b));
    timeval pause{0, 100000};
    event_add(self->resume_accept, &pause);
  }

  static void ResumeAccept(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    for (auto* b : self->bound) evconnlistener_enable(evhttp_bound_socket_get_listener(b));
  }
};

Server::Server(const ServerOptions& options, ScraperSource source) : impl_(new Impl) {
  InitLibevent();
  Impl& s = *impl_;
  s.options = options;
  s.source = std::move(source);
  s.web = options.web ? options.web : std::make_shared<const WebConfig>();
  s.security = options.security;
  if (options.web && !s.security) {
    throw std::runtime_error("a web configuration needs the web security module");
  }
  if (s.web->tls.has_value()) {
    s.tls = true;
    s.tls_security = s.security;
    s.tls_security->SetTls(*s.web->tls);
  }
  s.base = event_base_new();
  if (s.base == nullptr) throw std::runtime_error("event_base_new failed");
  s.http = evhttp_new(s.base);
  if (s.http == nullptr) throw std::runtime_error("evhttp_new failed");
  timeval idle{options.idle_timeout_ms / 1000, (options.idle_timeout_ms % 1000) * 1000};
  evhttp_set_timeout_tv(s.http, &idle);
  evhttp_set_max_headers_size(s.http, options.max_header_bytes);
  evhttp_set_max_body_size(s.http, options.max_body_bytes);
  // Every method reaches the handler, which answers 405 (libevent would say 501).
  evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                         EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  evhttp_set_gencb(s.http, Impl::OnRequest, &s);
  if (s.tls) evhttp_set_bevcb(s.http, Impl::NewConnection, &s);
  s.resume_accept = evtimer_new(s.base, Impl::ResumeAccept, &s);
  {
    std::lock_guard<std::mutex> lock(Impl::owners_mu());
    Impl::owners()[s.http] = &s;
  }
  for (const auto& address : options.listen_addresses) {
    int fd = ListenOn(address);
    evhttp_bound_socket* b = evhttp_accept_socket_with_handle(s.http, fd);
    if (b == nullptr) {
      close(fd);
      throw std::runtime_error("cannot listen on " + address + ": libevent refused the socket");
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(b), Impl::AcceptError);
    s.bound.push_back(b);
  }
  s.loop = std::thread([base = s.base] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });
}

std::string Server::SetWebConfig(std::shared_ptr<const WebConfig> web,
                                 std::shared_ptr<WebSecurity> security) {
  if (!web) web = std::make_shared<const WebConfig>();
  std::string restart;
  const bool https = impl_->tls;
  if (web->tls.has_value() != https) {
    restart = https
                  ? "turning TLS off needs a restart: still serving HTTPS with the old certificate"
                  : "turning TLS on needs a restart: still serving plain HTTP";
  }
  if (https && web->tls) impl_->tls_security->SetTls(*web->tls);
  std::lock_guard<std::mutex> lock(impl_->web_mu);
  impl_->web = std::move(web);
  if (security) impl_->security = std::move(security);
  return restart;
}

Server::~Server() = default;

std::vector<int> Server::ports() const {
  std::vector<int> out;
  for (auto* b : impl_->bound) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(b), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      continue;
    }
    if (ss.ss_family == AF_INET) {
      out.push_back(ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port));
    } else if (ss.ss_family == AF_INET6) {
      out.push_back(ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port));
    }
  }
  return out;
}

}  // namespace pagescope
