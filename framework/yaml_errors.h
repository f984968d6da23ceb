#pragma once
// ConfigErrors that name a YAML file's line and column, for every parser of a YAML file (the
// configuration, the web configuration). Header only: the web module compiles it too.

#include <yaml-cpp/yaml.h>

#include <string>

#include "framework/errors.h"

namespace pagescope {

// "file:line:column" (1-based) of a YAML mark; `file` alone when the mark is unknown.
inline std::string MarkText(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// Throws ConfigError "file:line:column: key: message" for `node`.
[[noreturn]] inline void FailNode(const std::string& file, const YAML::Node& node,
                                  const std::string& key, const std::string& message) {
  throw ConfigError(MarkText(file, node.Mark()) + ": " + key + ": " + message);
}

// YAML::Load; a syntax error is a ConfigError "file:line:column: invalid YAML: ...".
inline YAML::Node LoadYaml(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(MarkText(file, e.mark) + ": invalid YAML: " + e.msg);
  }
}

}  // namespace pagescope
