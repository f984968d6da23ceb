#include "kernel/proc_loadavg.h"

#include <string>

#include "framework/errors.h"
#include "kernel/parse.h"

namespace pagescope {

ProcLoadavg ParseProcLoadavg(std::string_view text) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  if (text.find('\n') != std::string_view::npos) throw ParseError(2, "expected one line");
  const auto fields = parse::Fields(text);
  if (fields.size() != 5) {
    throw ParseError(1, "expected 5 fields, got " + std::to_string(fields.size()));
  }
  ProcLoadavg l;
  l.load1 = parse::Double(fields[0], 1);
  l.load5 = parse::Double(fields[1], 1);
  l.load15 = parse::Double(fields[2], 1);
  const std::string_view tasks = fields[3];
  const auto slash = tasks.find('/');
  if (slash == std::string_view::npos) {
    throw ParseError(1, "expected runnable/total tasks, got \"" + std::string(tasks) + "\"");
  }
  l.runnable = parse::U64(tasks.substr(0, slash), 1);
  l.tasks = parse::U64(tasks.substr(slash + 1), 1);
  l.last_pid = parse::U64(fields[4], 1);
  return l;
}

}  // namespace pagescope
