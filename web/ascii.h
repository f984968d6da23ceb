#pragma once
// ASCII text helpers shared by the server and the web module (header only: the module links
// nothing of the executable).

#include <algorithm>
#include <cctype>
#include <string_view>

namespace pagescope {

// Case-insensitive comparison of ASCII text (HTTP tokens, header names).
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace pagescope
