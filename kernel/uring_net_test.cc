// The io_uring socket backend on loopback (127.0.0.1, ephemeral ports): echo with many
// connections, EOF, refused, reset, half-close, timeouts and cancellation, byte-exact large
// transfers, batched submission, buffer shortage, fallbacks, sleeping on the ring, multi-core.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "coro/coro.h"
#include "kernel/socket.h"
#include "kernel/uring_driver.h"

namespace coronet::kernel {
namespace {

using namespace std::chrono_literals;
using coro::Reactor;
using coro::Task;

constexpr Ipv4Address kLoopback(127, 0, 0, 1);

std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}
std::string text(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Deterministic content for byte-exact checks.
std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x);
  }
  return v;
}

int open_fds() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

// Every socket test runs in both wake modes: ring fd (default) and DEFER_TASKRUN + eventfd.
class UringNet : public ::testing::TestWithParam<bool> {
 public:  // coroutine helpers take the fixture by reference
  void SetUp() override {
    fds_before_ = open_fds();
    make_driver({});
  }
  void TearDown() override {
    drv_.reset();
    // Every socket and the ring are closed; the reactor keeps its wake eventfd (created for the
    // first fd-polling source).
    EXPECT_EQ(open_fds(), fds_before_ + 1) << "file descriptors leaked";
  }

  void make_driver(UringOptions o) {
    drv_.reset();
    o.defer_taskrun = GetParam();
    auto d = UringDriver::create(reactor_, o);
    ASSERT_TRUE(d) << d.error().message();
    drv_ = std::move(*d);
    ASSERT_EQ(drv_->features().defer_taskrun, GetParam());
  }
  template <typename T>
  T run(Task<T> t) {
    return reactor_.block_on(std::move(t));
  }
  Listener listen_loopback(ListenOptions o = {}) {
    o.address = kLoopback;
    auto l = listen(*drv_, 0, o);
    EXPECT_TRUE(l) << l.error().message();
    return l ? std::move(*l) : Listener();
  }

  Reactor reactor_;
  std::unique_ptr<UringDriver> drv_;
  int fds_before_ = 0;
};

TEST(UringProbe, ReportsKernelFeatures) {
  auto f = probe_uring();
  ASSERT_TRUE(f) << f.error().message();
  std::printf("%s", f->to_string().c_str());
  EXPECT_TRUE(f->op_accept && f->op_recv && f->op_send && f->op_cancel);
}

TEST_P(UringNet, EchoOneConnection) {
  Listener l = listen_loopback();
  ASSERT_NE(l.port(), 0);
  auto server = [](Listener& l) -> Task<void> {
    auto c = co_await l.accept();
    if (!c) co_return;
    std::array<std::byte, 1024> buf;
    for (;;) {
      auto n = co_await c->read(buf);
      if (!n || *n == 0) co_return;
      if (!co_await c->write(std::span(buf).first(*n))) co_return;
    }
  };
  reactor_.spawn(server(l));
  auto client = [](UringDriver& d, std::uint16_t port) -> Task<std::string> {
    auto c = co_await connect(d, Endpoint{kLoopback, port});
    if (!c) co_return "connect: " + c.error().message();
    auto w = co_await c->write(bytes("hello"));
    if (!w) co_return "write: " + w.error().message();
    std::array<std::byte, 5> buf;
    auto r = co_await c->read_exactly(buf);
    if (!r) co_return "read: " + r.error().message();
    co_return text(buf);
  };
  EXPECT_EQ(run(client(*drv_, l.port())), "hello");
}

// Echo server used by several tests: accepts forever, one echo coroutine per connection.
Task<void> echo_connection(Connection c) {
  std::vector<std::byte> buf(16 * 1024);
  for (;;) {
    auto n = co_await c.read(buf);
    if (!n || *n == 0) co_return;
    if (!co_await c.write(std::span(buf).first(*n))) co_return;
  }
}
Task<void> echo_server(Listener& l) {
  for (;;) {
    auto c = co_await l.accept();
    if (!c) co_return;
    coro::spawn(echo_connection(std::move(*c)));
  }
}

// Sends `rounds` messages of `size` bytes and checks each echo; returns "" or what went wrong.
Task<std::string> echo_client(UringDriver& d, std::uint16_t port, int id, int rounds,
                              std::size_t size) {
  auto c = co_await connect(d, Endpoint{kLoopback, port});
  if (!c) co_return "connect: " + c.error().message();
  std::vector<std::byte> back(size);
  for (int r = 0; r < rounds; ++r) {
    auto msg = pattern(size, static_cast<std::uint32_t>(id * 1000 + r));
    if (auto w = co_await c->write(msg); !w) co_return "write: " + w.error().message();
    if (auto rd = co_await c->read_exactly(back); !rd) co_return "read: " + rd.error().message();
    if (back != msg) co_return "echo differs in round " + std::to_string(r);
  }
  auto cl = co_await c->close();
  if (!cl) co_return "close: " + cl.error().message();
  co_return std::string();
}

