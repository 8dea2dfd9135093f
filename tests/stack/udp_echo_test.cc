// Two engines on one virtual-time reactor, joined by a fake Ethernet link: a UDP echo server on
// one, a client on the other. ARP, IPv4, ICMP and UDP all take part; losses come from a filter
// on the link.
#include <gtest/gtest.h>

#include <array>
#include <optional>

#include "coro/cancellation.h"
#include "coro/testing.h"
#include "coro/timeout.h"
#include "stack/engine.h"
#include "stack/testing/engine_fixture.h"
#include "stack/testing/fake_device.h"
#include "stack/testing/frames.h"
#include "stack/udp/udp_socket.h"

namespace coronet::stack {
namespace {

using namespace std::chrono_literals;
using testing::Bytes;
using udp::Datagram;
using udp::UdpSocket;

const Ipv4Address kClientIp(10, 0, 0, 1);
const Ipv4Address kServerIp(10, 0, 0, 2);
constexpr std::uint16_t kEchoPort = 7;

EngineConfig config(Ipv4Address a) {
  EngineConfig c = testing::test_config();
  c.address = a;
  c.announce_on_start = true;
  return c;
}

struct TwoEngines : ::testing::Test {
  TwoEngines()
      : client_dev(testing::test_device(testing::kOurMac)),
        server_dev(testing::test_device(testing::kPeerMac)),
        client(vr.reactor, client_dev, config(kClientIp)),
        server(vr.reactor, server_dev, config(kServerIp)) {
    testing::FakeDevice::connect(client_dev, server_dev);
  }
  ~TwoEngines() override {
    (void)stop.cancel();
    vr.drain();
  }

  // Echoes every datagram back to its sender until `stop` is cancelled.
  static coro::Task<void> echo_server(UdpSocket& sock) {
    std::array<std::byte, 2048> buf;
    for (;;) {
      Result<Datagram> d = co_await sock.recv_from(buf);
      if (!d) {
        if (d.error().code() == Errc::kCancelled) co_return;
        continue;  // e.g. an ICMP error about an earlier reply
      }
      (void)co_await sock.send_to(std::span(buf).first(d->size), d->from);
    }
  }
  void start_server(UdpSocket& sock) {
    vr.reactor.spawn(coro::with_cancellation(echo_server(sock), stop.token()));
  }
  template <typename T>
  T run(coro::Task<T> t) {
    return vr.reactor.block_on(std::move(t));
  }

  coro::testing::VirtualReactor vr;
  testing::FakeDevice client_dev;
  testing::FakeDevice server_dev;
  Engine client;
  Engine server;
  coro::CancellationSource stop;
};

// Sends `data` and waits up to `timeout` for the reply.
coro::Task<Result<Datagram>> exchange(UdpSocket& sock, std::span<const std::byte> data,
                                      std::span<std::byte> reply, coro::Duration timeout = 1s) {
  Result<void> s = co_await sock.send_to(data, Endpoint{kServerIp, kEchoPort});
  if (!s) co_return s.error();
  co_return co_await coro::with_timeout(sock.recv_from(reply), timeout);
}

TEST_F(TwoEngines, EchoesDatagramsByteExact) {
  auto srv = UdpSocket::bind(server, kEchoPort);
  auto cli = UdpSocket::bind(client, 0);
  ASSERT_TRUE(srv && cli);
  start_server(*srv);
  for (std::size_t size : {0u, 1u, 100u, 999u, 1472u}) {
    Bytes data = testing::pattern(size, static_cast<int>(size));
    std::array<std::byte, 2048> reply{};
    Result<Datagram> d = run(exchange(*cli, data, reply));
    ASSERT_TRUE(d) << "size " << size << ": " << d.error().message();
    EXPECT_EQ(d->size, size);
    EXPECT_FALSE(d->truncated);
    EXPECT_EQ(d->from, (Endpoint{kServerIp, kEchoPort}));
    EXPECT_EQ(Bytes(reply.begin(), reply.begin() + size), data);
  }
  EXPECT_EQ(client.arp().state(kServerIp), arp::ArpCache::State::kReachable);
}

TEST_F(TwoEngines, AReplyLargerThanTheBufferIsFlaggedTruncated) {
  auto srv = UdpSocket::bind(server, kEchoPort);
  auto cli = UdpSocket::bind(client, 0);
  start_server(*srv);
  Bytes data = testing::pattern(1000);
  std::array<std::byte, 100> reply{};
  Result<Datagram> d = run(exchange(*cli, data, reply));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->truncated);
  EXPECT_EQ(d->size, 1000u);
  EXPECT_EQ(Bytes(reply.begin(), reply.end()), testing::pattern(100));
}

TEST_F(TwoEngines, ASilentPeerTimesOut) {
  auto srv = UdpSocket::bind(server, kEchoPort);  // bound, never reads
  auto cli = UdpSocket::bind(client, 0);
  std::array<std::byte, 64> reply{};
  const coro::TimePoint start = vr.clock.now();
  Result<Datagram> d = run(exchange(*cli, testing::bytes_of("hello?"), reply, 1s));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Errc::kTimedOut);
  EXPECT_EQ(vr.clock.now() - start, 1s);
  EXPECT_EQ(srv->queued(), 1u);
}

