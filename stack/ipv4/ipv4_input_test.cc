// IPv4 receive path through the engine (RFC 791 §3.1, RFC 1122 §3.2.1). An echo request is the
// probe: a datagram that passes validation is answered.
#include <gtest/gtest.h>

#include "stack/testing/engine_fixture.h"

namespace coronet::stack::ipv4 {
namespace {

using testing::Bytes;
using testing::EngineFixture;
using testing::eth;
using testing::Ip;
using testing::kEthIpv4;
using testing::kOurIp;
using testing::kOurMac;
using testing::kPeerIp;
using testing::kPeerMac;

Bytes echo() { return testing::icmp(8, 0, 0x00010001, testing::bytes_of("probe")); }

Ip to_us() { return Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 1}; }

Bytes frame(const Bytes& ip_packet, nic::MacAddress dst = kOurMac) {
  return eth(dst, kPeerMac, kEthIpv4, ip_packet);
}

struct Ipv4Input : ::testing::Test {
  Ipv4Input() { f.learn(kPeerIp, kPeerMac); }
  // Number of echo replies the engine sent.
  std::size_t replies() {
    std::size_t n = 0;
    for (auto& s : f.sent()) {
      auto ip = testing::parse_ip_frame(s.bytes);
      if (ip.ok && ip.protocol == 1 && testing::parse_icmp(ip.payload).type == 0) ++n;
    }
    return n;
  }
  const Ipv4Stats& stats() { return f.engine.ipv4().stats(); }
  EngineFixture f;
};

TEST_F(Ipv4Input, AValidDatagramIsDelivered) {
  f.rx(frame(testing::ipv4(to_us(), echo())));
  EXPECT_EQ(replies(), 1u);
  EXPECT_EQ(stats().rx_delivered, 1u);
}

TEST_F(Ipv4Input, AHeaderShorterThan20BytesIsDropped) {
  Bytes p = testing::ipv4(to_us(), echo());
  p.resize(19);
  f.rx(frame(p));
  EXPECT_EQ(replies(), 0u);
  EXPECT_EQ(stats().rx_truncated, 1u);
}

TEST_F(Ipv4Input, AVersionOtherThan4IsDropped) {
  Ip ip = to_us();
  ip.version = 6;
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(replies(), 0u);
  EXPECT_EQ(stats().rx_bad_version, 1u);
}

TEST_F(Ipv4Input, AnIhlBelowFiveIsDropped) {
  Ip ip = to_us();
  ip.ihl_words = 4;
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(replies(), 0u);
  EXPECT_EQ(stats().rx_bad_header_len, 1u);
}

TEST_F(Ipv4Input, AnIhlBeyondThePacketIsDropped) {
  Ip ip = to_us();
  ip.ihl_words = 15;  // 60 bytes claimed, 20 + 13 present
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(replies(), 0u);
  EXPECT_EQ(stats().rx_truncated, 1u);
}

TEST_F(Ipv4Input, ATotalLengthBeyondTheFrameIsDropped) {
  Ip ip = to_us();
  ip.total_len = 20 + 13 + 1;
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(replies(), 0u);
  EXPECT_EQ(stats().rx_bad_length, 1u);
}

TEST_F(Ipv4Input, ATotalLengthShorterThanTheHeaderIsDropped) {
  Ip ip = to_us();
  ip.total_len = 19;
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(stats().rx_bad_length, 1u);
}

TEST_F(Ipv4Input, EthernetPaddingIsTrimmedByTheTotalLength) {
  Bytes f60 = frame(testing::ipv4(to_us(), echo()));
  f60.resize(60, std::byte{0xee});  // 14 + 33 bytes of datagram + 13 bytes of padding
  f.rx(f60);
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  auto ip = testing::parse_ip_frame(sent[0].bytes);
  EXPECT_EQ(ip.total_len, 20 + 13);  // the reply echoes the data, not the padding
  EXPECT_TRUE(testing::parse_icmp(ip.payload).checksum_ok);
}

TEST_F(Ipv4Input, ABadHeaderChecksumIsDropped) {
  Ip ip = to_us();
  ip.bad_checksum = true;
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(replies(), 0u);
  EXPECT_EQ(stats().rx_bad_checksum, 1u);
}

TEST_F(Ipv4Input, TheDevicesGoodVerdictSkipsTheSoftwareChecksum) {
  Ip ip = to_us();
  ip.bad_checksum = true;  // the device said it was fine: trusted
  f.rx(frame(testing::ipv4(ip, echo())), nic::offload::kRxIpv4CsumGood);
  EXPECT_EQ(replies(), 1u);
}

TEST_F(Ipv4Input, TheDevicesBadVerdictDrops) {
  f.rx(frame(testing::ipv4(to_us(), echo())), nic::offload::kRxIpv4CsumBad);
  EXPECT_EQ(replies(), 0u);
  EXPECT_EQ(stats().rx_bad_checksum, 1u);
}

TEST_F(Ipv4Input, OptionsAreSkippedSafely) {
  Ip ip = to_us();
  ip.options = testing::bytes({0x01, 0x01, 0x01, 0x00, 0x94, 0x04, 0x00, 0x00});  // NOPs, EOL, RA
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(replies(), 1u);
  EXPECT_EQ(stats().rx_with_options, 1u);
}

TEST_F(Ipv4Input, GarbageOptionsDoNotMatterTheIhlBoundsThem) {
  Ip ip = to_us();
  ip.options = testing::bytes({0x44, 0xff, 0x07, 0x00});  // a timestamp claiming 255 bytes
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(replies(), 1u);
}

TEST_F(Ipv4Input, ADatagramForAnotherHostIsDropped) {
  Ip ip = to_us();
  ip.dst = Ipv4Address(10, 0, 0, 9);
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(stats().rx_not_for_us, 1u);
  EXPECT_EQ(f.engine.stats().rx_not_for_us, 1u);
}

TEST_F(Ipv4Input, MulticastWeDidNotJoinIsDropped) {
  Ip ip = to_us();
  ip.dst = Ipv4Address(224, 0, 0, 1);
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(stats().rx_not_for_us, 1u);
}

TEST_F(Ipv4Input, BroadcastDestinationsAreAccepted) {
  Ip ip = to_us();
  ip.protocol = 17;
  ip.dst = testing::kSubnetBroadcast;
  f.rx(frame(testing::ipv4(ip, testing::udp(kPeerIp, ip.dst, 1, 9, {})),
             nic::MacAddress::broadcast()));
  ip.dst = Ipv4Address::broadcast();
  f.rx(frame(testing::ipv4(ip, testing::udp(kPeerIp, ip.dst, 1, 9, {})),
             nic::MacAddress::broadcast()));
  EXPECT_EQ(stats().rx_delivered, 2u);
  EXPECT_TRUE(f.sent().empty());  // and no port unreachable for broadcasts
}

TEST_F(Ipv4Input, UnicastInsideALinkBroadcastIsDropped) {
  f.rx(frame(testing::ipv4(to_us(), echo()), nic::MacAddress::broadcast()));
  EXPECT_EQ(replies(), 0u);
  EXPECT_EQ(stats().rx_link_broadcast_unicast, 1u);
}

TEST_F(Ipv4Input, MartianSourcesAreDropped) {
  for (Ipv4Address src : {Ipv4Address::broadcast(), Ipv4Address(224, 0, 0, 5),
                          Ipv4Address(127, 0, 0, 1), testing::kSubnetBroadcast}) {
    Ip ip = to_us();
    ip.src = src;
    f.rx(frame(testing::ipv4(ip, echo())));
  }
  EXPECT_EQ(replies(), 0u);
  EXPECT_EQ(stats().rx_bad_source, 4u);
}

TEST_F(Ipv4Input, ALowTtlIsNotAReasonToDrop) {
  Ip ip = to_us();
  ip.ttl = 1;  // RFC 1122 §3.2.1.7: hosts do not discard for TTL
  f.rx(frame(testing::ipv4(ip, echo())));
  EXPECT_EQ(replies(), 1u);
}

TEST_F(Ipv4Input, NothingLeaksWhateverIsDropped) {
  Ip bad = to_us();
  bad.bad_checksum = true;
  f.rx(frame(testing::ipv4(bad, echo())));
  bad = to_us();
  bad.version = 5;
  f.rx(frame(testing::ipv4(bad, echo())));
  (void)f.sent();
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

}  // namespace
}  // namespace coronet::stack::ipv4