TEST_P(UringNet, EchoManyConnectionsConcurrently) {
  Listener l = listen_loopback({.backlog = 512});
  reactor_.spawn(echo_server(l));
  constexpr int kConns = 200;
  std::vector<Task<std::string>> clients;
  for (int i = 0; i < kConns; ++i) clients.push_back(echo_client(*drv_, l.port(), i, 20, 700));
  auto results = run(coro::when_all(std::move(clients)));
  for (int i = 0; i < kConns; ++i) EXPECT_EQ(results[i], "") << "client " << i;
  const UringStats& st = drv_->stats();
  EXPECT_EQ(st.accepted, static_cast<std::uint64_t>(kConns));
  // Multishot accept: far fewer accept SQEs than connections.
  EXPECT_LT(st.accept_arms, static_cast<std::uint64_t>(kConns) / 4);
  EXPECT_EQ(st.forced_submits, 0u);
}

TEST_P(UringNet, ReadReturnsZeroAtEofAfterTheData) {
  Listener l = listen_loopback();
  auto client = [](UringDriver& d, std::uint16_t port) -> Task<Result<void>> {
    auto c = co_await connect(d, Endpoint{kLoopback, port});
    if (!c) co_return c.error();
    if (auto w = co_await c->write(bytes("last words")); !w) co_return w.error();
    co_return co_await c->close();
  };
  auto server = [](Listener& l) -> Task<std::string> {
    auto c = co_await l.accept();
    if (!c) co_return "accept: " + c.error().message();
    std::string got;
    std::array<std::byte, 4> buf;
    for (;;) {
      auto n = co_await c->read(buf);
      if (!n) co_return "read: " + n.error().message();
      if (*n == 0) break;
      got += text(std::span(buf).first(*n));
    }
    auto again = co_await c->read(buf);  // EOF stays EOF
    if (!again || *again != 0) co_return "second read after EOF was not 0";
    co_return got;
  };
  auto both = [&]() -> Task<std::string> {
    auto [cr, sr] = co_await coro::when_all(client(*drv_, l.port()), server(l));
    if (!cr) co_return "client: " + cr.error().message();
    co_return sr;
  };
  EXPECT_EQ(run(both()), "last words");
}

TEST_P(UringNet, ConnectToAClosedPortIsRefused) {
  // A bound but not listening socket holds the port, so nobody else can listen there meanwhile.
  int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len), 0);
  auto r = run(connect(*drv_, Endpoint{kLoopback, ntohs(a.sin_port)}));
  ::close(holder);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kConnectionRefused) << r.error().message();
  EXPECT_NE(r.error().message().find("127.0.0.1"), std::string::npos) << r.error().message();
  EXPECT_EQ(drv_->resources(), 0u);  // the failed socket is gone
}

// A plain blocking kernel socket, for peers that must misbehave (RST) or stay passive.
int raw_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}
// Writes all of `s` on a raw socket (loopback: never short for these sizes).
bool raw_send(int fd, std::string_view s) {
  return ::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size());
}
void raw_reset(int fd) {
  linger lg{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  ::close(fd);
}

TEST_P(UringNet, PeerResetEndsReadsWithConnectionReset) {
  Listener l = listen_loopback();
  int peer = raw_connect(l.port());
  ASSERT_GE(peer, 0);
  auto t = [](Listener& l, int peer) -> Task<Result<std::size_t>> {
    auto c = co_await l.accept();
    if (!c) co_return c.error();
    if (!raw_send(peer, "x")) co_return Error(Errc::kIoError, "raw send");
    std::array<std::byte, 8> buf;
    auto first = co_await c->read(buf);  // the byte sent before the reset
    if (!first || *first != 1) co_return Error(Errc::kIoError, "first read");
    raw_reset(peer);
    co_return co_await c->read(buf);
  };
  auto r = run(t(l, peer));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kConnectionReset) << r.error().message();
}

TEST_P(UringNet, WriteAfterPeerResetFailsWithResetOrBrokenPipe) {
  Listener l = listen_loopback();
  int peer = raw_connect(l.port());
  ASSERT_GE(peer, 0);
  auto t = [](Listener& l, int peer) -> Task<Result<std::size_t>> {
    auto c = co_await l.accept();
    if (!c) co_return c.error();
    raw_reset(peer);
    co_await coro::sleep_for(5ms);
    auto big = pattern(1 << 20, 1);
    Result<std::size_t> r = std::size_t{0};
    for (int i = 0; i < 4 && r; ++i) r = co_await c->write(big);
    co_return r;
  };
  auto r = run(t(l, peer));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().code() == Errc::kConnectionReset || r.error().code() == Errc::kBrokenPipe)
      << r.error().message();
}

