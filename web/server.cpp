#include "web/server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "framework/log.h"
#include "web/http.h"
#include "web/landing.h"
#include "web/listen.h"
#include "web/scrape_executor.h"

namespace pagescope {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The verdict of a password check (bcrypt, on the password thread).
enum class Login { kAccepted, kRejected };
using LoginExecutor = Executor<Login>;
using Clock = std::chrono::steady_clock;

// Why a request was refused: pagescope_http_requests_refused_total{reason}. Requests to an
// unknown path (404) or with another method than GET or HEAD (405) are not refusals; they are
// counted by status code only, as is every answer. Requests libevent rejects before pagescope
// sees them (a malformed request line, a head over the size limit) are in neither.
enum class Refusal {
  kTooManyRequests,  // 503: --web.max-requests scrapes (or password checks) in progress
  kUnauthorized,     // 401: basic auth credentials missing or wrong
  kBadRequest,       // 400: collect[]/exclude[] names a collector that is not enabled
  kDeadline,         // 503: the deadline passed before the answer was ready (see DeadlinePassed)
  kTlsHandshake,     // TLS handshakes the server aborted (counted by the web module)
};
constexpr const char* kRefusalReasons[] = {"too_many_requests", "unauthorized", "bad_request",
                                           "deadline", "tls_handshake"};
constexpr std::size_t kRefusals = std::size(kRefusalReasons);

// A response body the event loop sends without copying: either its own text or a scrape result
// shared with other requests that coalesced onto the same scrape.
struct Body {
  std::string own;
  std::shared_ptr<const ScrapeExecutor::Result> shared;
  std::string_view view() const {
    return shared ? std::string_view(*shared->value) : std::string_view(own);
  }
};

// What the loop sends back.
struct Answer {
  int status = 0;
  std::string content_type;
  Headers extra;
  std::unique_ptr<Body> body;
};

Answer Text(int status, std::string text) {
  Answer a;
  a.status = status;
  a.content_type = "text/plain; charset=utf-8";
  a.body = std::make_unique<Body>();
  a.body->own = std::move(text);
  return a;
}

Answer Unauthorized() {
  Answer a = Text(401, "Unauthorized\n");
  a.extra.push_back({"WWW-Authenticate", "Basic realm=\"pagescope\", charset=\"UTF-8\""});
  return a;
}

// Where a request is. Only Server::Impl::Enter changes it, on the loop thread:
//   kRouting -> kSent                 answered on the loop (page, health, 401, 404, 405, 503)
//   kRouting -> kCheckingPassword     credentials not in the cache: bcrypt on the password thread
//   kCheckingPassword -> kRouting     back on the loop with the verdict
//   kRouting -> kScraping -> kSent    scraped on the scrape thread, answered on the loop; or
//                                     answered 503 by its deadline timer while its job still
//                                     waits (the Pending then waits for the result to be freed)
enum class Stage {
  kRouting,           // on the loop, holding no slot
  kCheckingPassword,  // holds one of the password-check slots
  kScraping,          // holds one of the --web.max-requests slots
  kSent,
};

// The transitions above (checked by Enter in debug builds).
[[maybe_unused]] constexpr bool Allowed(Stage from, Stage to) {
  switch (from) {
    case Stage::kRouting:
      return to != Stage::kRouting;
    case Stage::kCheckingPassword:
      return to == Stage::kRouting;
    case Stage::kScraping:
      return to == Stage::kSent;
    case Stage::kSent:
      return false;
  }
  return false;
}

// One request on its way through the server. Created on the loop thread; travels through the
// executors, which store their typed result in it; comes back to the loop thread to be answered.
struct Pending {
  evhttp_request* req = nullptr;  // owned by libevent until evhttp_send_reply
  Server::Impl* owner = nullptr;
  Stage stage = Stage::kRouting;
  bool head = false;          // HEAD: headers only
  bool gzip = false;          // the scrape is gzipped (the client accepts it)
  Clock::time_point arrival;  // a scrape's deadline counts from here
  std::shared_ptr<const WebConfig> web;
  std::shared_ptr<WebSecurity> security;  // comes with `web`; checks passwords
  // Filled in off the loop thread, by the executor of the stage.
  std::shared_ptr<const LoginExecutor::Result> login;    // kCheckingPassword
  std::shared_ptr<const ScrapeExecutor::Result> scrape;  // kScraping
  // kScraping with a deadline: answers 503 if the result is not back shortly after it. Made,
  // fired and freed on the loop thread (or after the loop has stopped).
  event* deadline_timer = nullptr;
  Pending() = default;
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  ~Pending() {
    if (deadline_timer != nullptr) event_free(deadline_timer);
  }
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
  log::RateLimiter header_warnings{std::chrono::minutes(1)};
  // Requests answered by status code, and refused by reason (Send and Refuse, on the loop
  // thread; read by scrapes on the scrape thread).
  mutable std::mutex counts_mu;
  std::map<int, std::uint64_t> answered{{200, 0}};
  std::array<std::uint64_t, kRefusals> refused{};
  std::atomic<std::size_t> last_body_bytes{0};  // the last scrape's exposition (scrape thread)
  int in_flight = 0;                            // requests in Stage::kScraping; loop thread only
  int checking = 0;  // requests in Stage::kCheckingPassword; loop thread only
  ScrapeExecutor scrapes;
  LoginExecutor logins;
  std::thread loop;

