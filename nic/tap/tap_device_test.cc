// TapDevice against the Linux kernel: frames built by hand go out through the TAP, the kernel's
// answers come back and are parsed by hand. Every test runs once per IoMode, in its own namespace.
#include "nic/tap/tap_device.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <array>
#include <thread>

#include "nic/tap/tap_test_fixture.h"

namespace coronet::nic::tap_test {
namespace {

using TapKernelTest = TapTest;

TEST_P(TapKernelTest, KernelAnswersOurArpRequest) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  ASSERT_EQ(send(tf::build_arp_request(kOurMac, kOurIp, kKernelIp)), 1u);

  auto frame = receive([](const Frame& f) {
    auto a = tf::parse_arp(f);
    return a && a->opcode == tf::kArpReply;
  });
  ASSERT_TRUE(frame) << "no ARP reply within 2 s (" << skipped_ << " other frames)";
  auto reply = *tf::parse_arp(*frame);
  const MacAddress kmac = kernel_mac();
  EXPECT_EQ(reply.eth_dst, kOurMac);
  EXPECT_EQ(reply.eth_src, kmac);
  EXPECT_EQ(reply.sender_mac, kmac);
  EXPECT_EQ(reply.sender_ip, kKernelIp);
  EXPECT_EQ(reply.target_mac, kOurMac);
  EXPECT_EQ(reply.target_ip, kOurIp);

  EXPECT_EQ(dev_->tx_stats(0).packets, 1u);
  EXPECT_EQ(dev_->tx_stats(0).bytes, 42u);
  EXPECT_GE(dev_->rx_stats(0).packets, 1u);
  EXPECT_EQ(dev_->rx_stats(0).errors, 0u);
}

TEST_P(TapKernelTest, KernelAnswersOurIcmpEcho) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  const auto payload = tf::bytes_of("coronet says hello to the kernel 0123456789");
  ASSERT_EQ(send(tf::build_icmp_echo(kOurMac, kernel_mac(), kOurIp, kKernelIp, 0xc0de, 7, payload)),
            1u);

  // The kernel asks who 198.18.0.2 is before it answers; receive() replies to that.
  auto frame = receive([](const Frame& f) { return tf::parse_icmp_echo_reply(f).has_value(); });
  ASSERT_TRUE(frame) << "no echo reply within 2 s (" << skipped_ << " other frames)";
  auto reply = *tf::parse_icmp_echo_reply(*frame);
  EXPECT_EQ(reply.eth_dst, kOurMac);
  EXPECT_EQ(reply.src_ip, kKernelIp);
  EXPECT_EQ(reply.dst_ip, kOurIp);
  EXPECT_EQ(reply.id, 0xc0de);
  EXPECT_EQ(reply.seq, 7);
  EXPECT_EQ(reply.payload, payload);
}

TEST_P(TapKernelTest, ReceivesUdpDatagramSentByKernel) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  add_static_neighbour();
  auto sock = kernel_udp(4000);
  const auto payload = tf::bytes_of("a datagram from the kernel, byte for byte");
  ASSERT_TRUE(sock.send_to_us(5000, payload));

  auto frame = receive([](const Frame& f) { return tf::parse_udp(f).has_value(); });
  ASSERT_TRUE(frame) << "no UDP frame within 2 s";
  auto d = *tf::parse_udp(*frame);
  EXPECT_EQ(d.eth_dst, kOurMac);
  EXPECT_EQ(d.eth_src, kernel_mac());
  EXPECT_EQ(d.src_ip, kKernelIp);
  EXPECT_EQ(d.dst_ip, kOurIp);
  EXPECT_EQ(d.src_port, 4000);
  EXPECT_EQ(d.dst_port, 5000);
  EXPECT_EQ(d.payload, payload);
  EXPECT_EQ(frame->size(), 14u + 20 + 8 + payload.size()) << "TAP frames carry no padding";
  EXPECT_EQ(skipped_, 0) << "IPv6 is off: the kernel should send nothing else";
}

TEST_P(TapKernelTest, KernelReceivesOurUdpDatagram) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  add_static_neighbour();  // so the kernel does not need to ARP for its (unsent) replies
  auto sock = kernel_udp(4001);
  const auto payload = tf::bytes_of("a datagram from coronet, byte for byte");
  auto frame = tf::build_udp(kOurMac, kernel_mac(), kOurIp, kKernelIp, 5001, 4001, payload);
  ASSERT_EQ(send(frame), 1u);
  auto got = sock.recv();
  ASSERT_TRUE(got) << "kernel socket received nothing: " << std::strerror(errno);
  EXPECT_EQ(*got, payload);
}

TEST_P(TapKernelTest, ChainedTxFrameIsSentWhole) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  add_static_neighbour();
  auto sock = kernel_udp(4002);
  Frame payload(1000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte(i * 7);
  auto frame = tf::build_udp(kOurMac, kernel_mac(), kOurIp, kKernelIp, 5002, 4002, payload);
  // Headers in one segment, payload in the next, as a stack that prepends headers would send.
  ASSERT_EQ(send(frame, 42), 1u);
  auto got = sock.recv();
  ASSERT_TRUE(got) << "kernel socket received nothing: " << std::strerror(errno);
  EXPECT_EQ(*got, payload);
  EXPECT_EQ(dev_->tx_stats(0).bytes, frame.size());
}

