#pragma once
// The process's log lines (LOG_FORMAT, LOG_LEVEL): spdlog's default logger, and lines written
// without it (serve's banner and its start-up errors) in the same format. With LOG_FORMAT=json
// every line is one JSON object {"time", "level", "msg", ...}; a message that carries fields of
// its own (util/log_fields.hpp) has them as members of the line.

#include <string>
#include <string_view>

namespace referrald::app {

enum class LogFormat { kText, kJson };

// Sets up spdlog's default logger: to stdout (serve), or to stderr (the one-shot commands, whose
// stdout carries only their result). `level` is a LOG_LEVEL value.
void SetUpLogging(LogFormat format, const std::string& level, bool to_stderr);

// `message` as one line (with its newline) of `format`: the text itself, or a JSON object with
// the time, `level` and message, as spdlog's lines are. For lines printed without spdlog.
std::string FormatLine(LogFormat format, std::string_view level, std::string_view message);

}  // namespace referrald::app