  // Requests posted to the loop and not yet run; freed (without touching their requests) if the
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

  // The one place a request changes stage (see Stage); it keeps the slot counts.
  void Enter(Pending& p, Stage next) {
    assert(Allowed(p.stage, next));
    if (p.stage == Stage::kCheckingPassword) --checking;
    if (p.stage == Stage::kScraping) --in_flight;
    if (next == Stage::kCheckingPassword) ++checking;
    if (next == Stage::kScraping) ++in_flight;
    p.stage = next;
  }

  static void OnRequest(evhttp_request* req, void* arg) { static_cast<Impl*>(arg)->Handle(req); }

  void Handle(evhttp_request* req) {
    auto p = std::make_unique<Pending>();
    p->arrival = Clock::now();
    p->req = req;
    p->owner = this;
    std::tie(p->web, p->security) = Web();
    const auto method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
      Answer a = Text(405, "Method Not Allowed\n");
      a.extra.push_back({"Allow", "GET, HEAD"});
      return Send(std::move(p), std::move(a));
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
    if (path == "/") return Send(std::move(p), Landing());
    if (path == "/-/healthy" || path == "/-/ready") return Send(std::move(p), Text(200, "OK\n"));
    Send(std::move(p), Text(404, "404 page not found\n"));
  }

  Answer Landing() const {
    auto scraper = source();
    Answer a =
        Text(200, LandingPage(options.telemetry_path, scraper->enabled(), scraper->disabled()));
    a.content_type = "text/html; charset=utf-8";
    return a;
  }

  void Metrics(std::unique_ptr<Pending> p) {
    if (!p->web->RequiresAuth()) return StartScrape(std::move(p));
    WebSecurity& checker = *p->security;
    const char* header =
        evhttp_find_header(evhttp_request_get_input_headers(p->req), "Authorization");
    std::string user, password;
    if (header == nullptr || !checker.ParseAuthorization(header, &user, &password)) {
      return Refuse(std::move(p), Refusal::kUnauthorized, Unauthorized());
    }
    if (checker.IsCached(*p->web, user, password)) return StartScrape(std::move(p));
    // bcrypt takes tens of milliseconds: not on the loop. Identical credentials queued
    // together share one check. At most --web.max-requests checks wait, so a client guessing
    // passwords on many connections gets 503s instead of a queue that delays everyone's first
    // check for minutes.
    if (checking >= options.max_requests) {
      return Refuse(std::move(p), Refusal::kTooManyRequests,
                    Text(503, "Too many password checks in progress\n"));
    }
    Enter(*p, Stage::kCheckingPassword);
    std::string key = user + '\0' + password;
    Pending* raw = p.release();
    logins.Submit(
        key,
        [web_config = raw->web, checker = raw->security, user, password] {
          return checker->Check(*web_config, user, password) ? Login::kAccepted : Login::kRejected;
        },
        [this, raw](std::shared_ptr<const LoginExecutor::Result> r) {
          raw->login = std::move(r);
          Post(std::unique_ptr<Pending>(raw));
        });
  }

