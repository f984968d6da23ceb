// The list of every collector pagescope has, in the order they run and appear in --help and the
// README. The framework (framework/collector.h) knows no collector; the exporter hands it this
// list.
#pragma once

#include <vector>

#include "framework/collector.h"

namespace pagescope {

const std::vector<CollectorSpec>& AllCollectors();

}  // namespace pagescope
