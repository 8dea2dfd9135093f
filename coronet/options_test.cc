// Command-line options: the stack and core choices, and clear errors for bad values.
#include "coronet/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace coronet {
namespace {

Result<Options> parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  static char name[] = "prog";
  argv.push_back(name);
  for (auto& a : args) argv.push_back(a.data());
  return parse_options(static_cast<int>(argv.size()), argv.data(), 7);
}

TEST(Options, DefaultsToTheUserStackOnOneCore) {
  auto o = parse({});
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->stack, StackKind::kUser);
  EXPECT_EQ(o->cores, 1u);
  EXPECT_EQ(o->port, 7);
  EXPECT_EQ(o->nic, "tap:cn0");
}

TEST(Options, StackAndCoresAreParsed) {
  auto o = parse({"--stack=kernel", "--cores=1", "--port=8080", "--extra"});
  ASSERT_TRUE(o.has_value()) << o.error().message();
  EXPECT_EQ(o->stack, StackKind::kKernel);
  EXPECT_EQ(o->port, 8080);
  ASSERT_EQ(o->rest.size(), 1u);  // unknown arguments are left to the program
  EXPECT_EQ(o->rest[0], "--extra");
}

TEST(Options, BadValuesAreErrorsNamingTheChoices) {
  auto s = parse({"--stack=dpdk2"});
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message().find("user or kernel"), std::string::npos) << s.error().message();
  auto c = parse({"--cores=0"});
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("--cores=0"), std::string::npos);
  auto many = parse({"--cores=100000"});
  ASSERT_FALSE(many.has_value());
  EXPECT_NE(many.error().message().find("CPUs"), std::string::npos);
  EXPECT_FALSE(parse({"--port=0"}).has_value());
  EXPECT_FALSE(parse({"--nic=eth0"}).has_value());
}

TEST(Options, DpdkPortTakesItsEalArguments) {
  auto o = parse({"--nic=dpdk:net_tap0", "--eal=--no-huge -m 256  --vdev=net_tap0,iface=d0"});
  ASSERT_TRUE(o.has_value()) << o.error().message();
  EXPECT_EQ(o->nic, "dpdk:net_tap0");
  EXPECT_EQ(o->eal, (std::vector<std::string>{"--no-huge", "-m", "256", "--vdev=net_tap0,iface=d0"}));
  // A DPDK port without EAL arguments, or EAL arguments for a TAP: errors that say why.
  auto no_eal = parse({"--nic=dpdk:net_tap0"});
  ASSERT_FALSE(no_eal.has_value());
  EXPECT_NE(no_eal.error().message().find("needs --eal"), std::string::npos);
  auto stray = parse({"--eal=--no-huge"});
  ASSERT_FALSE(stray.has_value());
  EXPECT_NE(stray.error().message().find("--eal is for --nic=dpdk"), std::string::npos);
  EXPECT_FALSE(parse({"--nic=dpdk:", "--eal=-l 0"}).has_value());
}

TEST(Options, MetricsPortIsForTheUserStackAndItsOwnPort) {
  auto o = parse({"--metrics-port=9100"});
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->metrics_port, 9100);
  EXPECT_FALSE(parse({"--metrics-port=0"}).has_value());
  auto kernel = parse({"--stack=kernel", "--metrics-port=9100"});
  ASSERT_FALSE(kernel.has_value());
  EXPECT_NE(kernel.error().message().find("user stack"), std::string::npos);
  EXPECT_FALSE(parse({"--port=9100", "--metrics-port=9100"}).has_value());
}

TEST(Options, StackKindNamesRoundTrip) {
  for (StackKind k : {StackKind::kUser, StackKind::kKernel}) {
    auto back = parse_stack_kind(stack_kind_name(k));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, k);
  }
}

}  // namespace
}  // namespace coronet
