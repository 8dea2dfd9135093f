// The engine's loop: rx burst -> layers -> TCP batch -> flush -> one tx burst; counters for
// every drop; the TCP hooks (with a stand-in TcpLayer defined in this test binary).
#include "stack/engine.h"

#include <gtest/gtest.h>

#include <vector>

#include "nic/packet_pool.h"
#include "stack/testing/engine_fixture.h"

// A stand-in for stack/tcp's TcpLayer with the same engine-facing surface. The real one is not
// linked into this test, so this is the only definition of the class here.
namespace coronet::stack::tcp {
class SeqNum {
 public:
  constexpr SeqNum() = default;
  constexpr explicit SeqNum(std::uint32_t v) : v_(v) {}
  constexpr std::uint32_t raw() const { return v_; }

 private:
  std::uint32_t v_ = 0;
};
struct IcmpErrorInfo {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  std::uint16_t next_hop_mtu = 0;
  Endpoint local;
  Endpoint remote;
  SeqNum seq;
};
class TcpLayer {
 public:
  explicit TcpLayer(Engine& engine) : engine_(engine) { engine_.attach_tcp(this); }
  ~TcpLayer() {
    if (engine_.tcp() == this) engine_.attach_tcp(nullptr);
  }
  void input(nic::Packet* p, const IpRxInfo& info) {
    events.push_back('i');
    segments.push_back(info);
    first_bytes.push_back(p->size() > 0 ? static_cast<int>(p->data()[0]) : -1);
    nic::PacketPool::free(p);
  }
  void icmp_error(const IcmpErrorInfo& info) {
    events.push_back('e');
    errors.push_back(info);
  }
  void flush() { events.push_back('f'); }

  std::string events;
  std::vector<IpRxInfo> segments;
  std::vector<int> first_bytes;
  std::vector<IcmpErrorInfo> errors;

 private:
  Engine& engine_;
};
}  // namespace coronet::stack::tcp

namespace coronet::stack {
namespace {

using namespace std::chrono_literals;
using testing::Bytes;
using testing::EngineFixture;
using testing::eth;
using testing::Ip;
using testing::kEthIpv4;
using testing::kOtherMac;
using testing::kOurIp;
using testing::kOurMac;
using testing::kPeerIp;
using testing::kPeerMac;

Bytes echo_frame(std::uint16_t seq = 1) {
  return eth(kOurMac, kPeerMac, kEthIpv4,
             testing::ipv4(Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 1},
                           testing::icmp(8, 0, seq, testing::pattern(8))));
}
Bytes tcp_frame(std::uint8_t first_byte) {
  Bytes seg = testing::pattern(20, first_byte);
  return eth(kOurMac, kPeerMac, kEthIpv4,
             testing::ipv4(Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 6}, seg));
}

