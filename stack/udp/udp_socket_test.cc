// The coroutine socket API: waiting, timeouts, cancellation, errors reported on the next call.
#include "stack/udp/udp_socket.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "coro/cancellation.h"
#include "coro/timeout.h"
#include "stack/testing/engine_fixture.h"

namespace coronet::stack::udp {
namespace {

using namespace std::chrono_literals;
using testing::Bytes;
using testing::EngineFixture;
using testing::kOurIp;
using testing::kOurMac;
using testing::kPeerIp;
using testing::kPeerMac;

constexpr std::uint16_t kPort = 7000;

struct UdpSocketTest : ::testing::Test {
  UdpSocketTest() {
    f.learn(kPeerIp, kPeerMac);
    sock = std::move(*UdpSocket::bind(f.engine, kPort));
  }
  // Starts recv_from on `s` in a detached task; the result lands in `out`.
  void start_recv(UdpSocket& s, std::optional<Result<Datagram>>& out,
                  coro::CancellationToken token = {}) {
    f.vr.reactor.spawn([](UdpSocket& s, std::span<std::byte> buf,
                          std::optional<Result<Datagram>>& out,
                          coro::CancellationToken token) -> coro::Task<void> {
      out.emplace(co_await coro::with_cancellation(s.recv_from(buf), token));
    }(s, buf, out, token));
  }
  // An ICMP error from the peer quoting a datagram we sent from `local_port` to the peer.
  Bytes icmp_error(std::uint8_t type, std::uint8_t code, std::uint32_t rest,
                   std::uint16_t local_port = kPort) {
    Bytes quoted =
        testing::ipv4(testing::Ip{.src = kOurIp, .dst = kPeerIp, .protocol = 17},
                      testing::udp(kOurIp, kPeerIp, local_port, 53, testing::bytes_of("q")));
    return testing::eth(kOurMac, kPeerMac, testing::kEthIpv4,
                        testing::ipv4(testing::Ip{.src = kPeerIp, .dst = kOurIp, .protocol = 1},
                                      testing::icmp(type, code, rest, quoted)));
  }

  EngineFixture f;
  UdpSocket sock;
  std::array<std::byte, 2048> buf{};
};

TEST_F(UdpSocketTest, RecvFromWaitsUntilADatagramArrives) {
  std::optional<Result<Datagram>> got;
  start_recv(sock, got);
  f.vr.drain();
  EXPECT_FALSE(got);
  f.dev.inject(EngineFixture::udp_frame(kPeerIp, 1111, kPort, testing::bytes_of("late")));
  f.vr.drain();
  ASSERT_TRUE(got);
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->size, 4u);
  EXPECT_EQ((*got)->from, (Endpoint{kPeerIp, 1111}));
}

TEST_F(UdpSocketTest, RecvFromTimesOutAsAValue) {
  const coro::TimePoint start = f.vr.clock.now();
  Result<Datagram> r = f.vr.reactor.block_on(coro::with_timeout(sock.recv_from(buf), 1s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
  EXPECT_EQ(f.vr.clock.now() - start, 1s);
}

TEST_F(UdpSocketTest, ADatagramBeforeTheDeadlineWins) {
  f.dev.inject(EngineFixture::udp_frame(kPeerIp, 1111, kPort, testing::bytes_of("now")));
  Result<Datagram> r = f.vr.reactor.block_on(coro::with_timeout(sock.recv_from(buf), 1s));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size, 3u);
}

TEST_F(UdpSocketTest, CancellingAWaitingRecvLeavesLaterDatagramsQueued) {
  coro::CancellationSource cancel;
  std::optional<Result<Datagram>> got;
  start_recv(sock, got, cancel.token());
  f.vr.drain();
  (void)cancel.cancel();
  f.vr.drain();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->error().code(), Errc::kCancelled);
  f.rx(EngineFixture::udp_frame(kPeerIp, 1111, kPort, testing::bytes_of("kept")));
  EXPECT_EQ(sock.queued(), 1u);
}

TEST_F(UdpSocketTest, TwoWaitingReadersGetOneDatagramEach) {
  std::optional<Result<Datagram>> a, b;
  start_recv(sock, a);
  std::array<std::byte, 64> other{};
  f.vr.reactor.spawn([](UdpSocket& s, std::span<std::byte> buf,
                        std::optional<Result<Datagram>>& out) -> coro::Task<void> {
    out.emplace(co_await s.recv_from(buf));
  }(sock, other, b));
  f.vr.drain();
  f.dev.inject(EngineFixture::udp_frame(kPeerIp, 1, kPort, testing::bytes_of("one")));
  f.dev.inject(EngineFixture::udp_frame(kPeerIp, 2, kPort, testing::bytes_of("two!")));
  f.vr.drain();
  ASSERT_TRUE(a && b && *a && *b);
  EXPECT_EQ((*a)->from.port, 1);  // FIFO: the first reader gets the first datagram
  EXPECT_EQ((*b)->from.port, 2);
}

TEST_F(UdpSocketTest, SendToIsAwaitable) {
  Result<void> r = f.vr.reactor.block_on(sock.send_to(testing::bytes_of("hi"), {kPeerIp, 9}));
  EXPECT_TRUE(r);
  auto u = testing::parse_udp(testing::parse_ip_frame(f.sent().at(0).bytes));
  EXPECT_EQ(u.payload, testing::bytes_of("hi"));
}

TEST_F(UdpSocketTest, PortUnreachableIsReportedOnceByTheNextRecv) {
  f.rx(icmp_error(3, 3, 0));
  Result<Datagram> r = sock.try_recv_from(buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kConnectionRefused);
  EXPECT_NE(r.error().message().find("port unreachable"), std::string::npos);
  EXPECT_EQ(sock.try_recv_from(buf).error().code(), Errc::kResourceExhausted);  // once
}

TEST_F(UdpSocketTest, AnIcmpErrorWakesAWaitingReader) {
  std::optional<Result<Datagram>> got;
  start_recv(sock, got);
  f.vr.drain();
  f.dev.inject(icmp_error(3, 1, 0));
  f.vr.drain();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->error().code(), Errc::kHostUnreachable);
}

