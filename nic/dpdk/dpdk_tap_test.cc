// DpdkDevice against the Linux kernel through DPDK's net_tap PMD. The test makes a network
// namespace and enters it before EAL comes up, so the PMD's TAP interface is born inside it; the
// kernel side gets 198.18.1.1/24, coronet plays 198.18.1.2 with the port's MAC, speaking ARP,
// ICMP and UDP through hand-built frames (//nic/tap:test_frames), never through coronet's stack.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nic/dpdk/dpdk_device.h"
#include "nic/tap/test_frames.h"
#include "tests/netns/netns.h"

namespace coronet::nic {
namespace {

namespace tf = test_frames;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kKernelIp = tf::ipv4(198, 18, 1, 1);
constexpr std::uint32_t kOurIp = tf::ipv4(198, 18, 1, 2);
constexpr auto kWait = 3s;  // per exchange

class DpdkTap : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ns = testing::NetNs::create("dpdk");
    ASSERT_TRUE(ns) << ns.error().message();
    ns_.emplace(std::move(*ns));
    iface_ = "cnt" + std::to_string(getpid());  // at most 10 characters: IFNAMSIZ is 16
    DpdkConfig cfg;
    cfg.eal_args = {"--no-huge",
                    "-m",
                    "256",
                    "--no-pci",
                    "--no-shconf",
                    "-l",
                    "0",
                    "--log-level=notice",
                    "--file-prefix=coronet-" + std::to_string(getpid()),
                    "--vdev=net_tap0,iface=" + iface_};
    cfg.port_name = "net_tap0";
    cfg.rx_ring_size = 256;
    cfg.tx_ring_size = 256;
    cfg.mbufs_per_queue = 1023;
    cfg.mbuf_cache_size = 32;
    {
      // EAL probes the vdev (creating the TAP interface) in the caller's namespace.
      testing::NetNs::Enter enter(*ns_);
      ASSERT_TRUE(enter.ok()) << enter.error();
      auto dev = DpdkDevice::create(cfg);
      ASSERT_TRUE(dev) << dev.error().message();
      dev_ = std::move(*dev);
    }
    auto up =
        ns_->exec("ip addr add 198.18.1.1/24 dev " + iface_ + " && ip link set " + iface_ + " up");
    ASSERT_TRUE(up) << up.error().message();
    mac_ = dev_->info().mac;
  }

  void TearDown() override {
    dev_.reset();  // closes the TAP interface before the namespace goes
    ns_.reset();
  }

  // Transmits one frame, optionally cut into segments at `cuts`, with `meta` for offloads.
  void send(std::span<const std::byte> frame, std::vector<std::size_t> cuts = {},
            PacketMeta meta = {}) {
    cuts.push_back(frame.size());
    Packet* head = nullptr;
    Packet* tail = nullptr;
    std::size_t from = 0;
    for (std::size_t to : cuts) {
      Packet* p = dev_->pool(0).alloc();
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(p->append_bytes(frame.subspan(from, to - from)));
      if (tail != nullptr) {
        tail->set_next(p);
      } else {
        head = p;
      }
      tail = p;
      from = to;
    }
    head->meta = meta;
    const auto deadline = Clock::now() + kWait;
    while (dev_->tx_burst(0, std::span(&head, 1)) == 0) {
      ASSERT_LT(Clock::now(), deadline) << "the PMD never took the frame";
      std::this_thread::sleep_for(1ms);
    }
  }