TEST_P(UringNet, HalfCloseKeepsTheOtherDirectionOpen) {
  Listener l = listen_loopback();
  auto server = [](Listener& l) -> Task<std::string> {
    auto c = co_await l.accept();
    if (!c) co_return "accept: " + c.error().message();
    std::string request;
    std::array<std::byte, 64> buf;
    for (;;) {  // the request ends with the client's FIN
      auto n = co_await c->read(buf);
      if (!n) co_return "read: " + n.error().message();
      if (*n == 0) break;
      request += text(std::span(buf).first(*n));
    }
    if (auto w = co_await c->write(bytes("answer to " + request)); !w) co_return "write failed";
    if (auto cl = co_await c->close(); !cl) co_return "close: " + cl.error().message();
    co_return request;
  };
  auto client = [](UringDriver& d, std::uint16_t port) -> Task<std::string> {
    auto c = co_await connect(d, Endpoint{kLoopback, port});
    if (!c) co_return "connect: " + c.error().message();
    if (auto w = co_await c->write(bytes("question")); !w) co_return "write failed";
    if (auto s = c->shutdown(); !s) co_return "shutdown: " + s.error().message();
    auto w2 = co_await c->write(bytes("more"));
    if (w2 || w2.error().code() != Errc::kBrokenPipe) co_return "write after shutdown did not fail";
    std::string reply;
    std::array<std::byte, 64> buf;
    for (;;) {
      auto n = co_await c->read(buf);
      if (!n) co_return "read: " + n.error().message();
      if (*n == 0) break;
      reply += text(std::span(buf).first(*n));
    }
    co_return reply;
  };
  auto both = [&]() -> Task<std::pair<std::string, std::string>> {
    auto [s, c] = co_await coro::when_all(server(l), client(*drv_, l.port()));
    co_return std::pair{s, c};
  };
  auto [s, c] = run(both());
  EXPECT_EQ(s, "question");
  EXPECT_EQ(c, "answer to question");
}

TEST_P(UringNet, ReadTimeoutCancelsTheKernelRecvAndLosesNoData) {
  Listener l = listen_loopback();
  int peer = raw_connect(l.port());
  ASSERT_GE(peer, 0);
  auto t = [](Listener& l, UringDriver& d, int peer) -> Task<std::string> {
    auto c = co_await l.accept();
    if (!c) co_return "accept: " + c.error().message();
    std::array<std::byte, 16> buf;
    const auto cancels = d.stats().cancels;
    auto start = std::chrono::steady_clock::now();
    auto r = co_await coro::with_timeout(c->read(buf), 30ms);
    auto took = std::chrono::steady_clock::now() - start;
    if (r || r.error().code() != Errc::kTimedOut) co_return "read did not time out";
    if (took < 30ms) co_return "timed out early";
    if (d.stats().cancels <= cancels) co_return "no io_uring cancel was issued";
    if (!raw_send(peer, "late")) co_return "raw send";  // after the timeout: the next read gets it
    auto again = co_await coro::with_timeout(c->read(buf), 2s);
    if (!again) co_return "second read: " + again.error().message();
    co_return text(std::span(buf).first(*again));
  };
  EXPECT_EQ(run(t(l, *drv_, peer)), "late");
  ::close(peer);
}

TEST_P(UringNet, CancelledReadResumesExactlyOnceWithCancelled) {
  Listener l = listen_loopback();
  int peer = raw_connect(l.port());
  ASSERT_GE(peer, 0);
  auto t = [](Listener& l, int peer) -> Task<std::string> {
    auto c = co_await l.accept();
    if (!c) co_return "accept: " + c.error().message();
    coro::CancellationSource src;
    int resumed = 0;
    Result<std::size_t> result = std::size_t{0};
    std::array<std::byte, 16> buf;
    auto reader = [](Connection& c, std::span<std::byte> buf, int& resumed,
                     Result<std::size_t>& out) -> Task<void> {
      out = co_await c.read(buf);
      ++resumed;
    };
    auto canceller = [](coro::CancellationSource& src, int peer) -> Task<void> {
      co_await coro::sleep_for(10ms);
      (void)src.cancel();
      EXPECT_TRUE(raw_send(peer, "zz"));  // races with the cancel on purpose: no second resume
    };
    co_await coro::when_all(coro::with_cancellation(reader(*c, buf, resumed, result), src.token()),
                            canceller(src, peer));
    co_await coro::sleep_for(20ms);  // any stray second completion would show up here
    if (resumed != 1) co_return "resumed " + std::to_string(resumed) + " times";
    if (result || result.error().code() != Errc::kCancelled) co_return "not kCancelled";
    auto n = co_await coro::with_timeout(c->read(buf), 2s);  // the racing bytes are not lost
    if (!n) co_return "read after cancel: " + n.error().message();
    co_return text(std::span(buf).first(*n));
  };
  EXPECT_EQ(run(t(l, peer)), "zz");
  ::close(peer);
}

