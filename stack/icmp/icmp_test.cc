// ICMP through the engine (RFC 792, RFC 1122 §3.2.2): echo, errors we send, errors we receive.
#include <gtest/gtest.h>

#include <array>

#include "stack/icmp/icmp_layer.h"
#include "stack/testing/engine_fixture.h"
#include "stack/udp/udp_socket.h"

namespace coronet::stack::icmp {
namespace {

using namespace std::chrono_literals;
using testing::Bytes;
using testing::EngineFixture;
using testing::eth;
using testing::Ip;
using testing::kEthIpv4;
using testing::kOurIp;
using testing::kOurMac;
using testing::kPeerIp;
using testing::kPeerMac;

Bytes icmp_frame(const Bytes& message, Ipv4Address dst = kOurIp,
                 nic::MacAddress eth_dst = kOurMac) {
  return eth(eth_dst, kPeerMac, kEthIpv4,
             testing::ipv4(Ip{.src = kPeerIp, .dst = dst, .protocol = 1, .tos = 0}, message));
}

// The ICMP messages the engine sent.
std::vector<testing::IcmpView> sent_icmp(EngineFixture& f,
                                         std::vector<testing::IpView>* ips = nullptr) {
  std::vector<testing::IcmpView> out;
  for (auto& s : f.sent()) {
    auto ip = testing::parse_ip_frame(s.bytes);
    if (!ip.ok || ip.protocol != 1) continue;
    out.push_back(testing::parse_icmp(ip.payload));
    if (ips != nullptr) ips->push_back(ip);
  }
  return out;
}

struct Icmp : ::testing::Test {
  Icmp() { f.learn(kPeerIp, kPeerMac); }
  std::vector<testing::IcmpView> sent_icmp(std::vector<testing::IpView>* ips = nullptr) {
    return icmp::sent_icmp(f, ips);
  }
  const IcmpStats& stats() { return f.engine.icmp().stats(); }
  EngineFixture f;
};

TEST_F(Icmp, AnEchoRequestIsAnsweredWithTheSameIdSequenceAndData) {
  Bytes data = testing::pattern(56, 17);
  f.rx(icmp_frame(testing::icmp(8, 0, 0xbeef0007, data)));
  std::vector<testing::IpView> ips;
  auto msgs = sent_icmp(&ips);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, 0);
  EXPECT_EQ(msgs[0].code, 0);
  EXPECT_EQ(msgs[0].rest, 0xbeef0007u);
  EXPECT_EQ(msgs[0].payload, data);
  EXPECT_TRUE(msgs[0].checksum_ok);
  EXPECT_EQ(ips[0].src, kOurIp);
  EXPECT_EQ(ips[0].dst, kPeerIp);
  EXPECT_TRUE(ips[0].checksum_ok);
}

TEST_F(Icmp, TheEchoReplyReusesTheRequestBuffer) {
  const auto allocs = f.dev.pool(0).stats().allocs;
  f.rx(icmp_frame(testing::icmp(8, 0, 1, testing::pattern(8))));
  EXPECT_EQ(f.dev.pool(0).stats().allocs, allocs + 1);  // the injected frame only
  EXPECT_EQ(sent_icmp().size(), 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(Icmp, ABadChecksumIsDropped) {
  f.rx(icmp_frame(testing::icmp(8, 0, 1, testing::pattern(8), /*bad_checksum=*/true)));
  EXPECT_TRUE(sent_icmp().empty());
  EXPECT_EQ(stats().rx_bad_checksum, 1u);
}

TEST_F(Icmp, AMessageShorterThanItsHeaderIsDropped) {
  f.rx(icmp_frame(testing::bytes({8, 0, 0xf7, 0xff})));
  EXPECT_EQ(stats().rx_truncated, 1u);
}

TEST_F(Icmp, EchoRequestsToBroadcastAreIgnored) {
  f.rx(icmp_frame(testing::icmp(8, 0, 1, {}), testing::kSubnetBroadcast,
                  nic::MacAddress::broadcast()));
  EXPECT_TRUE(sent_icmp().empty());
  EXPECT_EQ(stats().rx_broadcast_echo_ignored, 1u);
}

TEST_F(Icmp, EchoRepliesAreCounted) {
  f.rx(icmp_frame(testing::icmp(0, 0, 1, {})));
  EXPECT_EQ(stats().rx_echo_replies, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(Icmp, AClosedUdpPortIsAnsweredWithPortUnreachableQuotingTheDatagram) {
  Bytes frame = EngineFixture::udp_frame(kPeerIp, 5555, 9, testing::bytes_of("knock"));
  f.rx(frame);
  std::vector<testing::IpView> ips;
  auto msgs = sent_icmp(&ips);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, 3);
  EXPECT_EQ(msgs[0].code, 3);
  EXPECT_TRUE(msgs[0].checksum_ok);
  EXPECT_EQ(ips[0].dst, kPeerIp);
  // The quote is the offending IP header and (at least) 8 bytes of its data.
  Bytes offending(frame.begin() + 14, frame.end());
  EXPECT_EQ(msgs[0].payload, offending);
}

TEST_F(Icmp, NoPortUnreachableAboutABroadcastDatagram) {
  Bytes u = testing::udp(kPeerIp, Ipv4Address::broadcast(), 5555, 9, testing::bytes_of("x"));
  f.rx(eth(nic::MacAddress::broadcast(), kPeerMac, kEthIpv4,
           testing::ipv4(Ip{.src = kPeerIp, .dst = Ipv4Address::broadcast(), .protocol = 17}, u)));
  EXPECT_TRUE(sent_icmp().empty());
  EXPECT_EQ(f.engine.udp().stats().rx_no_port, 1u);
}

TEST_F(Icmp, NoErrorToASourceThatIsNotAHost) {
  Bytes u = testing::udp(Ipv4Address::any(), kOurIp, 68, 9, testing::bytes_of("x"));
  f.rx(eth(kOurMac, kPeerMac, kEthIpv4,
           testing::ipv4(Ip{.src = Ipv4Address::any(), .dst = kOurIp, .protocol = 17}, u)));
  EXPECT_TRUE(sent_icmp().empty());
  EXPECT_EQ(stats().tx_suppressed, 1u);
}

TEST_F(Icmp, NoErrorAboutAnIcmpError) {
  // An ICMP error quoting something, sent to us: answering it with an error is forbidden.
  Bytes m = testing::icmp(3, 3, 0, testing::pattern(28));
  Bytes ip = testing::ipv4(Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 1}, m);
  EXPECT_FALSE(
      f.engine.icmp().send_error_about(kDestUnreachable, kCodeProtocolUnreachable, ip, false));
  EXPECT_EQ(stats().tx_suppressed, 1u);
  // An ICMP query is fine to complain about.
  Bytes q = testing::ipv4(Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 1},
                          testing::icmp(13, 0, 0, testing::pattern(12)));
  EXPECT_TRUE(
      f.engine.icmp().send_error_about(kDestUnreachable, kCodeProtocolUnreachable, q, false));
}

TEST_F(Icmp, NoErrorAboutANonInitialFragment) {
  Bytes ip = testing::ipv4(Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 17, .frag_offset = 8},
                           testing::pattern(8));
  EXPECT_FALSE(f.engine.icmp().send_error_about(kDestUnreachable, kCodePortUnreachable, ip, false));
  EXPECT_EQ(stats().tx_suppressed, 1u);
}

TEST(IcmpRateLimit, ErrorsAreRateLimitedByATokenBucket) {
  auto c = testing::test_config();
  c.icmp.errors_per_second = 1;
  c.icmp.error_burst = 2;
  EngineFixture f(c);
  f.learn(kPeerIp, kPeerMac);
  for (int i = 0; i < 5; ++i) f.rx(EngineFixture::udp_frame(kPeerIp, 5555, 9, {}));
  EXPECT_EQ(sent_icmp(f).size(), 2u);
  EXPECT_EQ(f.engine.icmp().stats().tx_rate_limited, 3u);
  f.advance(1s);
  f.rx(EngineFixture::udp_frame(kPeerIp, 5555, 9, {}));
  f.rx(EngineFixture::udp_frame(kPeerIp, 5555, 9, {}));
  EXPECT_EQ(sent_icmp(f).size(), 1u);  // one token per second
}

TEST(IcmpRateLimit, ZeroErrorsPerSecondSendsNone) {
  auto c = testing::test_config();
  c.icmp.errors_per_second = 0;
  EngineFixture f(c);
  f.learn(kPeerIp, kPeerMac);
  f.rx(EngineFixture::udp_frame(kPeerIp, 5555, 9, {}));
  EXPECT_TRUE(sent_icmp(f).empty());
}

TEST(IcmpEchoBroadcast, BroadcastEchoIsAnsweredWhenConfigured) {
  auto c = testing::test_config();
  c.icmp.echo_broadcast = true;
  EngineFixture f(c);
  f.learn(kPeerIp, kPeerMac);
  f.rx(icmp_frame(testing::icmp(8, 0, 1, {}), testing::kSubnetBroadcast,
                  nic::MacAddress::broadcast()));
  std::vector<testing::IpView> ips;
  ASSERT_EQ(sent_icmp(f, &ips).size(), 1u);
  EXPECT_EQ(ips[0].src, kOurIp);  // from our own address, never the broadcast one
}

TEST_F(Icmp, AnUnknownProtocolIsAnsweredWithProtocolUnreachable) {
  f.rx(eth(kOurMac, kPeerMac, kEthIpv4,
           testing::ipv4(Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 99}, testing::pattern(8))));
  auto msgs = sent_icmp();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, 3);
  EXPECT_EQ(msgs[0].code, 2);
  EXPECT_EQ(f.engine.stats().rx_no_transport, 1u);
}

