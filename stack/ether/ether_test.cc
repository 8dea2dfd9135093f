#include "stack/ether/ether.h"

#include <gtest/gtest.h>

#include "nic/packet_pool.h"
#include "stack/testing/frames.h"

namespace coronet::stack::ether {
namespace {

using testing::Bytes;
using testing::bytes;

const nic::MacAddress kUs({0x02, 0, 0, 0, 0, 0x01});
const nic::MacAddress kThem({0x02, 0, 0, 0, 0, 0x02});
const nic::MacAddress kOther({0x02, 0, 0, 0, 0, 0x03});

Bytes frame(const nic::MacAddress& dst, const nic::MacAddress& src, std::uint16_t type) {
  return testing::eth(dst, src, type, testing::pattern(46));
}

TEST(Ether, ParsesDestinationSourceAndType) {
  auto h = parse(frame(kUs, kThem, kTypeArp));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->dst, kUs);
  EXPECT_EQ(h->src, kThem);
  EXPECT_EQ(h->type, kTypeArp);
}

TEST(Ether, RuntFrameHasNoHeader) {
  Bytes f = frame(kUs, kThem, kTypeIpv4);
  f.resize(13);
  EXPECT_FALSE(parse(f));
  EXPECT_EQ(classify(f, kUs).kind, RxKind::kRunt);
}

TEST(Ether, HeaderOnlyFrameIsNotARunt) {
  Bytes f = testing::eth(kUs, kThem, kTypeIpv4, {});
  EXPECT_EQ(classify(f, kUs).kind, RxKind::kIpv4);
}

TEST(Ether, UnicastToUsIsAccepted) {
  RxClass c = classify(frame(kUs, kThem, kTypeIpv4), kUs);
  EXPECT_EQ(c.kind, RxKind::kIpv4);
  EXPECT_FALSE(c.broadcast);
}

TEST(Ether, UnicastToAnotherStationIsNotForUs) {
  EXPECT_EQ(classify(frame(kOther, kThem, kTypeIpv4), kUs).kind, RxKind::kNotForUs);
}

TEST(Ether, BroadcastIsAcceptedAndFlagged) {
  RxClass c = classify(frame(nic::MacAddress::broadcast(), kThem, kTypeArp), kUs);
  EXPECT_EQ(c.kind, RxKind::kArp);
  EXPECT_TRUE(c.broadcast);
}

TEST(Ether, MulticastWeNeverJoinedIsNotForUs) {
  const nic::MacAddress mdns({0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb});
  EXPECT_EQ(classify(frame(mdns, kThem, kTypeIpv4), kUs).kind, RxKind::kNotForUs);
}

TEST(Ether, GroupSourceAddressIsRejected) {
  EXPECT_EQ(classify(frame(kUs, nic::MacAddress::broadcast(), kTypeIpv4), kUs).kind,
            RxKind::kBadSource);
}

TEST(Ether, UnknownEtherTypesAreRejected) {
  EXPECT_EQ(classify(frame(kUs, kThem, kTypeIpv6), kUs).kind, RxKind::kUnknownType);
  EXPECT_EQ(classify(frame(kUs, kThem, kTypeVlan), kUs).kind, RxKind::kUnknownType);
  EXPECT_EQ(classify(frame(kUs, kThem, 0x0040), kUs).kind, RxKind::kUnknownType);  // 802.3 length
}

TEST(Ether, PrependWritesHeaderAndRecordsL2Len) {
  nic::PacketPool pool({.name = "t", .count = 2, .buffer_size = 256, .headroom = 64});
  nic::Packet* p = pool.alloc();
  p->append_bytes(bytes({0xaa}));
  ASSERT_TRUE(prepend(*p, kThem, kUs, kTypeIpv4));
  EXPECT_EQ(p->size(), 15u);
  EXPECT_EQ(p->meta.l2_len, 14);
  auto h = parse(p->bytes());
  EXPECT_EQ(h->dst, kThem);
  EXPECT_EQ(h->src, kUs);
  EXPECT_EQ(h->type, kTypeIpv4);
  nic::PacketPool::free(p);
}

TEST(Ether, PrependWithoutHeadroomChangesNothing) {
  nic::PacketPool pool({.name = "t", .count = 2, .buffer_size = 256, .headroom = 8});
  nic::Packet* p = pool.alloc();
  EXPECT_FALSE(prepend(*p, kThem, kUs, kTypeIpv4));
  EXPECT_EQ(p->size(), 0u);
  nic::PacketPool::free(p);
}

TEST(Ether, MulticastMacKeepsLow23BitsOfTheGroup) {
  // RFC 1112 §6.4: 224.0.0.251 -> 01:00:5e:00:00:fb; the top bit of the second octet is dropped.
  EXPECT_EQ(multicast_mac(Ipv4Address(224, 0, 0, 251).raw()),
            nic::MacAddress({0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}));
  EXPECT_EQ(multicast_mac(Ipv4Address(239, 129, 2, 3).raw()),
            nic::MacAddress({0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}));
}

}  // namespace
}  // namespace coronet::stack::ether