TEST_P(UringNet, AcceptTimesOutAndTheListenerKeepsWorking) {
  Listener l = listen_loopback();
  auto t = [](Listener& l, UringDriver& d) -> Task<std::string> {
    auto a = co_await coro::with_timeout(l.accept(), 20ms);
    if (a || a.error().code() != Errc::kTimedOut) co_return "accept did not time out";
    auto [acc, conn] = co_await coro::when_all(coro::with_timeout(l.accept(), 2s),
                                               connect(d, Endpoint{kLoopback, l.port()}));
    if (!acc) co_return "accept: " + acc.error().message();
    if (!conn) co_return "connect: " + conn.error().message();
    if (acc->remote() != conn->local()) co_return "endpoints do not match";
    co_return "ok";
  };
  EXPECT_EQ(run(t(l, *drv_)), "ok");
  EXPECT_GE(drv_->stats().cancels, 1u);
}

TEST_P(UringNet, ConnectTimesOutWhenTheListenQueueIsFull) {
  // A raw listener that never accepts, its queue filled: Linux drops further SYNs, so our connect
  // hangs until with_timeout cancels it.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  socklen_t len = sizeof(a);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::uint16_t port = ntohs(a.sin_port);
  // Non-blocking fillers: one completes and fills the queue, the next just keeps retrying SYNs.
  std::vector<int> fillers;
  for (int i = 0; i < 2; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(20ms);
  auto start = std::chrono::steady_clock::now();
  auto r = run(coro::with_timeout(connect(*drv_, Endpoint{kLoopback, port}), 150ms));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kTimedOut) << r.error().message();
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 900ms);  // before the SYN retransmission at 1 s could have rescued it
  for (int fd : fillers) ::close(fd);
  ::close(lfd);
  reactor_.run_once();
  reactor_.run_once();
  EXPECT_EQ(drv_->resources(), 0u);
}

TEST_P(UringNet, WriteTimeoutWhenThePeerStopsReading) {
  // The peer never reads: once both socket buffers are full the send waits in the kernel until
  // with_timeout cancels it; the coroutine resumes once, after the kernel let go of the data.
  Listener l = listen_loopback({.buffers = {.send = 64 * 1024, .recv = 64 * 1024}});
  int peer = raw_connect(l.port());
  ASSERT_GE(peer, 0);
  auto t = [](Listener& l, UringDriver& d) -> Task<std::string> {
    auto c = co_await l.accept();
    if (!c) co_return "accept: " + c.error().message();
    auto big = pattern(64 << 20, 5);
    const auto cancels = d.stats().cancels;
    int resumed = 0;
    auto writer = [](Connection& c, std::span<const std::byte> data,
                     int& resumed) -> Task<Result<std::size_t>> {
      auto r = co_await c.write(data);
      ++resumed;
      co_return r;
    };
    auto r = co_await coro::with_timeout(writer(*c, big, resumed), 50ms);
    if (resumed != 1) co_return "resumed " + std::to_string(resumed) + " times";
    if (r || r.error().code() != Errc::kTimedOut) co_return "write did not time out";
    if (d.stats().cancels <= cancels) co_return "no io_uring cancel was issued";
    co_return "ok";
  };
  EXPECT_EQ(run(t(l, *drv_)), "ok");
  ::close(peer);
}

TEST_P(UringNet, ConcurrentWritersTakeTurns) {
  Listener l = listen_loopback();
  const auto a = pattern(3 << 20, 11);
  const auto b = pattern(3 << 20, 12);
  auto t = [&]() -> Task<std::string> {
    auto [acc, conn] =
        co_await coro::when_all(l.accept(), connect(*drv_, Endpoint{kLoopback, l.port()}));
    if (!acc || !conn) co_return "setup failed";
    auto writer = [](Connection& c, const std::vector<std::byte>& d) -> Task<bool> {
      co_return static_cast<bool>(co_await c.write(d));
    };
    auto reader = [](Connection& c, std::size_t n) -> Task<std::vector<std::byte>> {
      std::vector<std::byte> got(n);
      if (!co_await c.read_exactly(got)) got.clear();
      co_return got;
    };
    auto [wa, wb, got] = co_await coro::when_all(writer(*conn, a), writer(*conn, b),
                                                 reader(*acc, a.size() + b.size()));
    if (!wa || !wb) co_return "a write failed";
    std::vector<std::byte> ab(a), ba(b);
    ab.insert(ab.end(), b.begin(), b.end());
    ba.insert(ba.end(), a.begin(), a.end());
    co_return got == ab || got == ba ? "" : "the two writes interleaved";
  };
  EXPECT_EQ(run(t()), "");
}