  void PasswordChecked(std::unique_ptr<Pending> p) {
    auto verdict = std::move(p->login);
    Enter(*p, Stage::kRouting);
    if (verdict->shutting_down) return Send(std::move(p), Text(503, "Shutting down\n"));
    if (verdict->value != Login::kAccepted) {
      return Refuse(std::move(p), Refusal::kUnauthorized, Unauthorized());
    }
    StartScrape(std::move(p));
  }

  void StartScrape(std::unique_ptr<Pending> p) {
    if (in_flight >= options.max_requests) {
      return Refuse(std::move(p), Refusal::kTooManyRequests,
                    Text(503, "Too many parallel scrapes (--web.max-requests)\n"));
    }
    auto scraper = source();
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(p->req);
    const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr;
    auto parsed = ParseSelection(query != nullptr ? query : "", scraper->enabled());
    if (const auto* bad = std::get_if<BadRequest>(&parsed)) {
      return Refuse(std::move(p), Refusal::kBadRequest, Text(400, bad->message + "\n"));
    }
    Selection selection = std::get<Selection>(std::move(parsed));
    const char* ae =
        evhttp_find_header(evhttp_request_get_input_headers(p->req), "Accept-Encoding");
    p->gzip = ae != nullptr && AcceptsGzip(ae);
    const auto [deadline, gives_up] = ScrapeDeadline(*p);
    Enter(*p, Stage::kScraping);
    if (deadline != kNoDeadline) {
      // The job answers by `deadline`, unless it waits behind another scrape until then: the
      // request is answered 503 halfway between its deadline and its scraper's timeout.
      p->deadline_timer = evtimer_new(base, DeadlinePassed, p.get());
      const auto fire = deadline + (gives_up - deadline) / 2;
      const auto wait = std::chrono::duration_cast<std::chrono::microseconds>(
          std::max(Clock::duration::zero(), fire - Clock::now()));
      timeval tv{static_cast<time_t>(wait.count() / 1000000),
                 static_cast<suseconds_t>(wait.count() % 1000000)};
      if (p->deadline_timer != nullptr) evtimer_add(p->deadline_timer, &tv);
    }
    // gzip is part of the job (and of its key), so requests that share a scrape also share
    // its compression, done once on the scrape thread. So is the scraper the selection was
    // checked against (a reload brings another).
    std::ostringstream key;
    key << (p->gzip ? "gzip\n" : "identity\n") << scraper.get() << '\n';
    for (const auto& c : selection.collect) key << 'c' << c << '\0';
    for (const auto& x : selection.exclude) key << 'x' << x << '\0';
    Pending* raw = p.release();
    scrapes.Submit(
        std::move(key).str(),
        [this, scraper, selection, gzip = raw->gzip, deadline = deadline]() {
          auto families = scraper->Scrape(selection.collect, selection.exclude, deadline);
          AddRequestCounters(families);
          // Serialized into one buffer sized from the last scrape: no regrowth (each a copy,
          // and above 64 KiB an mmap and munmap, see main.cpp) and no copy out of the stream.
          std::string buffer;
          buffer.reserve(last_body_bytes.load() * 9 / 8 + 4096);
          std::ostringstream text(std::move(buffer));
          prometheus::TextSerializer().Serialize(text, families);
          std::string body = std::move(text).str();
          last_body_bytes.store(body.size());
          return gzip ? Gzip(body) : body;
        },
        [this, raw](std::shared_ptr<const ScrapeExecutor::Result> r) {
          raw->scrape = std::move(r);
          Post(std::unique_ptr<Pending>(raw));
        },
        deadline);
  }

