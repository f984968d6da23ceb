#pragma once
// Where a collector puts the samples of one scrape. Families are built fresh every scrape from
// the structs the parsers return, so series of things that vanished disappear.

#include <prometheus/metric_family.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pagescope {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricSink {
 public:
  void Gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  void Counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  // A constant fact: a gauge of value 1.
  void Info(std::string_view name, std::string_view help, const Labels& labels) {
    Gauge(name, help, labels, 1);
  }
  // A stateset: one series per state, label `label` (usually "mode"), 1 for the active state.
  void StateSet(std::string_view name, std::string_view help, const Labels& labels,
                std::string_view label, const std::vector<std::string>& states,
                std::string_view active);

  // Records a problem that makes this collector's success 0 without discarding its other data.
  void Fail(std::string message) { errors_.push_back(std::move(message)); }
  const std::vector<std::string>& errors() const { return errors_; }

  // Families sorted by name, samples by labels.
  std::vector<prometheus::MetricFamily> Take();
  bool empty() const { return families_.empty(); }

 private:
  prometheus::MetricFamily& Family(std::string_view name, std::string_view help,
                                   prometheus::MetricType type);
  std::map<std::string, prometheus::MetricFamily, std::less<>> families_;
  std::vector<std::string> errors_;
};

// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD: label values come
// from kernel files and command lines, and the exposition format requires UTF-8.
std::string ValidUtf8(std::string_view text);

// Sorts families by name and each family's samples by label set (stable golden output), and
// merges families of the same name that different sources produced.
void SortFamilies(std::vector<prometheus::MetricFamily>& families);

}  // namespace pagescope