TEST_P(UringNet, DroppingHandlesEndsPendingOperations) {
  auto t = [](UringNet& f) -> Task<std::string> {
    auto l = std::make_unique<Listener>(f.listen_loopback());
    auto [acc, conn] =
        co_await coro::when_all(l->accept(), connect(*f.drv_, Endpoint{kLoopback, l->port()}));
    if (!acc || !conn) co_return "setup failed";
    auto pending_accept = [](Listener& l) -> Task<Result<Connection>> {
      co_return co_await l.accept();
    };
    auto pending_read = [](Connection& c) -> Task<Result<std::size_t>> {
      std::array<std::byte, 8> buf;
      co_return co_await c.read(buf);
    };
    auto dropper = [](std::unique_ptr<Listener>& l, Connection& c) -> Task<void> {
      co_await coro::sleep_for(5ms);
      l.reset();
      Connection gone = std::move(c);  // dropped at the end of this scope
    };
    auto [a, r, unused] =
        co_await coro::when_all(coro::with_timeout(pending_accept(*l), 2s),
                                coro::with_timeout(pending_read(*acc), 2s), dropper(l, *acc));
    (void)unused;
    if (a || a.error().code() != Errc::kNotConnected) co_return "accept did not end";
    if (r || r.error().code() != Errc::kNotConnected) co_return "read did not end";
    co_return "ok";
  };
  EXPECT_EQ(run(t(*this)), "ok");
  for (int i = 0; i < 5; ++i) reactor_.run_once();
  EXPECT_EQ(drv_->resources(), 0u);  // everything, the client side included, was closed
}

