// The socket API's promises, checked once and run against both TCPs behind coronet::Stack:
//   user    coronet's own TCP: two engines joined by the in-memory wire, on virtual time;
//   kernel  Linux's TCP through io_uring, on 127.0.0.1, on real time.
// A behaviour that differs between the two is a bug in one of them (or in this file's idea of
// the API): the same program must behave the same whichever stack it is started with.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "coro/timeout.h"
#include "coro/when_all.h"
#include "coronet/socket.h"
#include "tests/stack/sim_hosts.h"

namespace coronet {
namespace {

using namespace std::chrono_literals;
using coro::Task;

// Two coronet hosts on the in-memory wire (virtual time): client on A, server on B.
struct UserBackend {
  testing::SimPair sim;
  Stack server() { return Stack::user(sim.b->tcp); }
  Stack client() { return Stack::user(sim.a->tcp); }
  Ipv4Address server_address() const { return testing::SimPair::kAddrB; }
  template <typename T>
  T run(Task<T> t) {
    return sim.v.reactor.block_on(std::move(t));
  }
  coro::Reactor& reactor() { return sim.v.reactor; }
};

// The kernel on loopback: one reactor and io_uring serve both ends.
struct KernelBackend {
  KernelBackend() {
    auto d = kernel::UringDriver::create(reactor_);
    if (!d) throw std::runtime_error("io_uring: " + d.error().message());
    driver = std::move(*d);
  }
  ~KernelBackend() { driver.reset(); }
  Stack server() { return Stack::kernel(*driver); }
  Stack client() { return Stack::kernel(*driver); }
  Ipv4Address server_address() const { return Ipv4Address(127, 0, 0, 1); }
  template <typename T>
  T run(Task<T> t) {
    return reactor_.block_on(std::move(t));
  }
  coro::Reactor& reactor() { return reactor_; }

  coro::Reactor reactor_;
  std::unique_ptr<kernel::UringDriver> driver;
};

struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, UserBackend> ? "user" : "kernel";
  }
};

template <typename B>
class SocketConformance : public ::testing::Test {
 protected:
  // Listens on an unused port (loopback only for the kernel).
  Listener listen(ListenOptions o = {}) {
    o.address = b.server_address();
    auto l = b.server().listen(0, o);
    EXPECT_TRUE(l.has_value()) << l.error().message();
    return l ? std::move(*l) : Listener();
  }
  Endpoint at(const Listener& l) const { return Endpoint{b.server_address(), l.port()}; }
  B b;
};

using Backends = ::testing::Types<UserBackend, KernelBackend>;
TYPED_TEST_SUITE(SocketConformance, Backends, BackendNames);

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 131 + seed * 7) & 0xff);
  return v;
}

// Echoes until EOF, then closes.
Task<void> echo(Connection c) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = co_await c.read(buf);
    if (!n || *n == 0) break;
    if (!co_await c.write(std::span(buf).first(*n))) co_return;
  }
  (void)co_await c.close();
}

Task<void> serve_echo(Listener& l, int connections) {
  for (int i = 0; i < connections; ++i) {
    auto c = co_await l.accept();
    if (!c) co_return;
    coro::Reactor::current()->spawn(echo(std::move(*c)));
  }
}

// Connects, sends `data`, half-closes, reads everything back; the bytes read, or the error.
Task<Result<std::vector<std::byte>>> echo_round_trip(Stack s, Endpoint to,
                                                     std::vector<std::byte> data) {
  auto c = co_await s.connect(to);
  if (!c) co_return c.error();
  auto send = [](Connection& c, std::span<const std::byte> d) -> Task<Result<void>> {
    if (auto w = co_await c.write(d); !w) co_return w.error();
    co_return c.shutdown();
  };
  auto receive = [](Connection& c) -> Task<Result<std::vector<std::byte>>> {
    std::vector<std::byte> got;
    std::array<std::byte, 8192> buf;
    for (;;) {
      auto n = co_await c.read(buf);
      if (!n) co_return n.error();
      if (*n == 0) co_return got;
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    }
  };
  auto [sent, got] = co_await coro::when_all(send(*c, data), receive(*c));
  if (!sent) co_return sent.error();
  (void)co_await c->close();
  co_return got;
}

