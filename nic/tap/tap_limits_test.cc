// TapDevice at its edges: oversize frames both ways, pool exhaustion, back-pressure-free error
// paths, and the messages open() gives when it cannot work.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "nic/tap/tap_device.h"
#include "nic/tap/tap_test_fixture.h"

namespace coronet::nic::tap_test {
namespace {

using ::testing::HasSubstr;
using TapLimitsTest = TapTest;

std::uint64_t to_u64(const std::string& text) { return text.empty() ? 0 : std::stoull(text); }

TEST_P(TapLimitsTest, OversizeTxFrameIsRefusedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  const std::string stat = std::string("cat /sys/class/net/") + kIfName + "/statistics/rx_packets";
  const std::uint64_t kernel_before = to_u64(exec(stat));
  const std::uint32_t in_use = dev_->pool(0).stats().in_use;

  Frame big = tf::build_udp(kOurMac, kernel_mac(), kOurIp, kKernelIp, 1, 2, Frame(1473));
  ASSERT_EQ(big.size(), 1515u);  // one byte over mtu + 14
  EXPECT_EQ(send(big), 1u) << "taken (and freed), not left with the caller";
  EXPECT_EQ(send(big, 700), 1u) << "a chain is measured whole";
  EXPECT_EQ(dev_->tx_stats(0).errors, 2u);
  EXPECT_EQ(dev_->tx_stats(0).packets, 0u);
  EXPECT_EQ(dev_->pool(0).stats().in_use, in_use) << "refused packets go back to the pool";

  big.pop_back();  // exactly mtu + 14: fine (the UDP length is now off by one; the kernel drops
                   // it above the link layer, after counting it)
  EXPECT_EQ(send(big), 1u);
  EXPECT_EQ(dev_->tx_stats(0).packets, 1u);
  EXPECT_EQ(dev_->tx_stats(0).bytes, 1514u);
  EXPECT_EQ(to_u64(exec(stat)), kernel_before + 1)
      << "only the frame within the MTU reached the kernel";
}

TEST_P(TapLimitsTest, RuntTxFrameIsRefusedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  EXPECT_EQ(send(Frame(13)), 1u);
  EXPECT_EQ(dev_->tx_stats(0).errors, 1u);
  EXPECT_EQ(dev_->tx_stats(0).packets, 0u);
}

TEST_P(TapLimitsTest, TxWhileKernelInterfaceIsDownCountsDrops) {
  ASSERT_NO_FATAL_FAILURE(open(config()));  // never brought up: TAP refuses writes with EIO
  EXPECT_EQ(send(tf::build_arp_request(kOurMac, kOurIp, kKernelIp)), 1u);
  EXPECT_EQ(dev_->tx_stats(0).drops, 1u);
  EXPECT_EQ(dev_->tx_stats(0).packets, 0u);
  EXPECT_EQ(dev_->tx_stats(0).errors, 0u);
}

TEST_P(TapLimitsTest, BurstLongerThanTheTxRingIsTakenWhole) {
  TapConfig c = config();
  c.uring_tx_depth = 2;
  ASSERT_NO_FATAL_FAILURE(open(c));
  exec(std::string("ip addr add 198.18.0.1/24 dev ") + kIfName + " && ip link set " + kIfName +
       " up");
  const Frame frame = tf::build_arp_request(kOurMac, kOurIp, kKernelIp);
  std::array<Packet*, 9> burst;
  for (Packet*& p : burst) {
    p = dev_->pool(0).alloc();
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(p->append_bytes(frame));
  }
  EXPECT_EQ(dev_->tx_burst(0, burst), burst.size());
  EXPECT_EQ(dev_->tx_stats(0).packets, burst.size());
  EXPECT_EQ(dev_->tx_stats(0).errors + dev_->tx_stats(0).drops, 0u);
}

TEST_P(TapLimitsTest, OversizeRxFrameIsCountedNotTruncated) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  add_static_neighbour();
  exec(std::string("ip link set dev ") + kIfName + " mtu 3000");  // the kernel may now send more
  auto sock = kernel_udp(4010);
  ASSERT_TRUE(sock.send_to_us(5010, Frame(2000)));  // a 2042-byte frame, over our 1514
  ASSERT_TRUE(sock.send_to_us(5010, tf::bytes_of("small")));