TEST_P(UringNet, LargeTransfersBothWaysAreByteExact) {
  Listener l = listen_loopback();
  constexpr std::size_t kSize = 32 << 20;
  const auto up = pattern(kSize, 7);
  const auto down = pattern(kSize, 8);
  // Each side writes its whole buffer in one write() while reading the other's in odd-sized reads.
  auto side = [](Connection& c, const std::vector<std::byte>& out,
                 const std::vector<std::byte>& expect) -> Task<std::string> {
    auto reader = [](Connection& c, const std::vector<std::byte>& expect) -> Task<std::string> {
      std::vector<std::byte> got;
      got.reserve(expect.size());
      std::vector<std::byte> buf(40'000 + 13);
      while (got.size() < expect.size()) {
        auto n = co_await c.read(buf);
        if (!n) co_return "read: " + n.error().message();
        if (*n == 0) co_return "early EOF at " + std::to_string(got.size());
        got.insert(got.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
      }
      co_return got == expect ? "" : "bytes differ";
    };
    auto writer = [](Connection& c, const std::vector<std::byte>& out) -> Task<std::string> {
      auto w = co_await c.write(out);
      if (!w) co_return "write: " + w.error().message();
      co_return *w == out.size() ? "" : "short write";
    };
    auto [r, w] = co_await coro::when_all(reader(c, expect), writer(c, out));
    co_return r + w;
  };
  auto t = [&]() -> Task<std::string> {
    auto [acc, conn] =
        co_await coro::when_all(l.accept(), connect(*drv_, Endpoint{kLoopback, l.port()}));
    if (!acc || !conn) co_return "setup failed";
    auto [a, b] = co_await coro::when_all(side(*acc, down, up), side(*conn, up, down));
    co_return a + b;
  };
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run(t()), "");
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("2 x %zu MiB both ways in %.3f s (%.0f MiB/s total)\n", kSize >> 20, secs,
              2.0 * static_cast<double>(kSize >> 20) / secs);
}

TEST_P(UringNet, OneIterationsSendsGoOutInOneSubmit) {
  Listener l = listen_loopback({.backlog = 256});
  constexpr int kConns = 64;
  std::vector<Connection> clients;
  std::vector<Connection> servers;
  auto setup = [&]() -> Task<void> {
    for (int i = 0; i < kConns; ++i) {
      auto [a, c] =
          co_await coro::when_all(l.accept(), connect(*drv_, Endpoint{kLoopback, l.port()}));
      servers.push_back(std::move(*a));
      clients.push_back(std::move(*c));
    }
  };
  run(setup());
  for (int i = 0; i < 5; ++i) reactor_.run_once();  // let everything settle
  int done = 0;
  auto writer = [](Connection& c, int& done) -> Task<void> {
    if (co_await c.write(bytes("ping"))) ++done;
  };
  for (auto& c : clients) reactor_.spawn(writer(c, done));
  const UringStats before = drv_->stats();
  reactor_.run_once();  // the writers run and queue their sends
  const UringStats mid = drv_->stats();
  EXPECT_EQ(mid.submits, before.submits);  // queued, nothing submitted yet
  reactor_.run_once();                     // poll(): one io_uring_enter for all of them
  const UringStats after = drv_->stats();
  EXPECT_EQ(after.submits - before.submits, 1u);
  // The first writer of the iteration sent directly (direct_sends_per_poll = 1); the rest were
  // batched.
  EXPECT_EQ(after.direct_sends - before.direct_sends, 1u);
  EXPECT_EQ(after.sqes - before.sqes, static_cast<std::uint64_t>(kConns - 1));
  EXPECT_GE(after.max_sqes_per_submit, static_cast<std::uint64_t>(kConns - 1));
  for (int i = 0; i < 10 && done < kConns; ++i) reactor_.run_once();
  EXPECT_EQ(done, kConns);
  // Over the whole test, never more than one submit per poll except forced ones (none here).
  EXPECT_EQ(after.forced_submits, 0u);
  EXPECT_LE(after.submits, after.polls);
}

TEST_P(UringNet, CloseWithUnreadDataResetsTheConnection) {
  Listener l = listen_loopback();
  auto t = [](Listener& l, UringDriver& d) -> Task<std::string> {
    auto [acc, conn] =
        co_await coro::when_all(l.accept(), connect(d, Endpoint{kLoopback, l.port()}));
    if (!acc || !conn) co_return "setup failed";
    if (!co_await conn->write(bytes("unread"))) co_return "write failed";
    co_await coro::sleep_for(5ms);
    auto cl = co_await acc->close();
    if (cl || cl.error().code() != Errc::kConnectionAborted) co_return "close did not abort";
    std::array<std::byte, 8> buf;
    auto r = co_await coro::with_timeout(conn->read(buf), 2s);
    if (r) co_return "peer read " + std::to_string(*r) + " bytes instead of a reset";
    co_return r.error().code() == Errc::kConnectionReset ? "reset" : r.error().message();
  };
  EXPECT_EQ(run(t(l, *drv_)), "reset");
}

TEST_P(UringNet, AbortSendsReset) {
  Listener l = listen_loopback();
  auto t = [](Listener& l, UringDriver& d) -> Task<std::string> {
    auto [acc, conn] =
        co_await coro::when_all(l.accept(), connect(d, Endpoint{kLoopback, l.port()}));
    if (!acc || !conn) co_return "setup failed";
    std::array<std::byte, 8> buf;
    auto reader = [](Connection& c, std::span<std::byte> b) -> Task<Result<std::size_t>> {
      co_return co_await coro::with_timeout(c.read(b), 2s);
    };
    auto aborter = [](Connection& c) -> Task<void> {
      co_await coro::sleep_for(5ms);
      c.abort();
    };
    auto [r, unused] = co_await coro::when_all(reader(*conn, buf), aborter(*acc));
    (void)unused;
    if (r) co_return "read returned data";
    if (acc->valid()) co_return "handle still valid after abort";
    co_return r.error().code() == Errc::kConnectionReset ? "reset" : r.error().message();
  };
  EXPECT_EQ(run(t(l, *drv_)), "reset");
}

TEST_P(UringNet, SocketOptionsReachTheKernel) {
  Listener l = listen_loopback();
  auto t = [](Listener& l, UringDriver& d) -> Task<std::string> {
    auto [acc, conn] =
        co_await coro::when_all(l.accept(), connect(d, Endpoint{kLoopback, l.port()}));
    if (!acc || !conn) co_return "setup failed";
    if (!conn->set_no_delay(true)) co_return "no_delay";
    if (!conn->set_keepalive(30s, 5s, 4)) co_return "keepalive";
    if (!conn->set_user_timeout(1500ms)) co_return "user timeout";
    if (conn->set_keepalive(1s, 0s, 3)) co_return "bad keepalive accepted";
    if (conn->set_user_timeout(-1s)) co_return "negative user timeout accepted";
    auto get = [&](int level, int opt) {
      int v = -1;
      socklen_t len = sizeof(v);
      getsockopt(conn->fd(), level, opt, &v, &len);
      return v;
    };
    if (get(IPPROTO_TCP, TCP_NODELAY) != 1) co_return "TCP_NODELAY not set";
    if (get(SOL_SOCKET, SO_KEEPALIVE) != 1 || get(IPPROTO_TCP, TCP_KEEPIDLE) != 30 ||
        get(IPPROTO_TCP, TCP_KEEPINTVL) != 5 || get(IPPROTO_TCP, TCP_KEEPCNT) != 4) {
      co_return "keepalive not set";
    }
    if (get(IPPROTO_TCP, TCP_USER_TIMEOUT) != 1500) co_return "TCP_USER_TIMEOUT not set";
    if (conn->remote().port != l.port() || conn->remote().addr != kLoopback) co_return "remote";
    co_return "ok";
  };
  EXPECT_EQ(run(t(l, *drv_)), "ok");
}

TEST_P(UringNet, SecondListenerWithoutReusePortIsAddressInUse) {
  Listener a = listen_loopback({.reuse_port = false});
  auto b = listen(*drv_, a.port(), {.address = kLoopback, .reuse_port = false});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), Errc::kAddressInUse) << b.error().message();
  // With SO_REUSEPORT on both, a second listener on the same port is the per-core pattern.
  Listener c = listen_loopback({.reuse_port = true});
  auto d = listen(*drv_, c.port(), {.address = kLoopback, .reuse_port = true});
  EXPECT_TRUE(d) << d.error().message();
}