TEST(Engine, RuntFramesAreDroppedAndCounted) {
  EngineFixture f;
  f.rx(testing::bytes({1, 2, 3}));
  EXPECT_EQ(f.engine.stats().rx_bad_ether, 1u);
  EXPECT_EQ(f.engine.link().stats().rx_runt, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST(Engine, UnknownEtherTypesAreDroppedAndCounted) {
  EngineFixture f;
  f.rx(eth(kOurMac, kPeerMac, 0x86dd, testing::pattern(40)));
  EXPECT_EQ(f.engine.link().stats().rx_unknown_type, 1u);
  EXPECT_EQ(f.engine.stats().rx_bad_ether, 1u);
}

TEST(Engine, FramesForAnotherStationAreDroppedAndCounted) {
  EngineFixture f;
  f.rx(eth(kOtherMac, kPeerMac, kEthIpv4, testing::pattern(40)));
  EXPECT_EQ(f.engine.stats().rx_not_for_us, 1u);
  EXPECT_TRUE(f.sent().empty());
}

TEST(Engine, FramesFromAGroupAddressAreDroppedAndCounted) {
  EngineFixture f;
  f.rx(eth(kOurMac, nic::MacAddress::broadcast(), kEthIpv4, testing::pattern(40)));
  EXPECT_EQ(f.engine.link().stats().rx_bad_source, 1u);
}

TEST(Engine, PollReportsWhetherItDidAnything) {
  EngineFixture f;
  EXPECT_FALSE(f.engine.poll());
  f.dev.inject(echo_frame());
  EXPECT_TRUE(f.engine.poll());
}

TEST(Engine, AllRepliesOfABurstLeaveInOneTxBurst) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  const auto bursts = f.dev.tx_bursts();
  for (std::uint16_t i = 0; i < 5; ++i) f.dev.inject(echo_frame(i));
  f.engine.poll();
  EXPECT_EQ(f.dev.tx_bursts(), bursts + 1);
  EXPECT_EQ(f.dev.take_sent().size(), 5u);
}

TEST(Engine, TheRxBurstSizeBoundsOnePoll) {
  auto c = testing::test_config();
  c.rx_burst = 2;
  EngineFixture f(c);
  for (std::uint16_t i = 0; i < 5; ++i) f.dev.inject(echo_frame(i));
  f.engine.poll();
  EXPECT_EQ(f.dev.rx_pending(), 3u);
}

TEST(Engine, FramesTheDeviceRefusesAreCountedNotLeaked) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  f.dev.set_tx_limit(0);
  f.rx(echo_frame());
  EXPECT_EQ(f.engine.stats().tx_device_full, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST(Engine, NextEventForwardsTheDevicesNextRxTime) {
  EngineFixture f;
  EXPECT_FALSE(f.engine.next_event());
  f.dev.inject(echo_frame());
  EXPECT_EQ(f.engine.next_event(), f.dev.next_rx_time(0));
  f.engine.poll();
  EXPECT_FALSE(f.engine.next_event());
}

TEST(Engine, NextEventIsNowWhileFramesWaitForAFlush) {
  EngineFixture f;
  ASSERT_TRUE(f.engine.send_gratuitous_arp());  // queued, not flushed
  EXPECT_EQ(f.engine.next_event(), f.vr.reactor.now());
}

TEST(Engine, AllocTxLeavesRoomForLinkAndIpHeaders) {
  EngineFixture f;
  nic::Packet* p = f.engine.alloc_tx();
  ASSERT_NE(p, nullptr);
  EXPECT_GE(p->headroom(), kLinkAndIpHeadroom);
  nic::PacketPool::free(p);
}

TEST(Engine, AllocTxCountsAnExhaustedPool) {
  auto d = testing::test_device();
  d.pool.count = 2;
  EngineFixture f(testing::test_config(), d);
  nic::Packet* a = f.engine.alloc_tx();
  nic::Packet* b = f.engine.alloc_tx();
  EXPECT_EQ(f.engine.alloc_tx(), nullptr);
  EXPECT_EQ(f.engine.stats().tx_no_buffer, 1u);
  nic::PacketPool::free(a);
  nic::PacketPool::free(b);
}

TEST(Engine, ImpossibleConfigurationsAreRefusedAtStartUp) {
  coro::testing::VirtualReactor vr;
  testing::FakeDevice dev(testing::test_device());
  auto c = testing::test_config();
  c.address = Ipv4Address::any();
  EXPECT_THROW(Engine(vr.reactor, dev, c), std::invalid_argument);
  c = testing::test_config();
  c.rx_burst = 0;
  EXPECT_THROW(Engine(vr.reactor, dev, c), std::invalid_argument);
  c = testing::test_config();
  c.queue = 1;
  EXPECT_THROW(Engine(vr.reactor, dev, c), std::invalid_argument);
}

TEST(Engine, TheEngineRunsAsAReactorPollSource) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  f.dev.inject(echo_frame());
  f.vr.drain();
  EXPECT_EQ(f.dev.take_sent().size(), 1u);
}

// ---- TCP hooks ---------------------------------------------------------------------------

TEST(EngineTcp, SegmentsOfABurstReachTcpTogetherBeforeOneFlush) {
  EngineFixture f;
  tcp::TcpLayer tcp(f.engine);
  f.dev.inject(tcp_frame(1));
  f.dev.inject(echo_frame());
  f.dev.inject(tcp_frame(2));
  f.engine.poll();
  EXPECT_EQ(tcp.events, "iif");
  EXPECT_EQ(tcp.first_bytes, (std::vector<int>{1, 2}));
  f.engine.poll();
  EXPECT_EQ(tcp.events, "iiff");  // flush runs every poll, even without input
}

TEST(EngineTcp, SegmentsStartAtTheTcpHeaderWithTheirIpInfo) {
  EngineFixture f;
  tcp::TcpLayer tcp(f.engine);
  f.rx(tcp_frame(9));
  ASSERT_EQ(tcp.segments.size(), 1u);
  const IpRxInfo& info = tcp.segments[0];
  EXPECT_EQ(info.src, kPeerIp);
  EXPECT_EQ(info.dst, kOurIp);
  EXPECT_EQ(info.protocol, kProtoTcp);
  EXPECT_EQ(info.header_len, 20);
  EXPECT_FALSE(info.l4_checksum_verified);
}

TEST(EngineTcp, TheDevicesL4VerdictIsPassedOn) {
  EngineFixture f;
  tcp::TcpLayer tcp(f.engine);
  f.rx(tcp_frame(9), nic::offload::kRxL4CsumGood);
  ASSERT_EQ(tcp.segments.size(), 1u);
  EXPECT_TRUE(tcp.segments[0].l4_checksum_verified);
}

TEST(EngineTcp, AnIcmpErrorAboutOurSegmentReachesTcpAfterEarlierSegments) {
  EngineFixture f;
  tcp::TcpLayer tcp(f.engine);
  Bytes our_segment = testing::bytes({0x1f, 0x90, 0x00, 0x50, 0xde, 0xad, 0xbe, 0xef});
  Bytes quoted = testing::ipv4(Ip{.src = kOurIp, .dst = kPeerIp, .protocol = 6}, our_segment);
  f.dev.inject(tcp_frame(1));
  f.dev.inject(eth(kOurMac, kPeerMac, kEthIpv4,
                   testing::ipv4(Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 1},
                                 testing::icmp(3, 4, 1280, quoted))));
  f.engine.poll();
  EXPECT_EQ(tcp.events, "ief");
  ASSERT_EQ(tcp.errors.size(), 1u);
  const tcp::IcmpErrorInfo& e = tcp.errors[0];
  EXPECT_EQ(e.type, 3);
  EXPECT_EQ(e.code, 4);
  EXPECT_EQ(e.next_hop_mtu, 1280);
  EXPECT_EQ(e.local, (Endpoint{kOurIp, 8080}));
  EXPECT_EQ(e.remote, (Endpoint{kPeerIp, 80}));
  EXPECT_EQ(e.seq.raw(), 0xdeadbeefu);
}

