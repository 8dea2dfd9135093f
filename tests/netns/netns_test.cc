// NetNs: creates a namespace, runs commands in it, enters it from this thread, deletes it.
#include "tests/netns/netns.h"

#include <gtest/gtest.h>
#include <net/if.h>

namespace coronet::testing {
namespace {

TEST(NetNs, CreateExecEnterAndCleanUp) {
  std::string name;
  {
    auto ns = NetNs::create("selftest");
    ASSERT_TRUE(ns.has_value()) << ns.error().message();
    name = ns->name();
    auto links = ns->exec("ip -o link show");
    ASSERT_TRUE(links.has_value()) << links.error().message();
    EXPECT_NE(links->find("lo:"), std::string::npos);
    ASSERT_TRUE(ns->exec("ip link add cnt0 type veth peer name cnt1").has_value());
    EXPECT_EQ(if_nametoindex("cnt0"), 0u);  // not in the test's own namespace
    {
      NetNs::Enter in(*ns);
      ASSERT_TRUE(in.ok()) << in.error();
      EXPECT_NE(if_nametoindex("cnt0"), 0u);  // this thread now sees the namespace's links
    }
    EXPECT_EQ(if_nametoindex("cnt0"), 0u);
    auto bad = ns->exec("exit 3");
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message().find("status"), std::string::npos);
  }
  auto list = shell("ip netns list");
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->find(name), std::string::npos) << "namespace not deleted: " << *list;
}

}  // namespace
}  // namespace coronet::testing
