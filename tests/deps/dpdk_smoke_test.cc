// Links DPDK from Debian and brings up EAL without hugepages or PCI, with one net_null vdev: the
// recipe from ../shared/DESIGN.md. Checks that the PMD plugin loads and a port appears.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <unistd.h>

#include <string>
#include <vector>

TEST(DpdkSmoke, EalInitWithNullVdev) {
  std::string prefix = "--file-prefix=coronet-smoke-" + std::to_string(getpid());
  std::vector<std::string> args = {"dpdk_smoke_test", "--no-huge", "-m",      "64",
                                   "--no-pci",        "--no-shconf", "-l",    "0",
                                   "--vdev=net_null0", prefix,      "--log-level=3"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int rc = rte_eal_init(static_cast<int>(argv.size()), argv.data());
  ASSERT_GE(rc, 0) << "rte_eal_init failed: " << rte_strerror(rte_errno);
  EXPECT_EQ(rte_eth_dev_count_avail(), 1u);
  uint16_t port = 0;
  ASSERT_EQ(rte_eth_dev_get_port_by_name("net_null0", &port), 0);
  rte_eth_dev_info info{};
  ASSERT_EQ(rte_eth_dev_info_get(port, &info), 0);
  EXPECT_STREQ(info.driver_name, "net_null");
  EXPECT_EQ(rte_eal_cleanup(), 0);
}
