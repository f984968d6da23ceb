#include "exporter/metric_sink.h"

#include <algorithm>
#include <stdexcept>

namespace pagescope {
namespace {

prometheus::ClientMetric MakeMetric(const Labels& labels) {
  prometheus::ClientMetric m;
  m.label.reserve(labels.size());
  for (const auto& [k, v] : labels) m.label.push_back({k, v});
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