TEST_F(TwoEngines, AClosedPortIsReportedAsConnectionRefused) {
  auto cli = UdpSocket::bind(client, 0);
  std::array<std::byte, 64> reply{};
  Result<Datagram> d = run(exchange(*cli, testing::bytes_of("anyone?"), reply));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Errc::kConnectionRefused);
  EXPECT_EQ(server.icmp().stats().tx_errors, 1u);
}

TEST_F(TwoEngines, ALostDatagramIsRecoveredByRetryingAfterATimeout) {
  auto srv = UdpSocket::bind(server, kEchoPort);
  auto cli = UdpSocket::bind(client, 0);
  start_server(*srv);
  int udp_seen = 0;
  client_dev.set_drop_filter([&](std::span<const std::byte> f) {
    auto ip = testing::parse_ip_frame(f);
    return ip.ok && ip.protocol == kProtoUdp && ++udp_seen == 1;  // lose the first datagram
  });
  auto attempt = [](UdpSocket& sock) -> coro::Task<Result<Datagram>> {
    std::array<std::byte, 64> reply{};
    for (int i = 0; i < 3; ++i) {
      Result<Datagram> d = co_await exchange(sock, testing::bytes_of("ping"), reply, 200ms);
      if (d || d.error().code() != Errc::kTimedOut) co_return d;
    }
    co_return Error(Errc::kTimedOut, "three attempts");
  };
  Result<Datagram> d = run(attempt(*cli));
  ASSERT_TRUE(d);
  EXPECT_EQ(client_dev.wire_drops(), 1u);
  EXPECT_EQ(udp_seen, 2);
}

TEST_F(TwoEngines, ALostArpRequestIsRetried) {
  auto srv = UdpSocket::bind(server, kEchoPort);
  auto cli = UdpSocket::bind(client, 0);
  start_server(*srv);
  vr.drain();  // announcements out of the way
  bool dropped = false;
  client_dev.set_drop_filter([&](std::span<const std::byte> f) {
    auto e = testing::parse_eth(f);
    auto a = testing::parse_arp(e.payload);
    if (e.type == testing::kEthArp && a.op == 1 && a.tpa == kServerIp && !dropped) {
      dropped = true;
      return true;
    }
    return false;
  });
  // The server's announcement taught the client nothing (merge rule: not aimed at it), so the
  // client must ask; the first request is lost and retried a second later.
  std::array<std::byte, 64> reply{};
  const coro::TimePoint start = vr.clock.now();
  Result<Datagram> d = run(exchange(*cli, testing::bytes_of("ping"), reply, 5s));
  ASSERT_TRUE(d);
  EXPECT_TRUE(dropped);
  EXPECT_GE(vr.clock.now() - start, 1s);
  EXPECT_GE(client.arp().stats().tx_requests, 2u);
}

TEST_F(TwoEngines, AnAbsentHostIsReportedAsHostUnreachable) {
  auto cli = UdpSocket::bind(client, 0);
  auto attempt = [](UdpSocket& sock) -> coro::Task<Result<Datagram>> {
    std::array<std::byte, 64> reply{};
    Result<void> s =
        co_await sock.send_to(testing::bytes_of("x"), Endpoint{Ipv4Address(10, 0, 0, 99), 7});
    if (!s) co_return s.error();
    co_return co_await coro::with_timeout(sock.recv_from(reply), 30s);
  };
  Result<Datagram> d = run(attempt(*cli));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Errc::kHostUnreachable);
}

}  // namespace
}  // namespace coronet::stack
