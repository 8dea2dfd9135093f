// Links {fmt} and spdlog from Debian and checks that formatting and a sink really work.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>

TEST(FmtSpdlogSmoke, FormatsAndLogsThroughASink) {
  EXPECT_EQ(fmt::format("{}-{:04x}", "core", 42), "core-002a");

  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("smoke", sink);
  logger.set_pattern("%l %v");
  logger.info("hello {}", 7);
  logger.flush();
  EXPECT_EQ(out.str(), "info hello 7\n");
}
