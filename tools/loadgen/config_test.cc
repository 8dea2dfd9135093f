#include "tools/loadgen/config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tools/loadgen/results.h"

namespace coronet::loadgen {
namespace {

using namespace std::chrono_literals;

// The error message of parsing `args`, or "" when they parse.
std::string error_of(const std::vector<std::string>& args) {
  auto c = parse_config(args);
  return c ? "" : c.error().message();
}

TEST(LoadgenConfig, DefaultsNeedOnlyTargetAndMode) {
  auto c = parse_config({"--target=127.0.0.1:7", "--mode=keepalive"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->target.to_string(), "127.0.0.1:7");
  EXPECT_EQ(c->mode, Mode::kKeepalive);
  EXPECT_EQ(c->connections, 16u);
  EXPECT_EQ(c->duration, 5s);
  EXPECT_EQ(c->warmup, 1s);
  EXPECT_EQ(c->rate, 0);
  EXPECT_EQ(c->size, 64u);
  EXPECT_EQ(c->path, "/");
  EXPECT_EQ(c->pipeline, 1u);
  EXPECT_EQ(c->timeout, 5s);
  EXPECT_EQ(c->wait, 0s);
  EXPECT_FALSE(c->json);
}

TEST(LoadgenConfig, EveryFlag) {
  auto c =
      parse_config({"--target=198.18.6.1:8080", "--mode=http", "--connections=3", "--duration=1.5",
                    "--warmup=0", "--rate=250", "--size=1000", "--path=/index.html?x=1",
                    "--pipeline=8", "--timeout=0.25", "--wait=3", "--json"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->target.port, 8080);
  EXPECT_EQ(c->mode, Mode::kHttp);
  EXPECT_EQ(c->connections, 3u);
  EXPECT_EQ(c->duration, 1500ms);
  EXPECT_EQ(c->warmup, 0s);
  EXPECT_EQ(c->rate, 250);
  EXPECT_EQ(c->size, 1000u);
  EXPECT_EQ(c->path, "/index.html?x=1");
  EXPECT_EQ(c->pipeline, 8u);
  EXPECT_EQ(c->timeout, 250ms);
  EXPECT_EQ(c->wait, 3s);
  EXPECT_TRUE(c->json);
}

TEST(LoadgenConfig, BadValuesNameTheFlagAndTheExpectedForm) {
  const std::string t = "--target=127.0.0.1:7";
  const std::string m = "--mode=short";
  EXPECT_EQ(error_of({"--target=127.0.0.1", m}),
            "invalid argument: --target=127.0.0.1: expected A.B.C.D:PORT (port 1-65535)");
  EXPECT_NE(error_of({"--target=300.0.0.1:7", m}).find("--target=300.0.0.1:7: expected"),
            std::string::npos);
  EXPECT_NE(error_of({"--target=1.2.3.4:0", m}).find("--target"), std::string::npos);
  EXPECT_NE(error_of({t, "--mode=udp"}).find("--mode=udp: expected short, keepalive or http"),
            std::string::npos);
  EXPECT_NE(error_of({t, m, "--connections=0"}).find("--connections=0: expected"),
            std::string::npos);
  EXPECT_NE(error_of({t, m, "--duration=0"}).find("--duration=0: expected seconds > 0"),
            std::string::npos);
  EXPECT_NE(error_of({t, m, "--duration=abc"}).find("--duration=abc"), std::string::npos);
  EXPECT_NE(error_of({t, m, "--warmup=-1"}).find("--warmup=-1"), std::string::npos);
  EXPECT_NE(error_of({t, m, "--rate=-5"}).find("--rate=-5: expected"), std::string::npos);
  EXPECT_NE(error_of({t, m, "--size=0"}).find("--size=0: expected bytes"), std::string::npos);
  EXPECT_NE(error_of({t, "--mode=http", "--path=index"}).find("--path=index: expected /"),
            std::string::npos);
  EXPECT_NE(error_of({t, "--mode=http", "--pipeline=0"}).find("--pipeline=0"), std::string::npos);
  EXPECT_NE(error_of({t, m, "--timeout=0"}).find("--timeout=0"), std::string::npos);
  EXPECT_NE(error_of({t, m, "--bogus"}).find("unknown argument --bogus"), std::string::npos);
  EXPECT_NE(error_of({m}).find("--target=A.B.C.D:PORT is required"), std::string::npos);
  EXPECT_NE(error_of({t}).find("--mode=short|keepalive|http is required"), std::string::npos);
  EXPECT_NE(error_of({t, m, "--pipeline=2"}).find("--pipeline is for --mode=http"),
            std::string::npos);
}

TEST(LoadgenConfig, HelpNeedsNothingElse) {
  auto c = parse_config({"--help"});
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->help);
  EXPECT_NE(config_usage().find("--target=A.B.C.D:PORT"), std::string::npos);
}

TEST(LoadgenReport, ErrorsAreClassifiedByWhenAndWhatFailed) {
  EXPECT_EQ(classify(Error(Errc::kConnectionRefused), true), ErrorKind::kConnectRefused);
  EXPECT_EQ(classify(Error(Errc::kTimedOut), true), ErrorKind::kConnectTimeout);
  EXPECT_EQ(classify(Error(Errc::kTimedOut), false), ErrorKind::kTimeout);
  EXPECT_EQ(classify(Error(Errc::kConnectionReset), false), ErrorKind::kReset);
  EXPECT_EQ(classify(Error(Errc::kNotConnected), false), ErrorKind::kShortRead);
  EXPECT_EQ(classify(Error(Errc::kHostUnreachable), true), ErrorKind::kOther);
}

TEST(LoadgenReport, JsonHasEveryFieldAndTextNamesNonZeroErrors) {
  auto c = parse_config({"--target=127.0.0.1:7", "--mode=short", "--duration=2"});
  ASSERT_TRUE(c);
  Report r;
  r.config = &*c;
  r.stack = "kernel";
  r.cores = 2;
  r.total.requests = 1000;
  r.total.connections = 1000;
  r.total.errors[static_cast<std::size_t>(ErrorKind::kConnectRefused)] = 3;
  r.total.first_error = "connect_refused: \"quoted\"";
  for (int i = 1; i <= 1000; ++i) r.total.latency.record(static_cast<std::uint64_t>(i) * 1000);
  r.per_core_requests = {600, 400};
  const std::string json = format_json(r);
  for (const char* key :
       {"\"requests\":1000", "\"requests_per_s\":500.000", "\"connections_per_s\":500.000",
        "\"p50\":", "\"p90\":", "\"p99\":", "\"p99_9\":", "\"max\":1000.000", "\"total\":3",
        "\"connect_refused\":3", "\"mismatch\":0", "\"http_status\":0",
        "\"per_core_requests\":[600,400]", "\"first_error\":\"connect_refused: \\\"quoted\\\"\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
  }
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  const std::string text = format_text(r);
  EXPECT_NE(text.find("requests     1000 (500.0/s)"), std::string::npos) << text;
  EXPECT_NE(text.find("connect_refused 3"), std::string::npos) << text;
  EXPECT_EQ(text.find("mismatch"), std::string::npos) << text;
}

}  // namespace
}  // namespace coronet::loadgen
