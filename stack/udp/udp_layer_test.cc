// UDP receive and send paths through the engine (RFC 768, RFC 1122 §4.1).
#include "stack/udp/udp_layer.h"

#include <gtest/gtest.h>

#include <array>

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"
#include "stack/testing/engine_fixture.h"
#include "stack/udp/udp_socket.h"

namespace coronet::stack::udp {
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
using testing::UdpSum;

constexpr std::uint16_t kPort = 7000;

struct Udp : ::testing::Test {
  Udp() {
    f.learn(kPeerIp, kPeerMac);
    auto s = UdpSocket::bind(f.engine, kPort);
    EXPECT_TRUE(s);
    sock = std::move(*s);
  }
  // A datagram frame with arbitrary UDP bytes as the IP payload.
  static Bytes raw(const Bytes& udp_bytes) {
    return eth(kOurMac, kPeerMac, kEthIpv4,
               testing::ipv4(Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 17}, udp_bytes));
  }
  Result<Datagram> recv(std::span<std::byte> buf) { return sock.try_recv_from(buf); }
  const UdpStats& stats() { return f.engine.udp().stats(); }

  EngineFixture f;
  UdpSocket sock;
  std::array<std::byte, 2048> buf{};
};

TEST_F(Udp, ADatagramReachesTheBoundSocketByteExact) {
  Bytes data = testing::pattern(300, 5);
  f.rx(EngineFixture::udp_frame(kPeerIp, 1234, kPort, data));
  Result<Datagram> d = recv(buf);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->size, 300u);
  EXPECT_FALSE(d->truncated);
  EXPECT_EQ(d->from, (Endpoint{kPeerIp, 1234}));
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + 300), data);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(Udp, ADatagramLargerThanTheBufferIsFlaggedTruncatedWithItsFullSize) {
  Bytes data = testing::pattern(100);
  f.rx(EngineFixture::udp_frame(kPeerIp, 1234, kPort, data));
  std::array<std::byte, 10> small{};
  Result<Datagram> d = recv(small);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->truncated);
  EXPECT_EQ(d->size, 100u);
  EXPECT_EQ(Bytes(small.begin(), small.end()), testing::pattern(10));
  EXPECT_EQ(sock.stats()->rx_truncated, 1u);
}

TEST_F(Udp, AnEmptyDatagramIsADatagram) {
  f.rx(EngineFixture::udp_frame(kPeerIp, 1234, kPort, {}));
  Result<Datagram> d = recv(buf);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->size, 0u);
}

TEST_F(Udp, AZeroChecksumMeansNone) {
  f.rx(EngineFixture::udp_frame(kPeerIp, 1234, kPort, testing::bytes_of("x"), kPeerMac,
                                UdpSum::kZero));
  EXPECT_TRUE(recv(buf));
}

