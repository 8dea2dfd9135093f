// A bad EAL option: create() fails with DPDK's reason, and because rte_eal_init cannot run twice,
// every later create() in the process reports that first failure instead of trying again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "nic/dpdk/dpdk_device.h"

namespace coronet::nic {
namespace {

TEST(DpdkEal, BadArgumentsGiveAClearErrorOnce) {
  DpdkConfig cfg;
  cfg.eal_args = {"--no-huge",
                  "-m",
                  "256",
                  "--no-pci",
                  "--no-shconf",
                  "-l",
                  "0",
                  "--file-prefix=coronet-dpdk-bad-" + std::to_string(getpid()),
                  "--no-such-eal-option"};
  cfg.port_name = "net_ring0";
  auto r = DpdkDevice::create(cfg);
  ASSERT_FALSE(r);
  const std::string msg = r.error().message();
  EXPECT_NE(msg.find("rte_eal_init"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--no-such-eal-option"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Invalid argument"), std::string::npos) << msg;

  cfg.eal_args.pop_back();  // even corrected arguments cannot bring EAL up now
  r = DpdkDevice::create(cfg);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("failed earlier in this process"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("--no-such-eal-option"), std::string::npos);
}

}  // namespace
}  // namespace coronet::nic