TYPED_TEST(SocketConformance, EchoesBytesBackExactly) {
  Listener l = this->listen();
  this->b.reactor().spawn(serve_echo(l, 1));
  const auto data = pattern(100'000, 1);
  auto got = this->b.run(echo_round_trip(this->b.client(), this->at(l), data));
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(*got, data);
}

TYPED_TEST(SocketConformance, ManyConnectionsAtOnceEachGetTheirOwnBytes) {
  constexpr int kConns = 40;
  Listener l = this->listen();
  this->b.reactor().spawn(serve_echo(l, kConns));
  auto all = [&]() -> Task<int> {
    std::vector<Task<Result<std::vector<std::byte>>>> tasks;
    for (int i = 0; i < kConns; ++i) {
      tasks.push_back(echo_round_trip(this->b.client(), this->at(l),
                                      pattern(2000 + static_cast<std::size_t>(i) * 97, i)));
    }
    int ok = 0;
    for (int i = 0; i < kConns; ++i) {
      auto r = co_await std::move(tasks[static_cast<std::size_t>(i)]);
      if (r && *r == pattern(2000 + static_cast<std::size_t>(i) * 97, i)) ++ok;
    }
    co_return ok;
  };
  EXPECT_EQ(this->b.run(all()), kConns);
}

TYPED_TEST(SocketConformance, ConnectToAClosedPortIsRefused) {
  std::uint16_t port;
  {
    Listener l = this->listen();
    port = l.port();
  }  // closed again
  auto r = this->b.run(this->b.client().connect(Endpoint{this->b.server_address(), port}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kConnectionRefused) << r.error().message();
}

TYPED_TEST(SocketConformance, ReadReturnsZeroAfterThePeersFinAndData) {
  Listener l = this->listen();
  auto server = [](Listener& l) -> Task<Result<std::string>> {
    auto c = co_await l.accept();
    if (!c) co_return c.error();
    std::string got;
    std::array<std::byte, 64> buf;
    for (;;) {
      auto n = co_await c->read(buf);
      if (!n) co_return n.error();
      if (*n == 0) break;
      for (std::size_t i = 0; i < *n; ++i) got.push_back(static_cast<char>(buf[i]));
    }
    // After EOF, reads keep returning 0.
    auto again = co_await c->read(buf);
    if (!again || *again != 0) co_return Error(Errc::kInvalidArgument, "second read not 0");
    (void)co_await c->close();
    co_return got;
  };
  auto client = [&]() -> Task<Result<void>> {
    auto c = co_await this->b.client().connect(this->at(l));
    if (!c) co_return c.error();
    const std::string msg = "bye";
    auto w = co_await c->write(std::as_bytes(std::span(msg)));
    if (!w) co_return w.error();
    co_return co_await c->close();
  };
  auto [got, closed] = this->b.run(coro::when_all(server(l), client()));
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(*got, "bye");
  EXPECT_TRUE(closed.has_value()) << closed.error().message();
}

TYPED_TEST(SocketConformance, HalfClosedPeerStillReceives) {
  Listener l = this->listen();
  // The server reads to EOF, then answers with the byte count: the client, having shut down its
  // sending side, must still receive it.
  auto server = [](Listener& l) -> Task<void> {
    auto c = co_await l.accept();
    if (!c) co_return;
    std::size_t total = 0;
    std::array<std::byte, 4096> buf;
    for (;;) {
      auto n = co_await c->read(buf);
      if (!n || *n == 0) break;
      total += *n;
    }
    const std::string reply = std::to_string(total);
    (void)co_await c->write(std::as_bytes(std::span(reply)));
    (void)co_await c->close();
  };
  this->b.reactor().spawn(server(l));
  const auto data = pattern(30'000, 3);
  auto got = this->b.run(echo_round_trip(this->b.client(), this->at(l), data));
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got->data()), got->size()), "30000");
}

TYPED_TEST(SocketConformance, AbortResetsThePeer) {
  Listener l = this->listen();
  auto server = [](Listener& l) -> Task<Result<std::size_t>> {
    auto c = co_await l.accept();
    if (!c) co_return c.error();
    std::array<std::byte, 64> buf;
    co_return co_await c->read(buf);
  };
  auto client = [&]() -> Task<void> {
    auto c = co_await this->b.client().connect(this->at(l));
    if (!c) co_return;
    c->abort();
  };
  auto [r, done] = this->b.run(coro::when_all(server(l), client()));
  (void)done;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kConnectionReset) << r.error().message();
}

TYPED_TEST(SocketConformance, ReadTimeoutLeavesTheConnectionUsable) {
  Listener l = this->listen();
  auto server = [](Listener& l) -> Task<Result<std::string>> {
    auto c = co_await l.accept();
    if (!c) co_return c.error();
    std::array<std::byte, 16> buf;
    // Nothing comes for a while: the read times out...
    auto first = co_await coro::with_timeout(c->read(buf), 50ms);
    if (first) co_return Error(Errc::kInvalidArgument, "read did not time out");
    if (first.error().code() != Errc::kTimedOut) co_return first.error();
    // ... and the next read gets the data sent later; nothing was lost.
    auto n = co_await c->read(buf);
    if (!n) co_return n.error();
    (void)co_await c->close();
    co_return std::string(reinterpret_cast<const char*>(buf.data()), *n);
  };
  auto client = [&]() -> Task<Result<void>> {
    auto c = co_await this->b.client().connect(this->at(l));
    if (!c) co_return c.error();
    co_await coro::sleep_for(150ms);
    const std::string msg = "late";
    if (auto w = co_await c->write(std::as_bytes(std::span(msg))); !w) co_return w.error();
    std::array<std::byte, 4> buf;
    (void)co_await c->read(buf);  // EOF once the server closes
    co_return co_await c->close();
  };
  auto [got, sent] = this->b.run(coro::when_all(server(l), client()));
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(*got, "late");
  EXPECT_TRUE(sent.has_value()) << sent.error().message();
}