  // The request's arrival plus its scraper's timeout less the offset (ServerOptions), and when
  // its scraper gives up (the arrival plus the timeout). A header that is not a timeout as
  // Prometheus writes one is ignored (warned about once a minute): the scrape still gets the
  // configured timeout rather than a refusal, since the header only shortens how long
  // pagescope may take, and refusing would turn a stray header into a failed scrape.
  std::pair<Deadline, Deadline> ScrapeDeadline(const Pending& p) {
    std::chrono::nanoseconds timeout = options.scrape_timeout;
    const char* header = evhttp_find_header(evhttp_request_get_input_headers(p.req),
                                            "X-Prometheus-Scrape-Timeout-Seconds");
    if (header != nullptr) {
      if (auto t = ParseScrapeTimeoutHeader(header)) {
        timeout = *t;
      } else if (header_warnings.Allow("timeout")) {
        log::Warn(
            "ignoring a malformed X-Prometheus-Scrape-Timeout-Seconds header, using "
            "--web.scrape-timeout (logged at most once a minute)",
            {{"value", ValidUtf8(std::string_view(header).substr(0, 64))}});
      }
    }
    auto budget = ScrapeBudget(timeout, options.scrape_timeout_offset);
    if (!budget) return {kNoDeadline, kNoDeadline};
    return {p.arrival + std::chrono::duration_cast<Clock::duration>(*budget),
            p.arrival + std::chrono::duration_cast<Clock::duration>(timeout)};
  }

  // The deadline timer of a request in kScraping: its job has not answered in time.
  static void DeadlinePassed(evutil_socket_t, short, void* arg) {
    auto* p = static_cast<Pending*>(arg);
    if (p->stage != Stage::kScraping) return;
    p->owner->CountRefusal(Refusal::kDeadline);
    p->owner->Reply(*p, Text(503,
                             "Scrape deadline passed before the answer was ready: it waited "
                             "behind other scrapes, or assembling it took the rest of the "
                             "timeout\n"));
  }

  // Adds pagescope_http_requests_total and pagescope_http_requests_refused_total to a scrape's
  // families (sorted by name; these names are pagescope's own).
  void AddRequestCounters(std::vector<prometheus::MetricFamily>& families) const {
    MetricSink sink;
    {
      std::lock_guard<std::mutex> lock(counts_mu);
      for (const auto& [code, n] : answered) {
        sink.Counter("pagescope_http_requests_total",
                     "HTTP requests answered, by status code (the answer to this scrape is not "
                     "counted yet).",
                     {{"code", std::to_string(code)}}, static_cast<double>(n));
      }
      for (std::size_t i = 0; i < kRefusals; ++i) {
        std::uint64_t n = refused[i];
        if (static_cast<Refusal>(i) == Refusal::kTlsHandshake) {
          if (!tls) continue;  // only when serving HTTPS
          n = tls_security->TlsHandshakeFailures();
        }
        sink.Counter("pagescope_http_requests_refused_total",
                     "HTTP requests refused, by reason: too_many_requests (503, "
                     "--web.max-requests), unauthorized (401), bad_request (400), deadline (503: "
                     "the scrape's deadline passed before its answer was ready: it waited behind "
                     "other scrapes, or assembling it took the rest of the timeout), tls_handshake "
                     "(TLS handshakes aborted, with TLS only).",
                     {{"reason", kRefusalReasons[i]}}, static_cast<double>(n));
      }
    }
    for (auto& f : sink.Take()) {
      auto at = std::lower_bound(
          families.begin(), families.end(), f.name,
          [](const prometheus::MetricFamily& a, const std::string& name) { return a.name < name; });
      families.insert(at, std::move(f));
    }
  }