TEST_F(UdpSocketTest, ThePendingErrorIsReturnedBySendToInstead) {
  f.rx(icmp_error(3, 3, 0));
  Result<void> r = sock.send_to_now(testing::bytes_of("x"), {kPeerIp, 53});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kConnectionRefused);
  EXPECT_TRUE(f.sent().empty());  // not sent
  EXPECT_TRUE(sock.send_to_now(testing::bytes_of("x"), {kPeerIp, 53}));
}

TEST_F(UdpSocketTest, FragmentationNeededCarriesTheNextHopMtu) {
  f.rx(icmp_error(3, 4, 1400));  // RFC 1191 §4: MTU in the low 16 bits
  Result<Datagram> r = sock.try_recv_from(buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kMessageTooLong);
  EXPECT_NE(r.error().message().find("1400"), std::string::npos);
}

TEST_F(UdpSocketTest, TimeExceededIsHostUnreachable) {
  f.rx(icmp_error(11, 0, 0));
  EXPECT_EQ(sock.try_recv_from(buf).error().code(), Errc::kHostUnreachable);
}

TEST_F(UdpSocketTest, AnErrorForAnotherPortDoesNotTouchThisSocket) {
  f.rx(icmp_error(3, 3, 0, 7999));
  EXPECT_EQ(sock.try_recv_from(buf).error().code(), Errc::kResourceExhausted);
  EXPECT_EQ(f.engine.udp().stats().rx_icmp_no_socket, 1u);
}

TEST_F(UdpSocketTest, AnArpFailureIsReportedAsHostUnreachable) {
  const Ipv4Address ghost(10, 0, 0, 77);
  ASSERT_TRUE(sock.send_to_now(testing::bytes_of("anyone?"), {ghost, 53}));
  f.advance(10s);
  Result<Datagram> r = sock.try_recv_from(buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kHostUnreachable);
  EXPECT_NE(r.error().message().find("ARP"), std::string::npos);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST_F(UdpSocketTest, DatagramsToOurOwnAddressLoopBack) {
  auto other = UdpSocket::bind(f.engine, 7001);
  ASSERT_TRUE(other->send_to_now(testing::bytes_of("self"), {kOurIp, kPort}));
  f.engine.poll();
  Result<Datagram> r = sock.try_recv_from(buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size, 4u);
  EXPECT_EQ(r->from, (Endpoint{kOurIp, 7001}));
  EXPECT_TRUE(f.sent().empty());  // nothing on the wire
}

TEST_F(UdpSocketTest, AMovedSocketKeepsItsPendingRecv) {
  std::optional<Result<Datagram>> got;
  start_recv(sock, got);
  f.vr.drain();
  UdpSocket moved = std::move(sock);
  f.dev.inject(EngineFixture::udp_frame(kPeerIp, 1111, kPort, testing::bytes_of("m")));
  f.vr.drain();
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(moved.local().port, kPort);
}

TEST(UdpSocketLifetime, OperationsAfterTheEngineIsGoneReportShuttingDown) {
  coro::testing::VirtualReactor vr;
  testing::FakeDevice dev(testing::test_device());
  auto engine = std::make_unique<Engine>(vr.reactor, dev, testing::test_config());
  auto sock = UdpSocket::bind(*engine, kPort);
  ASSERT_TRUE(sock);
  engine.reset();
  std::array<std::byte, 8> buf{};
  EXPECT_EQ(sock->try_recv_from(buf).error().code(), Errc::kShuttingDown);
  EXPECT_EQ(sock->send_to_now(buf, {kPeerIp, 1}).error().code(), Errc::kShuttingDown);
}

}  // namespace
}  // namespace coronet::stack::udp
