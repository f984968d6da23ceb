// pagescope: flags and configuration, then the collectors and the web server, then signals.

#include <malloc.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collectors/registry.h"
#include "exporter/config.h"
#include "exporter/privileges.h"
#include "exporter/scraper.h"
#include "framework/log.h"
#include "pagescope/version.h"
#include "web/server.h"
#include "web/web_config.h"
#include "web/web_security.h"

namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

class ScraperHolder {
 public:
  explicit ScraperHolder(std::shared_ptr<const pagescope::Scraper> s) : current_(std::move(s)) {}
  std::shared_ptr<const pagescope::Scraper> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  void Set(std::shared_ptr<const pagescope::Scraper> s) {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(s);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const pagescope::Scraper> current_;
};

void LogCollectors(const pagescope::Scraper& s) {
  pagescope::log::Info("collectors",
                       {{"enabled", Join(s.enabled())}, {"disabled", Join(s.disabled())}});
}

}  // namespace

int main(int argc, char** argv) {
  // Scrapes (serializing and gzip included) run on one scrape thread, but the web server's
  // event loop (request and response buffers), its password thread (bcrypt) and the main thread
  // (reloads) allocate too. glibc would give threads their own arenas, each keeping the memory of
  // the largest buffers it handled: one arena, and large buffers from mmap so they go back when
  // freed.
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  using namespace pagescope;
  std::vector<std::string> args(argv + 1, argv + argc);
  CommandLine cmdline;
  Config config;
  try {
    cmdline = ParseCommandLine(args);
    if (cmdline.help) {
      std::cout << HelpText();
      return 0;
    }
    if (cmdline.version) {
      std::cout << "pagescope version " << kVersion << " (revision " << kRevision << ")\n";
      return 0;
    }
    config = LoadConfig(cmdline);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "pagescope: %s\n", e.what());
    return 2;
  }
  log::Init(config.log_level, config.log_format);
  // What the enabled collectors need of the process (capabilities, file descriptors), granted
  // here before any thread starts: capabilities are per thread, and threads inherit them.
  const ProcessNeeds needs = CollectorNeeds(config, AllCollectors());
  RaiseOpenFileLimit(needs.open_files);
  try {
    DropPrivileges(config.drop_privileges_to, config.listen_addresses, needs.capabilities);
  } catch (const std::exception& e) {
    log::Error("cannot drop privileges", {{"user", config.drop_privileges_to}, {"err", e.what()}});
    return 1;
  }
  if (!config.drop_privileges_to.empty()) {
    log::Info("dropped privileges", {{"user", config.drop_privileges_to},
                                     {"kept", KeptCapabilities(needs.capabilities)}});
  }

  // Signals are taken by sigwait in this thread only; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<const Scraper> scraper;
  try {
    scraper = std::make_shared<const Scraper>(config);
  } catch (const ConfigError& e) {
    log::Error("invalid configuration", {{"err", e.what()}});
    return 2;
  }
  ScraperHolder holder(scraper);
  log::Info("starting pagescope",
            {{"version", kVersion}, {"revision", kRevision}, {"config_file", config.config_file}});
  LogCollectors(*scraper);

  ServerOptions server_options;
  server_options.listen_addresses = config.listen_addresses;
  server_options.telemetry_path = config.telemetry_path;
  server_options.max_requests = config.max_requests;
  server_options.scrape_timeout = config.scrape_timeout;
  server_options.scrape_timeout_offset = config.scrape_timeout_offset;
  if (!config.web_config_file.empty()) {
    try {
      server_options.security = LoadWebSecurity();
    } catch (const std::exception& e) {
      log::Error("cannot load the web configuration's module", {{"err", e.what()}});
      return 1;
    }
    std::string error;
    server_options.web = server_options.security->Load(config.web_config_file, &error);
    if (!server_options.web) {
      log::Error("invalid web configuration", {{"err", error}});
      return 2;
    }
    const auto& web = *server_options.web;
    log::Info("web configuration", {{"file", web.file},
                                    {"tls", web.tls ? "on" : "off"},
                                    {"basic_auth_users", std::to_string(web.users.size())}});
  }
  std::unique_ptr<Server> server;
  try {
    server = std::make_unique<Server>(server_options, [&holder] { return holder.Get(); });
  } catch (const std::exception& e) {
    log::Error("cannot start web server", {{"err", e.what()}});
    return 1;
  }
  std::string ports;
  for (int p : server->ports()) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  log::Info("listening", {{"address", Join(config.listen_addresses)},
                          {"ports", ports},
                          {"telemetry_path", config.telemetry_path}});

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      try {
        Config next = LoadConfig(cmdline);
        auto next_scraper = std::make_shared<const Scraper>(next, holder.Get().get());
        // Descriptors can grow with a reload (the soft limit, up to the hard one); capabilities
        // dropped at start-up cannot come back.
        RaiseOpenFileLimit(CollectorNeeds(next, AllCollectors()).open_files);
        // The web configuration is checked whole (TLS files loaded) before anything changes.
        std::shared_ptr<const WebConfig> next_web;
        std::shared_ptr<WebSecurity> security;
        if (!next.web_config_file.empty()) {
          security = LoadWebSecurity();
          std::string error;
          next_web = security->Load(next.web_config_file, &error);
          if (!next_web) throw ConfigError(error);
        }
        log::Init(next.log_level, next.log_format);
        if (next.listen_addresses != config.listen_addresses ||
            next.telemetry_path != config.telemetry_path ||
            next.max_requests != config.max_requests ||
            next.scrape_timeout != config.scrape_timeout ||
            next.scrape_timeout_offset != config.scrape_timeout_offset ||
            next.drop_privileges_to != config.drop_privileges_to) {
          log::Warn(
              "web.* listen, path, limit and scrape timeout changes take effect only after a "
              "restart");
        }
        holder.Set(std::move(next_scraper));
        std::string restart = server->SetWebConfig(next_web, security);
        if (!restart.empty()) log::Warn(restart);
        if (next_web) {
          log::Info("web configuration reloaded",
                    {{"file", next_web->file},
                     {"tls", next_web->tls ? "on" : "off"},
                     {"basic_auth_users", std::to_string(next_web->users.size())}});
        }
        config = std::move(next);
        log::Info("configuration reloaded", {{"config_file", config.config_file}});
        LogCollectors(*holder.Get());
      } catch (const std::exception& e) {
        log::Error("reload failed, keeping the previous configuration", {{"err", e.what()}});
      }
      continue;
    }
    log::Info("stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    break;
  }
  // Stopping waits for a running scrape to finish. Give it a moment, then leave even if the web
  // server has not wound down yet.
  std::promise<void> stopped;
  auto done = stopped.get_future();
  std::thread([&server, &stopped] {
    server.reset();
    stopped.set_value();
  }).detach();
  if (done.wait_for(std::chrono::milliseconds(700)) == std::future_status::timeout) {
    log::Info("stopped", {{"web_server", "still closing"}});
    std::fflush(nullptr);
    std::_Exit(0);
  }
  log::Info("stopped");
  return 0;
}
