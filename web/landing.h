#pragma once
// The landing page on "/": what pagescope is, its version, links to the metrics and health
// paths, and which collectors are enabled and disabled.

#include <string>
#include <string_view>
#include <vector>

namespace pagescope {

std::string LandingPage(std::string_view telemetry_path, const std::vector<std::string>& enabled,
                        const std::vector<std::string>& disabled);

}  // namespace pagescope
