// The one logging wrapper over spdlog. Every line carries the reactor core id ("[core 3]", or
// "[core -]" off-reactor). Nothing on a per-packet path may log above debug level.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <utility>

namespace coronet::log {

// The process-wide coronet logger (stderr by default).
spdlog::logger& logger();

// Replaces the sinks (tests capture output this way). Keeps the coronet pattern.
void set_sink(std::shared_ptr<spdlog::sinks::sink> sink);
// Back to the default stderr sink.
void reset_sink();
void set_level(spdlog::level::level_enum level);

// The core id printed in this thread's log lines; -1 means "not a reactor thread".
void set_thread_core(int core);
int thread_core();

template <typename... A>
void trace(fmt::format_string<A...> f, A&&... a) {
  logger().trace(f, std::forward<A>(a)...);
}
template <typename... A>
void debug(fmt::format_string<A...> f, A&&... a) {
  logger().debug(f, std::forward<A>(a)...);
}
template <typename... A>
void info(fmt::format_string<A...> f, A&&... a) {
  logger().info(f, std::forward<A>(a)...);
}
template <typename... A>
void warn(fmt::format_string<A...> f, A&&... a) {
  logger().warn(f, std::forward<A>(a)...);
}
template <typename... A>
void error(fmt::format_string<A...> f, A&&... a) {
  logger().error(f, std::forward<A>(a)...);
}

}  // namespace coronet::log
