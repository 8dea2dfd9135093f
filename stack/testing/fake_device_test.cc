#include "stack/testing/fake_device.h"

#include <gtest/gtest.h>

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"
#include "stack/testing/frames.h"

namespace coronet::stack::testing {
namespace {

const nic::MacAddress kA({2, 0, 0, 0, 0, 0xa});
const nic::MacAddress kB({2, 0, 0, 0, 0, 0xb});

TEST(FakeDevice, InjectedFramesComeOutOfRxBurstWithFlags) {
  FakeDevice dev(FakeDeviceConfig{.mac = kA});
  ASSERT_TRUE(dev.inject(bytes({1, 2, 3}), nic::offload::kRxL4CsumGood));
  nic::Packet* out[4];
  ASSERT_EQ(dev.rx_burst(0, out), 1u);
  EXPECT_EQ(out[0]->size(), 3u);
  EXPECT_EQ(out[0]->meta.flags, nic::offload::kRxL4CsumGood);
  nic::PacketPool::free(out[0]);
  EXPECT_EQ(dev.pool(0).stats().in_use, 0u);
}

TEST(FakeDevice, TxLimitLeavesTheRestToTheCaller) {
  FakeDevice dev(FakeDeviceConfig{.mac = kA});
  dev.set_tx_limit(1);
  nic::Packet* p[2] = {dev.pool(0).alloc(), dev.pool(0).alloc()};
  EXPECT_EQ(dev.tx_burst(0, p), 1u);
  EXPECT_EQ(dev.pool(0).stats().in_use, 1u);
  nic::PacketPool::free(p[1]);
  EXPECT_EQ(dev.take_sent().size(), 1u);
}

TEST(FakeDevice, ConnectedDevicesDeliverToEachOther) {
  FakeDevice a(FakeDeviceConfig{.mac = kA});
  FakeDevice b(FakeDeviceConfig{.mac = kB});
  FakeDevice::connect(a, b);
  nic::Packet* p = a.pool(0).alloc();
  p->append_bytes(bytes({9, 8, 7}));
  EXPECT_EQ(a.tx_burst(0, std::span<nic::Packet* const>(&p, 1)), 1u);
  EXPECT_EQ(b.rx_pending(), 1u);
  EXPECT_TRUE(a.take_sent().empty());
}

TEST(FakeDevice, EmulatesUdpAndIpv4ChecksumOffload) {
  FakeDevice dev(FakeDeviceConfig{.mac = kA});
  const Ipv4Address src(10, 0, 0, 1), dst(10, 0, 0, 2);
  Bytes seg = udp(src, dst, 1, 2, bytes_of("hello"), UdpSum::kZero);
  Checksum pseudo;
  pseudo.add32(src.raw());
  pseudo.add32(dst.raw());
  pseudo.add16(17);
  pseudo.add16(static_cast<std::uint16_t>(seg.size()));
  store_be16(&seg[6], pseudo.fold());
  Bytes frame = eth(kB, kA, kEthIpv4, ipv4(Ip{.src = src, .dst = dst}, seg));
  store_be16(&frame[14 + 10], 0);  // header checksum left to the device
  nic::Packet* p = dev.pool(0).alloc();
  p->append_bytes(frame);
  p->meta.flags = nic::offload::kTxIpv4Csum | nic::offload::kTxUdpCsum;
  p->meta.l2_len = 14;
  p->meta.l3_len = 20;
  ASSERT_EQ(dev.tx_burst(0, std::span<nic::Packet* const>(&p, 1)), 1u);
  auto sent = dev.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  IpView ip = parse_ip_frame(sent[0].bytes);
  EXPECT_TRUE(ip.checksum_ok);
  UdpView u = parse_udp(ip);
  ASSERT_TRUE(u.ok);
  EXPECT_NE(u.checksum, 0);
  EXPECT_TRUE(u.checksum_ok);
}

}  // namespace
}  // namespace coronet::stack::testing