  std::vector<Frame> got;
  ASSERT_TRUE(receive_until([&] { return !got.empty(); }, [&](Frame f) { got.push_back(f); }));
  ASSERT_EQ(got.size(), 1u);
  auto d = tf::parse_udp(got[0]);
  ASSERT_TRUE(d) << "the frame after the oversize one arrives intact";
  EXPECT_EQ(d->payload, tf::bytes_of("small"));
  EXPECT_EQ(dev_->rx_stats(0).errors, 1u);
  EXPECT_EQ(dev_->rx_stats(0).packets, 1u);
}

TEST_P(TapLimitsTest, RxPoolExhaustionDropsFramesAndKeepsQueueMoving) {
  TapConfig c = config();
  c.pool.count = 16;
  c.uring_rx_depth = 4;  // kUring: these reads already hold a packet each when the pool runs dry
  ASSERT_NO_FATAL_FAILURE(open(c));
  exec(std::string("ip addr add 198.18.0.1/24 dev ") + kIfName + " && ip link set " + kIfName +
       " up");
  add_static_neighbour();
  auto sock = kernel_udp(4011);

  // The application holds every packet, including those it receives meanwhile.
  std::vector<Packet*> held;
  while (Packet* p = dev_->pool(0).alloc()) held.push_back(p);
  constexpr std::uint64_t kSent = 8;
  for (std::uint64_t i = 0; i < kSent; ++i) ASSERT_TRUE(sock.send_to_us(5011, Frame(10)));

  std::uint64_t delivered = 0;
  const auto deadline = Clock::now() + 2s;
  while (delivered + dev_->rx_stats(0).drops < kSent && Clock::now() < deadline) {
    std::array<Packet*, 32> burst;
    const std::size_t n = dev_->rx_burst(0, burst);
    held.insert(held.end(), burst.begin(), burst.begin() + static_cast<std::ptrdiff_t>(n));
    delivered += n;
  }
  EXPECT_EQ(delivered + dev_->rx_stats(0).drops, kSent);
  const std::uint64_t preloaded = GetParam() == IoMode::kUring ? c.uring_rx_depth : 0;
  EXPECT_EQ(delivered, preloaded) << "only reads that already held a packet deliver";
  EXPECT_EQ(dev_->rx_stats(0).drops, kSent - preloaded);

  // Once packets are back, the very next frame is delivered: nothing is left reading to scratch.
  PacketPool::free_bulk(held);
  std::array<Packet*, 32> burst;
  EXPECT_EQ(dev_->rx_burst(0, burst), 0u);  // lets kUring notice the pool refilled
  ASSERT_TRUE(sock.send_to_us(5011, tf::bytes_of("after")));
  auto f = receive([](const Frame& f) { return tf::parse_udp(f).has_value(); });
  ASSERT_TRUE(f) << "no frame after the pool refilled";
  EXPECT_EQ(tf::parse_udp(*f)->payload, tf::bytes_of("after"));
  EXPECT_EQ(dev_->rx_stats(0).drops, kSent - preloaded);
}

TEST_P(TapLimitsTest, OpenOfAttachedInterfaceSaysBusy) {
  ASSERT_NO_FATAL_FAILURE(open(config()));
  auto second = open_in_ns(config());
  ASSERT_FALSE(second);
  EXPECT_THAT(second.error().message(), HasSubstr("busy"));
  EXPECT_THAT(second.error().message(), HasSubstr(kIfName));
  EXPECT_THAT(second.error().message(), HasSubstr(std::strerror(EBUSY)));
}

TEST_P(TapLimitsTest, OpenOfNonTapInterfaceSaysSo) {
  TapConfig c = config();
  c.ifname = "lo";
  auto d = open_in_ns(c);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), HasSubstr("not be a TAP"));
}

TEST_P(TapLimitsTest, OpenWithoutCapNetAdminSuggestsRoot) {
  // Capabilities are per thread: drop CAP_NET_ADMIN from a helper thread's effective set only.
  std::string message;
  std::thread t([&] {
    testing::NetNs::Enter enter(*ns_);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &hdr, data) != 0) return;
    data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
    if (syscall(SYS_capset, &hdr, data) != 0) return;
    auto d = TapDevice::open(config());
    message = d ? "opened" : d.error().message();
  });
  t.join();
  EXPECT_THAT(message, HasSubstr(std::strerror(EPERM)));
  EXPECT_THAT(message, HasSubstr("run as root"));
}

INSTANTIATE_TEST_SUITE_P(IoModes, TapLimitsTest, ::testing::Values(IoMode::kReadv, IoMode::kUring),
                         mode_name);

// Errors found before the kernel is asked need no namespace.
TEST(TapOpen, MissingTunDeviceSaysSo) {
  TapConfig c;
  c.ifname = "ctap9";
  c.device_path = "/nonexistent/dev/net/tun";
  auto d = TapDevice::open(c);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), HasSubstr("/nonexistent/dev/net/tun"));
  EXPECT_THAT(d.error().message(), HasSubstr(std::strerror(ENOENT)));
  EXPECT_THAT(d.error().message(), HasSubstr("tun/tap driver is missing"));
}

TEST(TapOpen, TooLongNameSaysSo) {
  TapConfig c;
  c.ifname = "coronet-tap-name-too-long";
  auto d = TapDevice::open(c);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), HasSubstr("too long"));
  EXPECT_THAT(d.error().message(), HasSubstr("at most 15"));
}

TEST(TapOpen, NameWithSlashIsInvalid) {
  TapConfig c;
  c.ifname = "tap/0";
  auto d = TapDevice::open(c);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), HasSubstr("invalid"));
}

TEST(TapOpen, PoolTooSmallForMtuSaysSo) {
  TapConfig c;
  c.ifname = "ctap9";
  c.mtu = 9000;
  auto d = TapDevice::open(c);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), HasSubstr("needs 9014"));
}

TEST(TapOpen, UringDepthMustLeavePacketsInThePool) {
  TapConfig c;
  c.ifname = "ctap9";
  c.io = IoMode::kUring;
  c.pool.count = 8;
  c.uring_rx_depth = 8;
  auto d = TapDevice::open(c);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), HasSubstr("uring_rx_depth"));
}

}  // namespace
}  // namespace coronet::nic::tap_test