TEST_F(Icmp, TcpWithoutATcpLayerIsProtocolUnreachable) {
  f.rx(eth(kOurMac, kPeerMac, kEthIpv4,
           testing::ipv4(Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 6}, testing::pattern(20))));
  auto msgs = sent_icmp();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].code, 2);
}

// ---- Errors we receive -------------------------------------------------------------------

Bytes quote_of_our_udp(std::uint16_t local_port) {
  return testing::ipv4(Ip{.src = kOurIp, .dst = kPeerIp, .protocol = 17},
                       testing::udp(kOurIp, kPeerIp, local_port, 53, testing::bytes_of("q")));
}

TEST(QuotedDatagram, YieldsTheEndpointsOfOurDatagram) {
  auto r = parse_quoted(quote_of_our_udp(4000), kOurIp);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->protocol, 17);
  EXPECT_EQ(r->local, (Endpoint{kOurIp, 4000}));
  EXPECT_EQ(r->remote, (Endpoint{kPeerIp, 53}));
}

TEST(QuotedDatagram, YieldsTheTcpSequenceNumber) {
  Bytes tcp = testing::bytes({0x1f, 0x90, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78});
  auto r =
      parse_quoted(testing::ipv4(Ip{.src = kOurIp, .dst = kPeerIp, .protocol = 6}, tcp), kOurIp);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->local.port, 8080);
  EXPECT_EQ(r->remote.port, 80);
  EXPECT_EQ(r->tcp_seq, 0x12345678u);
}

