#include "web/landing.h"

#include "pagescope/version.h"

namespace pagescope {
namespace {

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    const char* entity = c == '&'   ? "&amp;"
                         : c == '<' ? "&lt;"
                         : c == '>' ? "&gt;"
                         : c == '"' ? "&quot;"
                                    : nullptr;
    if (entity != nullptr) {
      out += entity;
    } else {
      out += c;
    }
  }
  return out;
}

std::string List(const std::vector<std::string>& names) {
  std::string out = "<ul>\n";
  for (const auto& n : names) out += "<li>" + HtmlEscape(n) + "</li>\n";
  return out + "</ul>\n";
}

}  // namespace

std::string LandingPage(std::string_view telemetry_path, const std::vector<std::string>& enabled,
                        const std::vector<std::string>& disabled) {
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pagescope</title></head>"
         "<body>\n<h1>pagescope</h1>\n<p>Prometheus exporter for Linux memory paging: "
         "HugeTLB pools, THP, KSM, NUMA, faults and swap. Version " +
         HtmlEscape(kVersion) + " (" + HtmlEscape(kRevision) + ").</p>\n<p><a href=\"" +
         HtmlEscape(telemetry_path) +
         "\">Metrics</a> &middot; <a href=\"/-/healthy\">Health</a></p>\n"
         "<h2>Enabled collectors</h2>\n" +
         List(enabled) + "<h2>Disabled collectors</h2>\n" + List(disabled) + "</body></html>\n";
}

}  // namespace pagescope