TEST_P(UringNet, EmptyHandlesReportNotConnected) {
  Connection c;
  std::array<std::byte, 4> buf;
  auto r = run(c.read(buf));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kNotConnected);
  EXPECT_EQ(c.shutdown().error().code(), Errc::kNotConnected);
  Listener l;
  auto a = run(l.accept());
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::kNotConnected);
}

// ---- Driver behaviour: fallbacks, buffer shortage, pauses, sleeping, shutdown ----

TEST_P(UringNet, SingleShotFallbacksCarryTheSameTraffic) {
  make_driver({.multishot_accept = false, .multishot_recv = false});
  EXPECT_FALSE(drv_->multishot_accept());
  EXPECT_FALSE(drv_->multishot_recv());
  Listener l = listen_loopback();
  reactor_.spawn(echo_server(l));
  std::vector<Task<std::string>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(echo_client(*drv_, l.port(), i, 10, 3000));
  for (auto& r : run(coro::when_all(std::move(clients)))) EXPECT_EQ(r, "");
  EXPECT_GE(drv_->stats().accept_arms, 20u);  // one SQE per accepted connection
}

TEST_P(UringNet, AWriteOnAnIdleConnectionSkipsTheRing) {
  Listener l = listen_loopback();
  reactor_.spawn(echo_server(l));
  auto client = [](UringDriver& d, std::uint16_t port) -> Task<std::string> {
    auto c = co_await connect(d, Endpoint{kLoopback, port});
    if (!c) co_return "connect: " + c.error().message();
    const UringStats before = d.stats();
    if (auto w = co_await c->write(bytes("direct")); !w) co_return "write: " + w.error().message();
    // Completed by send(2) inside write(): no SQE went to the kernel before write() returned.
    if (d.stats().direct_sends != before.direct_sends + 1) co_return "not sent directly";
    if (d.stats().sqes != before.sqes) co_return "the send went through the ring";
    std::array<std::byte, 6> buf;
    if (auto r = co_await c->read_exactly(buf); !r) co_return "read: " + r.error().message();
    co_return text(buf);
  };
  EXPECT_EQ(run(client(*drv_, l.port())), "direct");
}

TEST_P(UringNet, RingOnlySendsCarryTheSameTraffic) {
  make_driver({.direct_sends_per_poll = 0});
  Listener l = listen_loopback();
  reactor_.spawn(echo_server(l));
  std::vector<Task<std::string>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(echo_client(*drv_, l.port(), i, 10, 3000));
  for (auto& r : run(coro::when_all(std::move(clients)))) EXPECT_EQ(r, "");
  EXPECT_EQ(drv_->stats().direct_sends, 0u);
}

TEST_P(UringNet, ATinyBufferPoolStillDeliversEveryByte) {
  // 4 buffers of 1 KiB shared by 16 connections: receives run out of buffers (ENOBUFS) and are
  // re-armed as readers hand buffers back.
  make_driver({.recv_buffers = 4, .recv_buffer_size = 1024, .recv_ahead_limit = 2048});
  Listener l = listen_loopback();
  reactor_.spawn(echo_server(l));
  std::vector<Task<std::string>> clients;
  for (int i = 0; i < 16; ++i) clients.push_back(echo_client(*drv_, l.port(), i, 4, 64 * 1024));
  for (auto& r : run(coro::when_all(std::move(clients)))) EXPECT_EQ(r, "");
  std::printf("ENOBUFS %llu, pauses %llu\n",
              static_cast<unsigned long long>(drv_->stats().recv_enobufs),
              static_cast<unsigned long long>(drv_->stats().recv_pauses));
  EXPECT_GT(drv_->stats().recv_enobufs + drv_->stats().recv_pauses, 0u);
  EXPECT_EQ(drv_->buffers().available(), 4u);  // every buffer came back
}