TEST_P(TapKernelTest, BurstOfKernelFramesArrivesInOrder) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  add_static_neighbour();
  auto sock = kernel_udp(4003);
  constexpr int kCount = 200;  // below the TAP queue length (500), so nothing is dropped
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(sock.send_to_us(5003, tf::bytes_of("seq " + std::to_string(i))));
  }
  std::vector<std::string> got;
  bool all = receive_until([&] { return got.size() >= kCount; },
                           [&](Frame f) {
                             if (auto d = tf::parse_udp(f)) {
                               got.emplace_back(reinterpret_cast<char*>(d->payload.data()),
                                                d->payload.size());
                             }
                           });
  ASSERT_TRUE(all) << "received " << got.size() << " of " << kCount;
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(got[i], "seq " + std::to_string(i));
  EXPECT_EQ(dev_->rx_stats(0).packets, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(dev_->rx_stats(0).drops, 0u);
}

TEST_P(TapKernelTest, OneBurstTakesEveryQueuedFrameUpToItsSize) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  add_static_neighbour();
  auto sock = kernel_udp(4005);
  constexpr std::size_t kQueued = 20;  // more than kUring's default 8 reads in flight
  for (std::size_t i = 0; i < kQueued; ++i) ASSERT_TRUE(sock.send_to_us(5005, Frame(8)));
  std::this_thread::sleep_for(50ms);  // let the kernel finish queueing them on the TAP
  std::array<Packet*, 32> burst;
  const std::size_t n = dev_->rx_burst(0, burst);
  EXPECT_EQ(n, kQueued);
  PacketPool::free_bulk(std::span(burst).first(n));
  std::array<Packet*, 4> small;
  ASSERT_EQ(dev_->rx_burst(0, small), 0u) << "nothing left over";
}

TEST_P(TapKernelTest, RxFdBecomesReadableWhenKernelSendsAFrame) {
  ASSERT_NO_FATAL_FAILURE(open_and_configure());
  add_static_neighbour();
  std::array<Packet*, 8> burst;
  ASSERT_EQ(dev_->rx_burst(0, burst), 0u) << "nothing sent yet";
  pollfd pfd{dev_->rx_fd(0), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 0), 0) << "readable before anything was sent";

  auto sock = kernel_udp(4004);
  ASSERT_TRUE(sock.send_to_us(5004, tf::bytes_of("wake up")));
  ASSERT_EQ(::poll(&pfd, 1, 2000), 1) << "rx_fd did not become readable within 2 s";
  EXPECT_TRUE(pfd.revents & POLLIN);
  ASSERT_EQ(dev_->rx_burst(0, burst), 1u);
  EXPECT_TRUE(tf::parse_udp(burst[0]->bytes()));
  PacketPool::free(burst[0]);
}

TEST_P(TapKernelTest, BringUpSetsTheKernelInterfaceUp) {
  ASSERT_NO_FATAL_FAILURE(open(config()));
  EXPECT_EQ(dev_->link(), LinkState::kDown);
  auto r = dev_->bring_up();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(dev_->link(), LinkState::kUp);
  EXPECT_NE(exec(std::string("ip -o link show ") + kIfName).find(",UP"), std::string::npos);
  EXPECT_TRUE(dev_->bring_up()) << "bringing an up interface up is a no-op";
}

TEST_P(TapKernelTest, ReportsNameMacAndMtu) {
  ASSERT_NO_FATAL_FAILURE(open(config()));
  EXPECT_EQ(dev_->ifname(), kIfName);
  EXPECT_EQ(dev_->info().name, kIfName);
  EXPECT_EQ(dev_->info().mac, kOurMac);
  EXPECT_EQ(dev_->info().mtu, 1500);
  EXPECT_EQ(dev_->max_frame(), 1514u);
  EXPECT_EQ(dev_->io_mode(), GetParam());
  EXPECT_GE(dev_->rx_fd(0), 0);
  EXPECT_EQ(dev_->rx_fd(1), -1);
}

TEST_P(TapKernelTest, KernelChoosesTheNameWhenNoneIsGiven) {
  TapConfig c = config();
  c.ifname.clear();
  ASSERT_NO_FATAL_FAILURE(open(c));
  EXPECT_EQ(dev_->ifname().rfind("tap", 0), 0u) << dev_->ifname();
  EXPECT_FALSE(exec("ip -o link show " + dev_->ifname()).empty());
}

TEST_P(TapKernelTest, SameNameReopensRightAfterClose) {
  // io_uring drops its file references asynchronously; the device must wait for its reads so
  // that the interface is free again the moment the destructor returns.
  for (int i = 0; i < 3; ++i) {
    dev_.reset();
    ASSERT_NO_FATAL_FAILURE(open(config())) << "round " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(IoModes, TapKernelTest, ::testing::Values(IoMode::kReadv, IoMode::kUring),
                         mode_name);

}  // namespace
}  // namespace coronet::nic::tap_test
