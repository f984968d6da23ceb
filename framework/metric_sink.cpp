#include "framework/metric_sink.h"

#include <algorithm>
#include <stdexcept>

namespace pagescope {
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = p[i];
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool ok = len > 0 && i + len <= n;
    for (std::size_t j = 1; ok && j < len; ++j) ok = (p[i + j] & 0xC0) == 0x80;
    if (ok && len > 1) {
      // Reject overlong forms, surrogates and code points above U+10FFFF.
      unsigned cp = len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
      for (std::size_t j = 1; j < len; ++j) cp = (cp << 6) | (p[i + j] & 0x3Fu);
      ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000) &&
           !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
    }
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    }
  }
  return out;
}

namespace {

prometheus::ClientMetric MakeMetric(const Labels& labels) {
  prometheus::ClientMetric m;
  m.label.reserve(labels.size());
  for (const auto& [k, v] : labels) m.label.push_back({k, ValidUtf8(v)});
  return m;
}

bool LabelsLess(const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
  return a.label < b.label;
}

}  // namespace

prometheus::MetricFamily& MetricSink::Family(std::string_view name, std::string_view help,
                                             prometheus::MetricType type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    prometheus::MetricFamily f;
    f.name = std::string(name);
    f.help = std::string(help);
    f.type = type;
    it = families_.emplace(f.name, std::move(f)).first;
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + std::string(name) + " emitted with two types");
  }
  return it->second;
}

void MetricSink::Gauge(std::string_view name, std::string_view help, const Labels& labels,
                       double value) {
  auto m = MakeMetric(labels);
  m.gauge.value = value;
  Family(name, help, prometheus::MetricType::Gauge).metric.push_back(std::move(m));
}

void MetricSink::Counter(std::string_view name, std::string_view help, const Labels& labels,
                         double value) {
  auto m = MakeMetric(labels);
  m.counter.value = value;
  Family(name, help, prometheus::MetricType::Counter).metric.push_back(std::move(m));
}

void MetricSink::StateSet(std::string_view name, std::string_view help, const Labels& labels,
                          std::string_view label, const std::vector<std::string>& states,
                          std::string_view active) {
  for (const auto& state : states) {
    Labels l = labels;
    l.emplace_back(std::string(label), state);
    Gauge(name, help, l, state == active ? 1 : 0);
  }
}

std::vector<prometheus::MetricFamily> MetricSink::Take() {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families_.size());
  for (auto& [name, family] : families_) {
    std::stable_sort(family.metric.begin(), family.metric.end(), LabelsLess);
    out.push_back(std::move(family));
  }
  families_.clear();
  return out;
}

void SortFamilies(std::vector<prometheus::MetricFamily>& families) {
  std::stable_sort(families.begin(), families.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<prometheus::MetricFamily> merged;
  for (auto& f : families) {
    if (!merged.empty() && merged.back().name == f.name && merged.back().type == f.type) {
      auto& dst = merged.back().metric;
      dst.insert(dst.end(), std::make_move_iterator(f.metric.begin()),
                 std::make_move_iterator(f.metric.end()));
    } else {
      merged.push_back(std::move(f));
    }
  }
  for (auto& f : merged) std::stable_sort(f.metric.begin(), f.metric.end(), LabelsLess);
  families = std::move(merged);
}

}  // namespace pagescope