TEST_P(UringNet, ASlowReaderPausesItsRecvAndResumes) {
  make_driver({.recv_ahead_limit = 64 * 1024});
  Listener l = listen_loopback();
  constexpr std::size_t kSize = 4 << 20;
  const auto data = pattern(kSize, 3);
  auto t = [&]() -> Task<std::string> {
    auto [acc, conn] =
        co_await coro::when_all(l.accept(), connect(*drv_, Endpoint{kLoopback, l.port()}));
    if (!acc || !conn) co_return "setup failed";
    auto writer = [](Connection& c, const std::vector<std::byte>& d) -> Task<bool> {
      co_return static_cast<bool>(co_await c.write(d)) && static_cast<bool>(co_await c.close());
    };
    auto reader = [](Connection& c, std::size_t size) -> Task<std::vector<std::byte>> {
      std::vector<std::byte> got;
      std::vector<std::byte> buf(4096);
      for (int i = 0;; ++i) {
        auto n = co_await c.read(buf);
        if (!n || *n == 0) break;
        got.insert(got.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
        if (i % 64 == 0) co_await coro::sleep_for(1ms);  // slower than the writer
      }
      (void)size;
      co_return got;
    };
    auto [w, got] = co_await coro::when_all(writer(*conn, data), reader(*acc, kSize));
    if (!w) co_return "writer failed";
    co_return got == data ? "" : "bytes differ (" + std::to_string(got.size()) + ")";
  };
  EXPECT_EQ(run(t()), "");
  EXPECT_GT(drv_->stats().recv_pauses, 0u);
  EXPECT_EQ(drv_->buffers().available(), drv_->buffers().count());
}

TEST_P(UringNet, AnIdleReactorSleepsOnTheRingAndWakesForData) {
  Listener l = listen_loopback();
  int peer = raw_connect(l.port());
  ASSERT_GE(peer, 0);
  auto t = [](Listener& l) -> Task<Result<std::size_t>> {
    auto c = co_await l.accept();
    if (!c) co_return c.error();
    std::array<std::byte, 8> buf;
    co_return co_await coro::with_timeout(c->read(buf), 5s);
  };
  std::thread sender([peer] {
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(raw_send(peer, "wake"));
  });
  const auto sleeps = reactor_.stats().sleeps;
  const auto iterations = reactor_.stats().iterations;
  auto start = std::chrono::steady_clock::now();
  auto r = run(t(l));
  auto took = std::chrono::steady_clock::now() - start;
  // Sleeping, not spinning: a wait fd that stayed readable would make this ~10^5 iterations.
  EXPECT_LT(reactor_.stats().iterations - iterations, 1000u);
  sender.join();
  ::close(peer);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 4u);
  EXPECT_GT(reactor_.stats().sleeps, sleeps);  // it slept in ppoll rather than spinning
  EXPECT_LT(took, 2s);                         // and the completion woke it (not the timeout)
}

TEST_P(UringNet, HandlesOutlivingTheDriverFailWithShuttingDown) {
  Listener l = listen_loopback();
  auto setup = [](Listener& l, UringDriver& d) -> Task<std::pair<Connection, Connection>> {
    auto [a, c] = co_await coro::when_all(l.accept(), connect(d, Endpoint{kLoopback, l.port()}));
    co_return std::pair{std::move(*a), std::move(*c)};
  };
  auto [a, c] = run(setup(l, *drv_));
  ASSERT_EQ(drv_->resources(), 3u);
  drv_.reset();
  std::array<std::byte, 4> buf;
  auto r = run(a.read(buf));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kShuttingDown);
  auto w = run(c.write(bytes("x")));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Errc::kShuttingDown);
  auto acc = run(l.accept());
  ASSERT_FALSE(acc);
  EXPECT_EQ(acc.error().code(), Errc::kShuttingDown);
}

INSTANTIATE_TEST_SUITE_P(WakeModes, UringNet, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "DeferTaskrunEventFd" : "RingFd";
                         });

TEST(UringDriver, CreateOffTheReactorThreadOrWithBadOptionsFails) {
  Reactor r;
  auto bad = UringDriver::create(r, {.recv_buffers = 3});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::kInvalidArgument);
  Result<std::unique_ptr<UringDriver>> other = Error(Errc::kIoError);
  std::thread t([&] { other = UringDriver::create(r); });
  t.join();
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Errc::kNotOnReactor);
  auto ok = UringDriver::create(r);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(UringDriver::current(), ok->get());
  auto second = UringDriver::create(r);
  EXPECT_FALSE(second);
}

}  // namespace
}  // namespace coronet::kernel
