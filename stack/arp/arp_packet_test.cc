#include "stack/arp/arp_packet.h"

#include <gtest/gtest.h>

#include "stack/testing/frames.h"

namespace coronet::stack::arp {
namespace {

using testing::Bytes;

const nic::MacAddress kA({2, 0, 0, 0, 0, 0xa});
const nic::MacAddress kB({2, 0, 0, 0, 0, 0xb});

TEST(ArpPacket, ParsesARequest) {
  Bytes b =
      testing::arp(1, kA, Ipv4Address(10, 0, 0, 2), nic::MacAddress(), Ipv4Address(10, 0, 0, 1));
  auto a = parse(b);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->op, kOpRequest);
  EXPECT_EQ(a->sender_mac, kA);
  EXPECT_EQ(a->sender_ip, Ipv4Address(10, 0, 0, 2));
  EXPECT_TRUE(a->target_mac.is_zero());
  EXPECT_EQ(a->target_ip, Ipv4Address(10, 0, 0, 1));
}

TEST(ArpPacket, WriteThenParseRoundTrips) {
  ArpPacket a{kOpReply, kA, Ipv4Address(1, 2, 3, 4), kB, Ipv4Address(5, 6, 7, 8)};
  Bytes b(kPacketLen);
  write(b.data(), a);
  EXPECT_EQ(b, testing::arp(2, kA, Ipv4Address(1, 2, 3, 4), kB, Ipv4Address(5, 6, 7, 8)));
  auto back = parse(b);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->op, kOpReply);
  EXPECT_EQ(back->target_mac, kB);
}

TEST(ArpPacket, TruncatedPacketIsRejected) {
  Bytes b = testing::arp(1, kA, Ipv4Address(10, 0, 0, 2), kB, Ipv4Address(10, 0, 0, 1));
  b.resize(27);
  ParseError why{};
  EXPECT_FALSE(parse(b, &why));
  EXPECT_EQ(why, ParseError::kTruncated);
}

TEST(ArpPacket, OtherHardwareOrProtocolIsRejected) {
  Bytes b = testing::arp(1, kA, Ipv4Address(10, 0, 0, 2), kB, Ipv4Address(10, 0, 0, 1));
  ParseError why{};
  Bytes hrd = b;
  hrd[1] = std::byte{6};  // IEEE 802
  EXPECT_FALSE(parse(hrd, &why));
  EXPECT_EQ(why, ParseError::kUnsupported);
  Bytes pro = b;
  pro[2] = std::byte{0x86};
  pro[3] = std::byte{0xdd};
  EXPECT_FALSE(parse(pro, &why));
  Bytes pln = b;
  pln[5] = std::byte{16};
  EXPECT_FALSE(parse(pln, &why));
  EXPECT_EQ(why, ParseError::kUnsupported);
}

TEST(ArpPacket, UnknownOpcodeIsRejected) {
  Bytes b = testing::arp(3, kA, Ipv4Address(10, 0, 0, 2), kB, Ipv4Address(10, 0, 0, 1));  // RARP
  ParseError why{};
  EXPECT_FALSE(parse(b, &why));
  EXPECT_EQ(why, ParseError::kBadOpcode);
}

}  // namespace
}  // namespace coronet::stack::arp