TEST(EngineTcp, AnArpFailureReachesTcpAsHostUnreachable) {
  EngineFixture f;
  tcp::TcpLayer tcp(f.engine);
  nic::Packet* p = f.engine.alloc_tx();
  std::byte* h = p->append(20);
  Bytes seg = testing::bytes({0x1f, 0x90, 0x00, 0x50, 0, 0, 0, 7});
  std::copy(seg.begin(), seg.end(), h);
  ASSERT_TRUE(f.engine.ip_send(p, Ipv4Address(10, 0, 0, 77), kProtoTcp));
  f.advance(10s);
  ASSERT_EQ(tcp.errors.size(), 1u);
  EXPECT_EQ(tcp.errors[0].type, 3);
  EXPECT_EQ(tcp.errors[0].code, 1);
  EXPECT_EQ(tcp.errors[0].seq.raw(), 7u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST(EngineTcp, WithoutTcpSegmentsGetProtocolUnreachable) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  {
    tcp::TcpLayer tcp(f.engine);
    EXPECT_EQ(f.engine.tcp(), &tcp);
  }
  EXPECT_EQ(f.engine.tcp(), nullptr);
  f.rx(tcp_frame(1));
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(testing::parse_icmp(testing::parse_ip_frame(sent[0].bytes).payload).code, 2);
  EXPECT_EQ(f.engine.stats().rx_no_transport, 1u);
}

}  // namespace
}  // namespace coronet::stack
