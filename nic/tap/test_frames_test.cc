// The frame helpers are the yardstick for the backends' kernel tests, so they get their own checks:
// known checksums from the RFCs and build/parse round trips.
#include "nic/tap/test_frames.h"

#include <gtest/gtest.h>

namespace coronet::nic::test_frames {
namespace {

const MacAddress kMacA({0x02, 0, 0, 0, 0, 0x02});
const MacAddress kMacB({0x02, 0, 0, 0, 0, 0x01});
constexpr std::uint32_t kIpA = ipv4(198, 18, 0, 2);
constexpr std::uint32_t kIpB = ipv4(198, 18, 0, 1);

std::vector<std::byte> hex(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

TEST(InternetChecksum, MatchesRfc1071Example) {
  // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2; the checksum is its complement.
  EXPECT_EQ(internet_checksum(hex({0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7})), 0x220d);
}

TEST(InternetChecksum, PadsOddLengthWithZero) {
  EXPECT_EQ(internet_checksum(hex({0x12, 0x34, 0x56})),
            internet_checksum(hex({0x12, 0x34, 0x56, 0})));
}

TEST(Arp, RequestIsBroadcastAndParsesBack) {
  auto f = build_arp_request(kMacA, kIpA, kIpB);
  ASSERT_EQ(f.size(), 42u);
  auto m = parse_arp(f);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->eth_dst.is_broadcast());
  EXPECT_EQ(m->eth_src, kMacA);
  EXPECT_EQ(m->opcode, kArpRequest);
  EXPECT_EQ(m->sender_mac, kMacA);
  EXPECT_EQ(m->sender_ip, kIpA);
  EXPECT_TRUE(m->target_mac.is_zero());
  EXPECT_EQ(m->target_ip, kIpB);
}

TEST(Arp, ReplyIsUnicastToTheAsker) {
  auto m = parse_arp(build_arp_reply(kMacA, kIpA, kMacB, kIpB));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->eth_dst, kMacB);
  EXPECT_EQ(m->opcode, kArpReply);
  EXPECT_EQ(m->sender_mac, kMacA);
  EXPECT_EQ(m->sender_ip, kIpA);
  EXPECT_EQ(m->target_mac, kMacB);
  EXPECT_EQ(m->target_ip, kIpB);
}

TEST(Arp, RejectsOtherEtherTypesAndTruncation) {
  auto f = build_arp_request(kMacA, kIpA, kIpB);
  EXPECT_FALSE(parse_arp(std::span(f).first(41)));
  f[12] = std::byte{0x86};
  f[13] = std::byte{0xdd};
  EXPECT_FALSE(parse_arp(f));
}

TEST(IcmpEcho, RoundTripsWithValidChecksums) {
  auto payload = bytes_of("coronet ping");
  auto f = build_icmp_echo(kMacA, kMacB, kIpA, kIpB, 0x1234, 7, payload);
  ASSERT_EQ(f.size(), 14u + 20 + 8 + payload.size());
  EXPECT_EQ(internet_checksum(std::span(f).subspan(14, 20)), 0);
  auto e = parse_icmp_echo(f);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, kIcmpEchoRequest);
  EXPECT_EQ(e->src_ip, kIpA);
  EXPECT_EQ(e->dst_ip, kIpB);
  EXPECT_EQ(e->id, 0x1234);
  EXPECT_EQ(e->seq, 7);
  EXPECT_EQ(e->payload, payload);
  EXPECT_FALSE(parse_icmp_echo_reply(f)) << "a request is not a reply";
}

TEST(IcmpEcho, RejectsCorruptedPayload) {
  auto f = build_icmp_echo(kMacA, kMacB, kIpA, kIpB, 1, 1, bytes_of("abcd"));
  f.back() ^= std::byte{0x01};
  EXPECT_FALSE(parse_icmp_echo(f));
}

TEST(IcmpEcho, IgnoresEthernetPadding) {
  auto f = build_icmp_echo(kMacA, kMacB, kIpA, kIpB, 1, 1, {});
  f.resize(60, std::byte{0xee});  // a minimum-size frame as a real NIC would pad it
  auto e = parse_icmp_echo(f);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->payload.empty());
}

TEST(Udp, RoundTripsWithValidChecksums) {
  auto payload = bytes_of("hello over udp");
  auto f = build_udp(kMacA, kMacB, kIpA, kIpB, 4000, 5000, payload);
  auto d = parse_udp(f);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->src_port, 4000);
  EXPECT_EQ(d->dst_port, 5000);
  EXPECT_EQ(d->payload, payload);
  f.back() ^= std::byte{0x40};
  EXPECT_FALSE(parse_udp(f));
}

}  // namespace
}  // namespace coronet::nic::test_frames