TEST(QuotedDatagram, RejectsAQuoteShorterThanHeaderPlus8) {
  Bytes q = quote_of_our_udp(4000);
  q.resize(27);
  EXPECT_FALSE(parse_quoted(q, kOurIp));
}

TEST(QuotedDatagram, RejectsADatagramSomeoneElseSent) {
  EXPECT_FALSE(parse_quoted(quote_of_our_udp(4000), Ipv4Address(10, 0, 0, 99)));
}

TEST_F(Icmp, AnErrorQuotingSomeoneElsesDatagramIsIgnored) {
  Bytes q = testing::ipv4(Ip{.src = Ipv4Address(10, 0, 0, 9), .dst = kPeerIp, .protocol = 17},
                          testing::udp(Ipv4Address(10, 0, 0, 9), kPeerIp, 1, 2, {}));
  f.rx(icmp_frame(testing::icmp(3, 3, 0, q)));
  EXPECT_EQ(stats().rx_errors_unusable, 1u);
  EXPECT_EQ(stats().rx_errors, 0u);
}

TEST_F(Icmp, SourceQuenchIsIgnored) {
  f.rx(icmp_frame(testing::icmp(4, 0, 0, quote_of_our_udp(7000))));
  EXPECT_EQ(stats().rx_source_quench, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(Icmp, DestinationUnreachableReachesTheUdpSocket) {
  auto sock = udp::UdpSocket::bind(f.engine, 7000);
  f.rx(icmp_frame(testing::icmp(3, 3, 0, quote_of_our_udp(7000))));
  EXPECT_EQ(stats().rx_errors, 1u);
  std::array<std::byte, 16> buf{};
  EXPECT_EQ(sock->try_recv_from(buf).error().code(), Errc::kConnectionRefused);
}

TEST_F(Icmp, NoErrorIsEverSentInReplyToAnError) {
  auto sock = udp::UdpSocket::bind(f.engine, 7000);
  f.rx(icmp_frame(testing::icmp(3, 3, 0, quote_of_our_udp(7000))));
  f.rx(icmp_frame(testing::icmp(11, 0, 0, quote_of_our_udp(7001))));
  EXPECT_TRUE(sent_icmp().empty());
}

}  // namespace
}  // namespace coronet::stack::icmp
