// EAL asked to use hugepages on a machine that has none: the error says how to run without them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "nic/dpdk/dpdk_device.h"

namespace coronet::nic {
namespace {

long free_hugepages_2m() {
  std::ifstream in("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
  long n = 0;
  in >> n;
  return n;
}

// Without hugepages (CI, this VM) the error must say what to do. On a machine that has them the
// same arguments must simply work: either way the test asserts real behaviour.
TEST(DpdkEal, MissingHugepagesSuggestNoHuge) {
  const bool have_hugepages = free_hugepages_2m() > 0;
  DpdkConfig cfg;
  cfg.eal_args = {"--no-pci",
                  "--no-shconf",
                  "-l",
                  "0",
                  "--file-prefix=coronet-dpdk-huge-" + std::to_string(getpid()),
                  "--vdev=net_ring0"};
  cfg.port_name = "net_ring0";
  auto r = DpdkDevice::create(cfg);
  if (have_hugepages) {
    EXPECT_TRUE(r) << r.error().message();
    return;
  }
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no hugepages: add --no-huge -m 256 to the EAL args"),
            std::string::npos)
      << r.error().message();
}

}  // namespace
}  // namespace coronet::nic