TYPED_TEST(SocketConformance, WriteAfterShutdownIsAnError) {
  Listener l = this->listen();
  this->b.reactor().spawn(serve_echo(l, 1));
  auto client = [&]() -> Task<Result<std::size_t>> {
    auto c = co_await this->b.client().connect(this->at(l));
    if (!c) co_return c.error();
    if (auto s = c->shutdown(); !s) co_return s.error();
    const std::string msg = "too late";
    auto w = co_await c->write(std::as_bytes(std::span(msg)));
    (void)co_await c->close();
    co_return w;
  };
  auto r = this->b.run(client());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kBrokenPipe) << r.error().message();
}

// RFC 2525 §2.17 (both stacks): closing with received data unread resets instead of a FIN:
// close() says so, and the peer's next read sees the reset.
TYPED_TEST(SocketConformance, CloseWithUnreadDataResetsThePeer) {
  Listener l = this->listen();
  auto server = [](Listener& l) -> Task<Result<void>> {
    auto c = co_await l.accept();
    if (!c) co_return c.error();
    std::array<std::byte, 1> one;
    if (auto r = co_await c->read_exactly(one); !r) co_return r.error();  // data has arrived
    co_await coro::sleep_for(20ms);  // the rest of it too, left unread
    co_return co_await c->close();
  };
  auto client = [&]() -> Task<Result<std::size_t>> {
    auto c = co_await this->b.client().connect(this->at(l));
    if (!c) co_return c.error();
    const auto data = pattern(1000, 5);
    if (auto w = co_await c->write(data); !w) co_return w.error();
    std::array<std::byte, 16> buf;
    co_return co_await c->read(buf);
  };
  auto [closed, read] = this->b.run(coro::when_all(server(l), client()));
  ASSERT_FALSE(closed.has_value());
  EXPECT_EQ(closed.error().code(), Errc::kConnectionAborted) << closed.error().message();
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), Errc::kConnectionReset) << read.error().message();
}

// A writer far ahead of a slow reader waits for buffer space (back-pressure) and loses nothing.
TYPED_TEST(SocketConformance, SlowReaderHoldsBackTheWriterWithoutLoss) {
  Listener l = this->listen();
  constexpr std::size_t kBytes = 4 << 20;
  auto server = [](Listener& l) -> Task<Result<std::size_t>> {
    auto c = co_await l.accept();
    if (!c) co_return c.error();
    std::size_t total = 0;
    std::array<std::byte, 1024> buf;
    const auto expect = pattern(kBytes, 9);
    for (int i = 0;; ++i) {
      auto n = co_await c->read(buf);
      if (!n) co_return n.error();
      if (*n == 0) break;
      if (!std::equal(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n),
                      expect.begin() + static_cast<std::ptrdiff_t>(total))) {
        co_return Error(Errc::kInvalidArgument, "wrong byte near " + std::to_string(total));
      }
      total += *n;
      if (i % 64 == 0) co_await coro::sleep_for(1ms);  // slow
    }
    (void)co_await c->close();
    co_return total;
  };
  auto client = [&]() -> Task<Result<void>> {
    auto c = co_await this->b.client().connect(this->at(l));
    if (!c) co_return c.error();
    const auto data = pattern(kBytes, 9);
    if (auto w = co_await c->write(data); !w) co_return w.error();
    co_return co_await c->close();
  };
  auto [got, sent] = this->b.run(coro::when_all(server(l), client()));
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(*got, kBytes);
  EXPECT_TRUE(sent.has_value()) << sent.error().message();
}

TYPED_TEST(SocketConformance, OptionsAreAccepted) {
  Listener l = this->listen();
  this->b.reactor().spawn(serve_echo(l, 1));
  auto client = [&]() -> Task<Result<void>> {
    auto c = co_await this->b.client().connect(this->at(l));
    if (!c) co_return c.error();
    if (auto r = c->set_no_delay(true); !r) co_return r.error();
    if (auto r = c->set_keepalive(10s, 2s, 3); !r) co_return r.error();
    if (auto r = c->set_user_timeout(30s); !r) co_return r.error();
    if (c->local().port == 0 || c->remote().port == 0) {
      co_return Error(Errc::kInvalidArgument, "endpoints unknown");
    }
    co_return co_await c->close();
  };
  auto r = this->b.run(client());
  EXPECT_TRUE(r.has_value()) << r.error().message();
}

TYPED_TEST(SocketConformance, EmptyHandlesReportNotConnected) {
  Connection c;
  std::array<std::byte, 4> buf;
  auto r = this->b.run(c.read(buf));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNotConnected);
  Listener l;
  auto a = this->b.run(l.accept());
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code(), Errc::kNotConnected);
}

}  // namespace
}  // namespace coronet
