#pragma once
// The error taxonomy shared by parsers, collectors and configuration.

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace pagescope {

// Malformed kernel text. Parsers know no file names: they report the line (1-based) and the
// collector that read the file turns it into a CollectError naming the file.
class ParseError : public std::runtime_error {
 public:
  ParseError(std::size_t line, const std::string& message)
      : std::runtime_error(message), line_(line) {}
  std::size_t line() const { return line_; }

 private:
  std::size_t line_;
};

// "path:line: message": how an error about one line of a file reads (lines are 1-based).
inline std::string FileLineError(const std::filesystem::path& path, std::size_t line,
                                 const std::string& message) {
  return path.string() + ":" + std::to_string(line) + ": " + message;
}
// The same for a parser's error in the text of the file at `path`.
inline std::string FileLineError(const std::filesystem::path& path, const ParseError& e) {
  return FileLineError(path, e.line(), e.what());
}

// A collector could not produce its data; the message names the file (and line) at fault.
class CollectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration mistake; the message names the file, line and key (or the flag).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace pagescope