  void Scraped(std::unique_ptr<Pending> p) {
    auto r = std::move(p->scrape);
    if (r->expired) {
      return Refuse(std::move(p), Refusal::kDeadline,
                    Text(503, "Scrape deadline passed: " + r->error + "\n"));
    }
    if (!r->value) return Send(std::move(p), Text(r->shutting_down ? 503 : 500, r->error + "\n"));
    Answer a;
    a.status = 200;
    a.content_type = "text/plain; version=0.0.4; charset=utf-8";
    a.body = std::make_unique<Body>();
    a.body->shared = std::move(r);
    if (p->gzip) a.extra.push_back({"Content-Encoding", "gzip"});
    a.extra.push_back({"Vary", "Accept-Encoding"});
    Send(std::move(p), std::move(a));
  }

  static void FreeBody(const void*, size_t, void* extra) { delete static_cast<Body*>(extra); }

  void CountRefusal(Refusal why) {
    std::lock_guard<std::mutex> lock(counts_mu);
    ++refused[static_cast<std::size_t>(why)];
  }

  void Refuse(std::unique_ptr<Pending> p, Refusal why, Answer a) {
    CountRefusal(why);
    Send(std::move(p), std::move(a));
  }

  // Answers and frees the request.
  void Send(std::unique_ptr<Pending> p, Answer a) { Reply(*p, std::move(a)); }

  // Answers the request; its Pending may live on (a job still holds it).
  void Reply(Pending& pending, Answer a) {
    Pending* p = &pending;
    Enter(*p, Stage::kSent);
    if (p->deadline_timer != nullptr) evtimer_del(p->deadline_timer);
    {
      std::lock_guard<std::mutex> lock(counts_mu);
      ++answered[a.status];
    }
    evkeyvalq* out = evhttp_request_get_output_headers(p->req);
    for (const auto& [name, value] : p->web->headers) {
      evhttp_add_header(out, name.c_str(), value.c_str());
    }
    std::string_view body = a.body ? a.body->view() : std::string_view();
    evhttp_add_header(out, "Content-Type", a.content_type.c_str());
    evhttp_add_header(out, "Content-Length", std::to_string(body.size()).c_str());
    for (const auto& [name, value] : a.extra) evhttp_add_header(out, name.c_str(), value.c_str());
    evbuffer* buf = evbuffer_new();
    if (buf != nullptr && !p->head && !body.empty()) {
      Body* owned = a.body.release();
      if (evbuffer_add_reference(buf, body.data(), body.size(), FreeBody, owned) != 0) {
        delete owned;
      }
    }
    evhttp_send_reply(p->req, a.status, nullptr, buf);
    if (buf != nullptr) evbuffer_free(buf);
  }

  // Back on the loop from an executor: the stage says which.
  static void RunPosted(evutil_socket_t, short, void* arg) {
    auto* raw = static_cast<Pending*>(arg);
    Impl* self = raw->owner;
    {
      std::lock_guard<std::mutex> lock(self->posted_mu);
      self->posted.erase(raw);
    }
    std::unique_ptr<Pending> p(raw);
    if (p->stage == Stage::kCheckingPassword) return self->PasswordChecked(std::move(p));
    if (p->stage == Stage::kSent) return;  // answered by its deadline timer: only freed now
    self->Scraped(std::move(p));           // Stage::kScraping
  }

  // --- any thread --------------------------------------------------------------------------

  // Hands `p` back to the loop thread (RunPosted).
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
    int port = BoundPort(evhttp_bound_socket_get_fd(b));
    if (port >= 0) out.push_back(port);
  }
  return out;
}

}  // namespace pagescope