  // Polls until `match` accepts a received frame (answering the kernel's ARP requests for us
  // meanwhile) or the deadline passes. Every frame seen is counted in `frames_seen_`.
  template <typename T>
  std::optional<T> await(
      const std::function<std::optional<T>(const Packet&, std::span<const std::byte>)>& match) {
    const auto deadline = Clock::now() + kWait;
    std::array<Packet*, 32> burst;
    while (Clock::now() < deadline) {
      const std::size_t n = dev_->rx_burst(0, burst);
      std::optional<T> found;
      for (std::size_t i = 0; i < n; ++i) {
        ++frames_seen_;
        std::vector<std::byte> bytes(burst[i]->chain_size());
        burst[i]->copy_out(bytes);
        if (auto arp = tf::parse_arp(bytes);
            arp && arp->opcode == tf::kArpRequest && arp->target_ip == kOurIp) {
          ++arp_requests_answered_;
          send(tf::build_arp_reply(mac_, kOurIp, arp->sender_mac, arp->sender_ip));
        } else if (!found) {
          found = match(*burst[i], bytes);
        }
        PacketPool::free(burst[i]);
      }
      if (found) return found;
      if (n == 0) std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
  }

  // ARP for the kernel's address; returns its MAC.
  std::optional<MacAddress> resolve_kernel() {
    send(tf::build_arp_request(mac_, kOurIp, kKernelIp));
    return await<MacAddress>(
        [&](const Packet&, std::span<const std::byte> f) -> std::optional<MacAddress> {
          auto arp = tf::parse_arp(f);
          if (!arp || arp->opcode != tf::kArpReply || arp->sender_ip != kKernelIp) return {};
          EXPECT_EQ(arp->target_mac, mac_);
          EXPECT_EQ(arp->target_ip, kOurIp);
          EXPECT_EQ(arp->eth_dst, mac_);
          return arp->sender_mac;
        });
  }

  // Waits for the echo reply with `seq`; returns the rx metadata of its packet.
  std::optional<PacketMeta> await_echo_reply(std::uint16_t seq,
                                             std::span<const std::byte> payload) {
    return await<PacketMeta>(
        [&](const Packet& p, std::span<const std::byte> f) -> std::optional<PacketMeta> {
          auto echo = tf::parse_icmp_echo_reply(f);
          if (!echo || echo->seq != seq) return {};
          EXPECT_EQ(echo->src_ip, kKernelIp);
          EXPECT_EQ(echo->dst_ip, kOurIp);
          EXPECT_EQ(echo->eth_dst, mac_);
          EXPECT_TRUE(std::equal(echo->payload.begin(), echo->payload.end(), payload.begin(),
                                 payload.end()));
          return p.meta;
        });
  }

  std::optional<testing::NetNs> ns_;
  std::string iface_;
  std::unique_ptr<DpdkDevice> dev_;
  MacAddress mac_;
  int frames_seen_ = 0;
  int arp_requests_answered_ = 0;
};

TEST_F(DpdkTap, KernelAnswersArpAndPingAndSendsUdp) {
  EXPECT_EQ(dev_->applied().driver, "net_tap");
  // For the log: what this PMD offered.
  const DpdkApplied& a = dev_->applied();
  std::printf(
      "net_tap applied: rx offloads %#llx, tx offloads %#llx, per-queue stats %d, "
      "chains linearised %d, rss %#llx\n",
      static_cast<unsigned long long>(a.rx_offloads),
      static_cast<unsigned long long>(a.tx_offloads), a.per_queue_stats, a.tx_chains_linearized,
      static_cast<unsigned long long>(a.rss_hash_types));
  for (const auto& n : a.notes) std::printf("net_tap note: %s\n", n.c_str());
  EXPECT_FALSE(mac_.is_zero());
  const auto link_deadline = Clock::now() + kWait;
  while (dev_->link() != LinkState::kUp && Clock::now() < link_deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(dev_->link(), LinkState::kUp);

  // ARP: a hand-built request; the kernel's reply names its MAC.
  std::optional<MacAddress> kernel_mac = resolve_kernel();
  ASSERT_TRUE(kernel_mac) << "no ARP reply from the kernel within 3 s";

  // ICMP echo as one segment, with the IPv4 header checksum left to the PMD when it offers that.
  const auto payload = tf::bytes_of("coronet over dpdk net_tap, segment one");
  std::vector<std::byte> ping =
      tf::build_icmp_echo(mac_, *kernel_mac, kOurIp, kKernelIp, 0x4242, 1, payload);
  PacketMeta meta;
  if (dev_->info().offloads.tx_ipv4_checksum) {
    ping[tf::kEtherHeaderLen + 10] = std::byte{0};  // the IPv4 header checksum field
    ping[tf::kEtherHeaderLen + 11] = std::byte{0};
    meta.flags = offload::kTxIpv4Csum;
    meta.l2_len = tf::kEtherHeaderLen;
    meta.l3_len = 20;
  }
  send(ping, {}, meta);
  std::optional<PacketMeta> reply = await_echo_reply(1, payload);
  ASSERT_TRUE(reply) << "no echo reply within 3 s (tx checksum offload: "
                     << dev_->info().offloads.tx_ipv4_checksum << ")";
  EXPECT_EQ(reply->queue, 0);
  if (dev_->info().offloads.rx_ipv4_checksum) {
    EXPECT_TRUE(reply->flags & offload::kRxIpv4CsumGood) << "flags " << reply->flags;
  }

  // The same as a three-segment chain: header | IP+ICMP headers | payload.
  const auto payload2 = tf::bytes_of("second echo, sent as a chain of three mbufs");
  std::vector<std::byte> ping2 =
      tf::build_icmp_echo(mac_, *kernel_mac, kOurIp, kKernelIp, 0x4242, 2, payload2);
  send(ping2, {tf::kEtherHeaderLen, tf::kEtherHeaderLen + 28});
  ASSERT_TRUE(await_echo_reply(2, payload2)) << "no reply to the chained echo within 3 s";

  // Frames the kernel originates: with its neighbour entry for us flushed, a UDP datagram from a
  // shell in the namespace makes the kernel ARP for 198.18.1.2 first (await() answers), then send.
  auto sent = ns_->exec("ip neigh flush dev " + iface_ +
                        " && bash -c \"echo -n kernel-said-hello > /dev/udp/198.18.1.2/7777\"");
  ASSERT_TRUE(sent) << sent.error().message();
  std::optional<PacketMeta> udp_meta = await<PacketMeta>(
      [&](const Packet& p, std::span<const std::byte> f) -> std::optional<PacketMeta> {
        auto udp = tf::parse_udp(f);
        if (!udp || udp->dst_port != 7777) return {};
        EXPECT_EQ(udp->src_ip, kKernelIp);
        EXPECT_EQ(udp->dst_ip, kOurIp);
        EXPECT_EQ(udp->eth_dst, mac_);
        EXPECT_EQ(udp->payload, tf::bytes_of("kernel-said-hello"));
        return p.meta;
      });
  ASSERT_TRUE(udp_meta) << "the kernel's UDP datagram did not arrive within 3 s";
  EXPECT_GE(arp_requests_answered_, 1) << "the kernel had to ask for our MAC";
  if (dev_->info().offloads.rx_l4_checksum) {
    EXPECT_TRUE(udp_meta->flags & offload::kRxL4CsumGood) << "flags " << udp_meta->flags;
  }

  // Books: every frame we saw was counted, every packet went back to its pool.
  EXPECT_EQ(dev_->pool(0).stats().in_use, 0u);
  DpdkCounters c = dev_->counters(0);
  EXPECT_EQ(c.rx_packets, static_cast<std::uint64_t>(frames_seen_));
  EXPECT_EQ(c.tx_packets, static_cast<std::uint64_t>(3 + arp_requests_answered_));
  EXPECT_EQ(c.tx_copied, 0u) << "net_tap takes chains as they are";
  std::printf("frames seen %d, ARP requests answered %d, rx flags echo %#x udp %#x\n", frames_seen_,
              arp_requests_answered_, reply->flags, udp_meta->flags);
  EXPECT_GE(dev_->rx_stats(0).packets, c.rx_packets);
  EXPECT_EQ(dev_->tx_stats(0).packets, c.tx_packets);
  EXPECT_EQ(dev_->tx_stats(0).bytes, c.tx_bytes);
}

}  // namespace
}  // namespace coronet::nic