TEST_F(Udp, ABadChecksumIsDroppedAndCounted) {
  f.rx(EngineFixture::udp_frame(kPeerIp, 1234, kPort, testing::bytes_of("x"), kPeerMac,
                                UdpSum::kCorrupt));
  EXPECT_FALSE(recv(buf));
  EXPECT_EQ(stats().rx_bad_checksum, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(Udp, TheDevicesChecksumVerdictIsTrusted) {
  f.rx(EngineFixture::udp_frame(kPeerIp, 1234, kPort, testing::bytes_of("x"), kPeerMac,
                                UdpSum::kCorrupt),
       nic::offload::kRxL4CsumGood);
  EXPECT_TRUE(recv(buf));
}

TEST_F(Udp, BytesBeyondTheUdpLengthAreNotPartOfTheDatagram) {
  // UDP length 8 + 3, IP payload 8 + 5: the last two bytes are not the datagram's.
  Bytes u = testing::udp(kPeerIp, kOurIp, 1234, kPort, testing::bytes_of("abc"));
  u.push_back(std::byte{'d'});
  u.push_back(std::byte{'e'});
  f.rx(raw(u));
  Result<Datagram> d = recv(buf);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->size, 3u);
}

TEST_F(Udp, AUdpLengthBeyondTheIpPayloadIsDropped) {
  f.rx(
      raw(testing::udp(kPeerIp, kOurIp, 1234, kPort, testing::bytes_of("abc"), UdpSum::kZero, 12)));
  EXPECT_FALSE(recv(buf));
  EXPECT_EQ(stats().rx_bad_length, 1u);
}

TEST_F(Udp, AUdpLengthBelowTheHeaderIsDropped) {
  f.rx(raw(testing::udp(kPeerIp, kOurIp, 1234, kPort, testing::bytes_of("abc"), UdpSum::kZero, 7)));
  EXPECT_EQ(stats().rx_bad_length, 1u);
}

TEST_F(Udp, ATruncatedHeaderIsDropped) {
  f.rx(raw(testing::bytes({0x04, 0xd2, 0x1b})));
  EXPECT_EQ(stats().rx_truncated, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(Udp, TheReceiveQueueIsBoundedAndOverflowCounted) {
  auto s = UdpSocket::bind(f.engine, 7001, UdpSocketOptions{.receive_queue = 2});
  ASSERT_TRUE(s);
  for (int i = 0; i < 3; ++i) {
    f.rx(EngineFixture::udp_frame(kPeerIp, 1234, 7001, testing::bytes({i})));
  }
  EXPECT_EQ(s->queued(), 2u);
  EXPECT_EQ(s->stats()->rx_dropped, 1u);
  EXPECT_EQ(stats().rx_queue_full, 1u);
  ASSERT_TRUE(s->try_recv_from(buf));
  EXPECT_EQ(buf[0], std::byte{0});  // oldest first
  ASSERT_TRUE(s->try_recv_from(buf));
  EXPECT_EQ(buf[0], std::byte{1});
}

TEST_F(Udp, BroadcastDatagramsReachBoundSockets) {
  Bytes u = testing::udp(kPeerIp, testing::kSubnetBroadcast, 1234, kPort, testing::bytes_of("b"));
  f.rx(eth(nic::MacAddress::broadcast(), kPeerMac, kEthIpv4,
           testing::ipv4(Ip{.src = kPeerIp, .dst = testing::kSubnetBroadcast, .protocol = 17}, u)));
  EXPECT_TRUE(recv(buf));
}

TEST_F(Udp, SendToBuildsAChecksummedDatagram) {
  ASSERT_TRUE(sock.send_to_now(testing::bytes_of("hello"), Endpoint{kPeerIp, 53}));
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  auto ip = testing::parse_ip_frame(sent[0].bytes);
  EXPECT_EQ(ip.protocol, 17);
  auto u = testing::parse_udp(ip);
  ASSERT_TRUE(u.ok);
  EXPECT_EQ(u.src_port, kPort);
  EXPECT_EQ(u.dst_port, 53);
  EXPECT_EQ(u.length, 13);
  EXPECT_NE(u.checksum, 0);  // RFC 1122 §4.1.3.4: always computed
  EXPECT_TRUE(u.checksum_ok);
  EXPECT_EQ(u.payload, testing::bytes_of("hello"));
}

TEST_F(Udp, AComputedZeroChecksumIsSentAsAllOnes) {
  // Choose the last payload word so that the checksum comes out as zero.
  Bytes data = testing::bytes({0, 0});
  Checksum c;
  c.add32(kOurIp.raw());
  c.add32(kPeerIp.raw());
  c.add16(17);
  c.add16(10);
  Bytes hdr = testing::bytes({kPort >> 8, kPort & 0xff, 0, 53, 0, 10, 0, 0});
  c.add(hdr);
  store_be16(data.data(), c.finish());
  ASSERT_TRUE(sock.send_to_now(data, Endpoint{kPeerIp, 53}));
  auto u = testing::parse_udp(testing::parse_ip_frame(f.sent()[0].bytes));
  EXPECT_EQ(u.checksum, 0xffff);
  EXPECT_TRUE(u.checksum_ok);
}

TEST(UdpOffload, TheDeviceComputesTheChecksumWhenOffered) {
  auto d = testing::test_device();
  d.offloads.tx_l4_checksum = true;
  EngineFixture g(testing::test_config(), d);
  g.learn(kPeerIp, kPeerMac);
  auto s = UdpSocket::bind(g.engine, kPort);
  ASSERT_TRUE(s->send_to_now(testing::bytes_of("offload"), Endpoint{kPeerIp, 53}));
  auto sent = g.sent();
  EXPECT_NE(sent[0].meta.flags & nic::offload::kTxUdpCsum, 0u);
  EXPECT_EQ(sent[0].meta.l4_len, 8);
  auto u = testing::parse_udp(testing::parse_ip_frame(sent[0].bytes));
  EXPECT_TRUE(u.checksum_ok);
  EXPECT_NE(u.checksum, 0);
}

TEST_F(Udp, APayloadBeyondTheMtuIsRefused) {
  EXPECT_TRUE(sock.send_to_now(testing::pattern(1472), Endpoint{kPeerIp, 53}));
  Result<void> r = sock.send_to_now(testing::pattern(1473), Endpoint{kPeerIp, 53});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kMessageTooLong);
  EXPECT_EQ(f.sent().size(), 1u);
}

TEST_F(Udp, SendingToPortZeroIsRefused) {
  EXPECT_EQ(sock.send_to_now(testing::bytes_of("x"), Endpoint{kPeerIp, 0}).error().code(),
            Errc::kInvalidArgument);
}

TEST_F(Udp, BindingATakenPortIsAddressInUse) {
  auto s = UdpSocket::bind(f.engine, kPort);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::kAddressInUse);
}

TEST_F(Udp, PortZeroPicksDistinctEphemeralPorts) {
  auto a = UdpSocket::bind(f.engine, 0);
  auto b = UdpSocket::bind(f.engine, 0);
  ASSERT_TRUE(a && b);
  EXPECT_GE(a->local().port, 49152);
  EXPECT_NE(a->local().port, b->local().port);
  EXPECT_EQ(a->local().addr, kOurIp);
}

TEST_F(Udp, ClosingUnbindsThePortAndFreesQueuedDatagrams) {
  f.rx(EngineFixture::udp_frame(kPeerIp, 1234, kPort, testing::bytes_of("q")));
  sock.close();
  EXPECT_EQ(f.buffers_in_use(), 0u);
  EXPECT_TRUE(UdpSocket::bind(f.engine, kPort));
  EXPECT_EQ(sock.try_recv_from(buf).error().code(), Errc::kInvalidArgument);
}

TEST_F(Udp, ADatagramToAClosedPortIsCountedAndFreed) {
  f.rx(EngineFixture::udp_frame(kPeerIp, 1234, 9, testing::bytes_of("nobody")));
  EXPECT_EQ(stats().rx_no_port, 1u);
  (void)f.sent();
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

}  // namespace
}  // namespace coronet::stack::udp
