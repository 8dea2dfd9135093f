// IPv4 send path through the engine: header, routing, MTU/DF, offload, broadcast.
#include <gtest/gtest.h>

#include "stack/testing/engine_fixture.h"

namespace coronet::stack::ipv4 {
namespace {

using testing::EngineFixture;
using testing::kGatewayIp;
using testing::kGatewayMac;
using testing::kOurIp;
using testing::kOurMac;
using testing::kPeerIp;
using testing::kPeerMac;
using testing::kRemoteIp;

constexpr std::uint8_t kTestProto = 253;  // RFC 3692 experimentation

// A packet with `n` bytes of transport payload, as a transport would hand it to ip_send.
nic::Packet* payload(EngineFixture& f, std::size_t n) {
  nic::Packet* p = f.engine.alloc_tx();
  std::byte* at = p->append(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) at[i] = static_cast<std::byte>(i);
  return p;
}

TEST(Ipv4Output, BuildsAHeaderWithTheDefaults) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  ASSERT_TRUE(f.engine.ip_send(payload(f, 10), kPeerIp, kTestProto));
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  auto e = testing::parse_eth(sent[0].bytes);
  EXPECT_EQ(e.dst, kPeerMac);
  EXPECT_EQ(e.src, kOurMac);
  auto ip = testing::parse_ip(e.payload);
  ASSERT_TRUE(ip.ok);
  EXPECT_EQ(ip.version, 4);
  EXPECT_EQ(ip.header_len, 20);
  EXPECT_EQ(ip.total_len, 30);
  EXPECT_EQ(ip.ttl, 64);
  EXPECT_TRUE(ip.df);
  EXPECT_FALSE(ip.mf);
  EXPECT_EQ(ip.protocol, kTestProto);
  EXPECT_EQ(ip.src, kOurIp);
  EXPECT_EQ(ip.dst, kPeerIp);
  EXPECT_TRUE(ip.checksum_ok);
  EXPECT_EQ(ip.payload, testing::pattern(10));
  EXPECT_EQ(sent[0].meta.l2_len, 14);
  EXPECT_EQ(sent[0].meta.l3_len, 20);
}

TEST(Ipv4Output, HonoursTtlTosAndDf) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  ASSERT_TRUE(f.engine.ip_send(payload(f, 4), kPeerIp, kTestProto,
                               IpSendOptions{.ttl = 3, .tos = 0x10, .dont_fragment = false}));
  auto ip = testing::parse_ip_frame(f.sent()[0].bytes);
  EXPECT_EQ(ip.ttl, 3);
  EXPECT_EQ(ip.tos, 0x10);
  EXPECT_FALSE(ip.df);
}

TEST(Ipv4Output, IdentificationAdvancesPerDatagram) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  ASSERT_TRUE(f.engine.ip_send(payload(f, 4), kPeerIp, kTestProto));
  ASSERT_TRUE(f.engine.ip_send(payload(f, 4), kPeerIp, kTestProto));
  auto sent = f.sent();
  EXPECT_NE(testing::parse_ip_frame(sent[0].bytes).id, testing::parse_ip_frame(sent[1].bytes).id);
}

TEST(Ipv4Output, OffLinkDestinationsGoThroughTheGateway) {
  EngineFixture f;
  ASSERT_TRUE(f.engine.ip_send(payload(f, 4), kRemoteIp, kTestProto));
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(testing::parse_arp(testing::parse_eth(sent[0].bytes).payload).tpa, kGatewayIp);
  f.rx(testing::eth(kOurMac, kGatewayMac, testing::kEthArp,
                    testing::arp(2, kGatewayMac, kGatewayIp, kOurMac, kOurIp)));
  sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(testing::parse_eth(sent[0].bytes).dst, kGatewayMac);
  EXPECT_EQ(testing::parse_ip_frame(sent[0].bytes).dst, kRemoteIp);
}

TEST(Ipv4Output, OffLinkWithoutAGatewayIsHostUnreachable) {
  auto c = testing::test_config();
  c.gateway.reset();
  EngineFixture f(c);
  Result<void> r = f.engine.ip_send(payload(f, 4), kRemoteIp, kTestProto);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kHostUnreachable);
  EXPECT_EQ(f.engine.stats().tx_no_route, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST(Ipv4Output, ADatagramLargerThanTheMtuIsRefusedWithDf) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  ASSERT_TRUE(f.engine.ip_send(payload(f, 1480), kPeerIp, kTestProto));  // exactly 1500
  Result<void> r = f.engine.ip_send(payload(f, 1481), kPeerIp, kTestProto);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kMessageTooLong);
  EXPECT_EQ(f.engine.ipv4().stats().tx_too_big, 1u);
  EXPECT_EQ(f.sent().size(), 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST(Ipv4Output, ADatagramLargerThanTheMtuIsRefusedWithoutDfToo) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  Result<void> r = f.engine.ip_send(payload(f, 1481), kPeerIp, kTestProto,
                                    IpSendOptions{.dont_fragment = false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kMessageTooLong);  // no fragmentation on send
}

TEST(Ipv4Output, TheDeviceFillsTheHeaderChecksumWhenOffered) {
  auto d = testing::test_device();
  d.offloads.tx_ipv4_checksum = true;
  EngineFixture f(testing::test_config(), d);
  f.learn(kPeerIp, kPeerMac);
  ASSERT_TRUE(f.engine.ip_send(payload(f, 4), kPeerIp, kTestProto));
  auto sent = f.sent();
  EXPECT_NE(sent[0].meta.flags & nic::offload::kTxIpv4Csum, 0u);
  EXPECT_TRUE(testing::parse_ip_frame(sent[0].bytes).checksum_ok);  // as the device sent it
}

TEST(Ipv4Output, BroadcastsNeedNoResolution) {
  EngineFixture f;
  ASSERT_TRUE(f.engine.ip_send(payload(f, 4), testing::kSubnetBroadcast, kTestProto));
  ASSERT_TRUE(f.engine.ip_send(payload(f, 4), Ipv4Address::broadcast(), kTestProto));
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 2u);
  for (auto& s : sent) {
    auto e = testing::parse_eth(s.bytes);
    EXPECT_EQ(e.type, testing::kEthIpv4);
    EXPECT_EQ(e.dst, nic::MacAddress::broadcast());
  }
}

TEST(Ipv4Output, MulticastUsesTheMappedGroupAddress) {
  EngineFixture f;
  ASSERT_TRUE(f.engine.ip_send(payload(f, 4), Ipv4Address(224, 0, 0, 251), kTestProto));
  auto e = testing::parse_eth(f.sent()[0].bytes);
  EXPECT_EQ(e.dst, nic::MacAddress({0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}));
}

TEST(Ipv4Output, TheUnspecifiedAndLoopbackNetsAreRefused) {
  EngineFixture f;
  EXPECT_EQ(f.engine.ip_send(payload(f, 4), Ipv4Address::any(), kTestProto).error().code(),
            Errc::kInvalidArgument);
  EXPECT_EQ(f.engine.ip_send(payload(f, 4), Ipv4Address(127, 0, 0, 1), kTestProto).error().code(),
            Errc::kInvalidArgument);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

}  // namespace
}  // namespace coronet::stack::ipv4
