// Fragmented datagrams through the engine: reassembled for the transports, or dropped with
// Time Exceeded (RFC 791 §3.2, RFC 792, RFC 1122 §3.3.2).
#include <gtest/gtest.h>

#include <array>

#include "stack/testing/engine_fixture.h"
#include "stack/udp/udp_socket.h"

namespace coronet::stack::ipv4 {
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

constexpr std::uint16_t kPort = 7000;

// Frames carrying [off, off + len) of `datagram_payload` (the transport bytes) as fragments.
Bytes fragment(const Bytes& payload, std::uint16_t off, std::size_t len, bool mf,
               std::uint8_t proto = 17, std::uint16_t id = 42) {
  Ip ip{.src = kPeerIp, .dst = kOurIp, .protocol = proto, .id = id, .mf = mf, .frag_offset = off};
  return eth(kOurMac, kPeerMac, kEthIpv4, testing::ipv4(ip, std::span(payload).subspan(off, len)));
}

struct Fragments : ::testing::Test {
  Fragments() {
    f.learn(kPeerIp, kPeerMac);
    sock = std::move(*udp::UdpSocket::bind(f.engine, kPort));
  }
  EngineFixture f;
  udp::UdpSocket sock;
  std::array<std::byte, 8192> buf{};
};

TEST_F(Fragments, AFragmentedUdpDatagramReachesTheSocketByteExact) {
  Bytes data = testing::pattern(1000, 11);
  Bytes u = testing::udp(kPeerIp, kOurIp, 1234, kPort, data);
  f.rx(fragment(u, 400, 400, true));
  f.rx(fragment(u, 800, u.size() - 800, false));
  EXPECT_EQ(sock.queued(), 0u);
  f.rx(fragment(u, 0, 400, true));
  Result<udp::Datagram> d = sock.try_recv_from(buf);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->size, 1000u);
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + 1000), data);
  EXPECT_EQ(f.engine.ipv4().reassembler().stats().reassembled, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(Fragments, ADatagramLargerThanABufferArrivesAsAChainAndIsCopiedWhole) {
  Bytes data = testing::pattern(4000, 3);
  Bytes u = testing::udp(kPeerIp, kOurIp, 1234, kPort, data);
  for (std::size_t off = 0; off < u.size(); off += 1480) {
    const std::size_t len = std::min<std::size_t>(1480, u.size() - off);
    f.rx(fragment(u, static_cast<std::uint16_t>(off), len, off + len < u.size()));
  }
  Result<udp::Datagram> d = sock.try_recv_from(buf);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->size, 4000u);
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + 4000), data);
}

TEST_F(Fragments, AFragmentedEchoRequestIsAnswered) {
  Bytes m = testing::icmp(8, 0, 0x00050006, testing::pattern(40));
  f.rx(fragment(m, 0, 24, true, 1));
  f.rx(fragment(m, 24, m.size() - 24, false, 1));
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  auto reply = testing::parse_icmp(testing::parse_ip_frame(sent[0].bytes).payload);
  EXPECT_EQ(reply.type, 0);
  EXPECT_TRUE(reply.checksum_ok);
  EXPECT_EQ(reply.payload, testing::pattern(40));
}

TEST_F(Fragments, AClosedPortAfterReassemblyIsAnsweredQuotingTheWholeHeader) {
  Bytes u = testing::udp(kPeerIp, kOurIp, 1234, 9, testing::pattern(64));
  f.rx(fragment(u, 0, 32, true));
  f.rx(fragment(u, 32, u.size() - 32, false));
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  auto err = testing::parse_icmp(testing::parse_ip_frame(sent[0].bytes).payload);
  EXPECT_EQ(err.type, 3);
  EXPECT_EQ(err.code, 3);
  auto quoted = testing::parse_ip(err.payload);
  EXPECT_EQ(quoted.total_len, 20 + u.size());  // the reassembled datagram's header
  EXPECT_FALSE(quoted.mf);
}

TEST_F(Fragments, ReassemblyTimeoutSendsTimeExceededWhenFragmentZeroArrived) {
  Bytes u = testing::udp(kPeerIp, kOurIp, 1234, kPort, testing::pattern(64));
  Bytes first = fragment(u, 0, 32, true);
  f.rx(first);
  f.advance(f.engine.config().ip.reassembly_timeout);
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  auto ip = testing::parse_ip_frame(sent[0].bytes);
  EXPECT_EQ(ip.dst, kPeerIp);
  auto err = testing::parse_icmp(ip.payload);
  EXPECT_EQ(err.type, 11);
  EXPECT_EQ(err.code, 1);
  EXPECT_EQ(err.payload, Bytes(first.begin() + 14, first.end()));
  EXPECT_EQ(sock.queued(), 0u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(Fragments, ReassemblyTimeoutWithoutFragmentZeroIsSilent) {
  Bytes u = testing::udp(kPeerIp, kOurIp, 1234, kPort, testing::pattern(64));
  f.rx(fragment(u, 32, u.size() - 32, false));
  f.advance(f.engine.config().ip.reassembly_timeout);
  EXPECT_TRUE(f.sent().empty());
  EXPECT_EQ(f.engine.ipv4().reassembler().stats().timeouts, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(Fragments, OverlappingFragmentsNeverReachTheSocket) {
  Bytes u = testing::udp(kPeerIp, kOurIp, 1234, kPort, testing::pattern(64));
  f.rx(fragment(u, 0, 32, true));
  f.rx(fragment(u, 24, u.size() - 24, false));  // overlaps [24, 32)
  f.rx(fragment(u, 32, u.size() - 32, false));  // the honest one, too late
  EXPECT_EQ(sock.queued(), 0u);
  EXPECT_EQ(f.engine.ipv4().reassembler().stats().overlaps, 1u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST(FragmentBounds, MemoryAndTableBoundsDropAndCount) {
  auto c = testing::test_config();
  c.ip.reassembly_max_bytes = 3 * 2048;
  c.ip.reassembly_max_datagrams = 4;
  EngineFixture f(c);
  f.learn(kPeerIp, kPeerMac);
  Bytes u = testing::udp(kPeerIp, kOurIp, 1234, kPort, testing::pattern(64));
  // First fragments of six different datagrams: three fit the memory, the fourth exceeds it,
  // the fifth and sixth find the table full (the fourth's slot stays dead until it expires).
  for (std::uint16_t id = 1; id <= 6; ++id) f.rx(fragment(u, 0, 32, true, 17, id));
  const ReassemblyStats& s = f.engine.ipv4().reassembler().stats();
  EXPECT_EQ(s.memory_exceeded, 1u);
  EXPECT_EQ(s.table_full, 2u);
  EXPECT_EQ(f.engine.ipv4().reassembler().held_bytes(), 3u * 2048u);
  f.advance(c.ip.reassembly_timeout);
  EXPECT_EQ(f.engine.ipv4().reassembler().held_bytes(), 0u);
  EXPECT_EQ(f.sent().size(), 3u);  // Time Exceeded for the three that held fragment zero
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

}  // namespace
}  // namespace coronet::stack::ipv4
