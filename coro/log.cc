#include "coro/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <string>

namespace coronet::log {
namespace {

thread_local int tls_core = -1;

// "%k" in the pattern: the calling thread's core id.
class CoreFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (tls_core < 0) {
      dest.push_back('-');
    } else {
      fmt::format_to(std::back_inserter(dest), "{}", tls_core);
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<CoreFlag>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<CoreFlag>('k').set_pattern("[%Y-%m-%d %H:%M:%S.%f] [%l] [core %k] %v");
  return f;
}

std::shared_ptr<spdlog::logger> make_logger() {
  auto l = std::make_shared<spdlog::logger>("coronet",
                                            std::make_shared<spdlog::sinks::stderr_sink_mt>());
  l->set_formatter(make_formatter());
  l->set_level(spdlog::level::info);
  l->flush_on(spdlog::level::warn);
  return l;
}

std::shared_ptr<spdlog::logger>& instance() {
  static std::shared_ptr<spdlog::logger> l = make_logger();
  return l;
}

}  // namespace

spdlog::logger& logger() { return *instance(); }

void set_sink(std::shared_ptr<spdlog::sinks::sink> sink) {
  auto& l = instance();
  l->sinks().clear();
  l->sinks().push_back(std::move(sink));
  l->set_formatter(make_formatter());
}

void reset_sink() { set_sink(std::make_shared<spdlog::sinks::stderr_sink_mt>()); }

void set_level(spdlog::level::level_enum level) { instance()->set_level(level); }

void set_thread_core(int core) { tls_core = core; }
int thread_core() { return tls_core; }

}  // namespace coronet::log
