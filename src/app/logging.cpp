#include "app/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "util/clock.hpp"
#include "util/log_fields.hpp"
#include "util/time_format.hpp"

namespace referrald::app {
namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& line) {
  return line.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A line's time, level and message; a message with fields of its own (kLogFieldsMarker) gives
// its members instead of a plain "msg".
Json JsonLine(std::chrono::system_clock::time_point time, std::string_view level,
              std::string_view message) {
  Json line = Json::object();
  line["time"] = FormatIso8601(std::chrono::time_point_cast<std::chrono::milliseconds>(time));
  line["level"] = level;
  if (!message.empty() && message.front() == kLogFieldsMarker) {
    Json fields = Json::parse(message.substr(1), nullptr, /*allow_exceptions=*/false);
    if (fields.is_object()) {
      for (const auto& [key, value] : fields.items()) line[key] = value;
      return line;
    }
    message.remove_prefix(1);
  }
  line["msg"] = message;
  return line;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    const std::string line =
        Dump(JsonLine(msg.time, std::string_view(level.data(), level.size()),
                      std::string_view(msg.payload.data(), msg.payload.size()))) +
        "\n";
    dest.append(line.data(), line.data() + line.size());
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

void SetUpLogging(LogFormat format, const std::string& level, bool to_stderr) {
  if (to_stderr) spdlog::set_default_logger(spdlog::stderr_color_mt("referrald"));
  spdlog::set_level(spdlog::level::from_str(level));
  if (format == LogFormat::kJson) {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  }
}

std::string FormatLine(LogFormat format, std::string_view level, std::string_view message) {
  if (format == LogFormat::kText) return std::string(message) + "\n";
  return Dump(JsonLine(std::chrono::system_clock::now(), level, message)) + "\n";
}

}  // namespace referrald::app
