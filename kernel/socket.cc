#include "kernel/socket.h"

#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>

#include "coro/reactor.h"
#include "kernel/socket_state.h"

namespace coronet::kernel {
namespace {

using detail::ConnState;
using detail::ListenerState;
using detail::sys_error;
using detail::Using;

// io_uring's length fields are 32-bit; larger writes go in pieces.
constexpr std::size_t kMaxSend = std::size_t{1} << 30;

Error not_connected() { return Error(Errc::kNotConnected, "empty connection handle"); }
Error driver_gone() { return Error(Errc::kShuttingDown, "the io_uring driver was destroyed"); }

Result<void> set_int(int fd, int level, int opt, int v, const char* name) {
  if (setsockopt(fd, level, opt, &v, sizeof(v)) != 0) return sys_error(errno, name);
  return {};
}

Result<void> apply_buffers(int fd, BufferSizes b) {
  if (b.send > 0) {
    if (auto r = set_int(fd, SOL_SOCKET, SO_SNDBUF, static_cast<int>(b.send), "SO_SNDBUF"); !r) {
      return r;
    }
  }
  if (b.recv > 0) {
    if (auto r = set_int(fd, SOL_SOCKET, SO_RCVBUF, static_cast<int>(b.recv), "SO_RCVBUF"); !r) {
      return r;
    }
  }
  return {};
}

int whole_seconds(coro::Duration d) {
  const auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
  return static_cast<int>(std::clamp<std::int64_t>(s, 1, 32767));
}

// The error that ended a kernel operation, in the user stack's vocabulary.
Error op_error(const ConnState& s, int err, bool cancel_requested, const std::string& what) {
  if (err == ECANCELED) {
    if (cancel_requested) return Error(Errc::kCancelled);
    if (s.aborted()) return Error(Errc::kConnectionAborted, what + ": connection aborted locally");
    if (s.driver() == nullptr || s.driver()->shutting_down()) return driver_gone();
  }
  if (err == ESHUTDOWN) return driver_gone();
  return sys_error(err, what);
}

struct SendArgs {
  UringDriver* drv;
  int fd;
  std::span<const std::byte> data;
  bool try_direct;
};

void prep_send(io_uring_sqe* sqe, const void* ctx) {
  const auto* a = static_cast<const SendArgs*>(ctx);
  // MSG_WAITALL: the kernel keeps sending until all is queued (one completion per write);
  // MSG_NOSIGNAL: EPIPE as a value, never SIGPIPE.
  io_uring_prep_send(sqe, a->fd, a->data.data(), a->data.size(), MSG_NOSIGNAL | MSG_WAITALL);
}

// The send tried at once with a non-blocking send(2): when the socket buffer has room (the usual
// case for request/response traffic) the write completes without an SQE, a completion and a
// suspension, which cost more than the syscall (kernel/uring_bench, one connection: +10% round
// trips/s). Only -EAGAIN (buffer full) goes to the ring, where the kernel waits for room.
int attempt_send(const void* ctx) {
  const auto* a = static_cast<const SendArgs*>(ctx);
  if (!a->try_direct || !a->drv->take_direct_send()) return -EAGAIN;
  const ssize_t n = ::send(a->fd, a->data.data(), a->data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  const int r = n >= 0 ? static_cast<int>(n) : errno == EINTR ? -EAGAIN : -errno;
  if (r != -EAGAIN) ++a->drv->mutable_stats().direct_sends;
  return r;
}

void prep_connect(io_uring_sqe* sqe, const void* ctx) {
  const auto* s = static_cast<const ConnState*>(ctx);
  io_uring_prep_connect(sqe, s->fd(), reinterpret_cast<const sockaddr*>(&s->peer), sizeof(s->peer));
}

}  // namespace

// ---- Connection ----

Connection::Connection(Connection&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (s_ != nullptr) s_->release(false);
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}

Connection::~Connection() {
  if (s_ != nullptr) s_->release(false);
}

int Connection::fd() const { return s_ != nullptr ? s_->fd() : -1; }

Endpoint Connection::local() const {
  if (s_ == nullptr || s_->fd() < 0) return {};
  if (!s_->local_cache) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    if (getsockname(s_->fd(), reinterpret_cast<sockaddr*>(&a), &len) != 0) return {};
    s_->local_cache = detail::from_sockaddr(a);
  }
  return *s_->local_cache;
}

Endpoint Connection::remote() const {
  if (s_ == nullptr || s_->fd() < 0) return {};
  if (!s_->remote_cache) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    if (getpeername(s_->fd(), reinterpret_cast<sockaddr*>(&a), &len) != 0) return {};
    s_->remote_cache = detail::from_sockaddr(a);
  }
  return *s_->remote_cache;
}

Result<void> Connection::check_usable() const {
  if (s_ == nullptr) return not_connected();
  if (s_->driver() == nullptr) return driver_gone();
  if (!s_->usable()) return Error(Errc::kNotConnected, "connection closed");
  return {};
}

coro::Task<Result<std::size_t>> Connection::read(std::span<std::byte> buf) {
  if (s_ == nullptr) co_return not_connected();
  ConnState& s = *s_;
  Using guard(s);
  for (;;) {
    // Data already received comes first, then EOF or the error that ended the stream.
    if (s.pending_bytes() > 0 && s.driver() != nullptr) {
      if (buf.empty()) co_return std::size_t{0};
      co_return s.take(buf);
    }
    if (s.rx_error()) co_return *s.rx_error();
    if (s.eof()) co_return std::size_t{0};
    if (s.driver() == nullptr) co_return driver_gone();
    if (!s.usable()) co_return Error(Errc::kNotConnected, "connection closed");
    if (buf.empty()) co_return std::size_t{0};
    s.want_recv();
    auto w =
        co_await detail::QueueWait(*s.driver(), s.readers(), &ConnState::on_reader_cancelled, &s);
    if (!w) co_return w.error();
  }
}

coro::Task<Result<void>> Connection::read_exactly(std::span<std::byte> buf) {
  std::size_t done = 0;
  while (done < buf.size()) {
    Result<std::size_t> n = co_await read(buf.subspan(done));
    if (!n) co_return n.error();
    if (*n == 0) {
      co_return Error(Errc::kNotConnected, "peer closed after " + std::to_string(done) + " of " +
                                               std::to_string(buf.size()) + " bytes");
    }
    done += *n;
  }
  co_return Result<void>{};
}

coro::Task<Result<std::size_t>> Connection::write(std::span<const std::byte> data) {
  if (auto r = check_usable(); !r) co_return r.error();
  ConnState& s = *s_;
  Using guard(s);
  // One writer at a time: two sends in flight on one stream could interleave their bytes.
  while (s.writing) {
    if (auto w = co_await s.writers.wait(); !w) co_return w.error();
    if (auto r = check_usable(); !r) co_return r.error();
  }
  s.writing = true;
  struct Turn {
    ConnState& s;
    ~Turn() {
      s.writing = false;
      s.writers.wake_one();
    }
  } turn{s};
  auto progress = [&](std::size_t done) {
    return std::to_string(done) + " of " + std::to_string(data.size()) + " bytes queued";
  };
  std::size_t done = 0;
  bool try_direct = true;
  while (done < data.size()) {
    if (s.shut_wr) co_return Error(Errc::kBrokenPipe, progress(done));
    if (!s.usable()) co_return Error(Errc::kNotConnected, "connection closed; " + progress(done));
    SendArgs args{s.driver(), s.fd(), data.subspan(done, std::min(kMaxSend, data.size() - done)),
                  try_direct};
    detail::OneShotAwaiter op(s.driver(), s.send_shot(), s.kernel_ops(), &prep_send, &args,
                              &attempt_send);
    const int res = co_await op;
    // A short direct send means the socket buffer is full: the rest waits in the ring.
    try_direct = op.completed_inline() && res == static_cast<int>(args.data.size());
    if (res < 0) {
      Error e = op_error(s, -res, op.cancel_requested(), "send");
      if (e.code() == Errc::kCancelled) co_return e;
      co_return Error(e.code(), e.detail() + " (" + progress(done) + ")");
    }
    if (res == 0) co_return Error(Errc::kBrokenPipe, "send made no progress; " + progress(done));
    done += static_cast<std::size_t>(res);
  }
  co_return done;
}

Result<void> Connection::shutdown() {
  if (auto r = check_usable(); !r) return r;
  if (s_->shut_wr) return {};
  if (::shutdown(s_->fd(), SHUT_WR) != 0) return sys_error(errno, "shutdown");
  s_->shut_wr = true;
  return {};
}

coro::Task<Result<void>> Connection::close() {
  if (s_ == nullptr) co_return not_connected();
  ConnState& s = *s_;
  Using guard(s);
  if (s.driver() == nullptr) {
    s_ = nullptr;
    s.release(false);
    co_return driver_gone();
  }
  int in_kernel = 0;
  ioctl(s.fd(), FIONREAD, &in_kernel);
  if (const std::size_t unread = s.pending_bytes() + static_cast<std::size_t>(in_kernel);
      unread > 0) {
    // RFC 2525 §2.17 / RFC 1122 §4.2.2.13, as the user stack: unread data makes it a reset.
    s_ = nullptr;
    s.release(true);
    co_return Error(Errc::kConnectionAborted,
                    std::to_string(unread) + " received bytes were never read: connection reset");
  }
  Result<void> r;
  if (!s.shut_wr && ::shutdown(s.fd(), SHUT_WR) != 0 && errno != ENOTCONN) {
    r = sys_error(errno, "shutdown");
  }
  s.shut_wr = true;
  // The kernel tells no one when the FIN is acknowledged; ask TCP_INFO, backing off from one
  // reactor iteration (loopback and LAN acks come back within it) to 10 ms.
  coro::Duration delay{0};
  while (r && s.usable()) {
    tcp_info ti{};
    socklen_t len = sizeof(ti);
    if (getsockopt(s.fd(), IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) break;
    if (ti.tcpi_state == TCP_FIN_WAIT2 || ti.tcpi_state == TCP_TIME_WAIT ||
        ti.tcpi_state == TCP_CLOSE) {
      break;
    }
    if (delay.count() == 0) {
      co_await coro::yield();
      delay = std::chrono::microseconds(50);
    } else {
      if (auto w = co_await coro::sleep_for(delay); !w) co_return w.error();
      delay = std::min<coro::Duration>(delay * 2, std::chrono::milliseconds(10));
    }
  }
  // A reset or timeout that ended the connection meanwhile is reported, as the user stack does.
  int err = 0;
  socklen_t elen = sizeof(err);
  if (r && s.usable() && getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err != 0) {
    r = sys_error(err, "close");
  }
  if (r && s.rx_error() && s.rx_error()->code() != Errc::kConnectionAborted) r = *s.rx_error();
  s_ = nullptr;
  s.release(false);
  co_return r;
}

void Connection::abort() {
  if (s_ == nullptr) return;
  std::exchange(s_, nullptr)->release(true);
}

Result<void> Connection::set_no_delay(bool on) {
  if (auto r = check_usable(); !r) return r;
  return set_int(s_->fd(), IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, "TCP_NODELAY");
}

Result<void> Connection::set_keepalive(coro::Duration idle, coro::Duration interval,
                                       unsigned count) {
  if (auto r = check_usable(); !r) return r;
  if (idle.count() < 0 || (idle.count() > 0 && (interval.count() <= 0 || count == 0))) {
    return Error(Errc::kInvalidArgument,
                 "keepalive needs idle >= 0 and, when on, interval > 0 and count > 0");
  }
  const int fd = s_->fd();
  if (idle.count() == 0) return set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 0, "SO_KEEPALIVE");
  if (auto r = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, whole_seconds(idle), "TCP_KEEPIDLE"); !r) {
    return r;
  }
  if (auto r = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, whole_seconds(interval), "TCP_KEEPINTVL");
      !r) {
    return r;
  }
  if (auto r = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, static_cast<int>(std::min(count, 127u)),
                       "TCP_KEEPCNT");
      !r) {
    return r;
  }
  return set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
}

Result<void> Connection::set_user_timeout(coro::Duration timeout) {
  if (auto r = check_usable(); !r) return r;
  if (timeout.count() < 0) return Error(Errc::kInvalidArgument, "negative user timeout");
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
  return set_int(s_->fd(), IPPROTO_TCP, TCP_USER_TIMEOUT,
                 static_cast<int>(std::min<std::int64_t>(ms, INT32_MAX)), "TCP_USER_TIMEOUT");
}

// ---- Listener ----

Listener::Listener(Listener&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}

Listener& Listener::operator=(Listener&& o) noexcept {
  if (this != &o) {
    if (l_ != nullptr) l_->release();
    l_ = std::exchange(o.l_, nullptr);
  }
  return *this;
}

Listener::~Listener() {
  if (l_ != nullptr) l_->release();
}

std::uint16_t Listener::port() const { return l_ != nullptr ? l_->port() : 0; }
Endpoint Listener::local() const { return l_ != nullptr ? l_->local : Endpoint{}; }

coro::Task<Result<Connection>> Listener::accept() {
  if (l_ == nullptr) co_return Error(Errc::kNotConnected, "empty listener handle");
  ListenerState& l = *l_;
  Using guard(l);
  for (;;) {
    if (l.driver() == nullptr) co_return driver_gone();
    if (const int fd = l.pop(); fd >= 0) co_return Connection(new ConnState(*l.driver(), fd));
    if (auto e = l.take_error()) co_return std::move(*e);
    if (!l.usable()) co_return Error(Errc::kNotConnected, "listener closed");
    l.want_accept();
    auto w = co_await detail::QueueWait(*l.driver(), l.acceptors(),
                                        &ListenerState::on_acceptor_cancelled, &l);
    if (!w) co_return w.error();
  }
}

Result<Listener> listen(UringDriver& drv, std::uint16_t port, ListenOptions o) {
  if (drv.shutting_down()) return driver_gone();
  if (o.backlog == 0) return Error(Errc::kInvalidArgument, "listen backlog must be positive");
  const Endpoint where{o.address, port};
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error(errno, "socket");
  auto fail = [fd](Error e) {
    ::close(fd);
    return e;
  };
  if (auto r = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"); !r) return fail(r.error());
  if (o.reuse_port) {
    if (auto r = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT"); !r) {
      return fail(r.error());
    }
  }
  // Set before listen(): accepted sockets inherit them, and the window scale is chosen from the
  // receive buffer at the handshake.
  if (auto r = apply_buffers(fd, o.buffers); !r) return fail(r.error());
  sockaddr_in a = detail::to_sockaddr(where);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    return fail(sys_error(errno, "bind " + where.to_string()));
  }
  const int backlog = static_cast<int>(std::min<std::size_t>(o.backlog, 65535));
  if (::listen(fd, backlog) != 0) return fail(sys_error(errno, "listen " + where.to_string()));
  socklen_t len = sizeof(a);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return fail(sys_error(errno, "getsockname"));
  }
  auto* l = new ListenerState(drv, fd, ntohs(a.sin_port), o.backlog);
  l->local = detail::from_sockaddr(a);
  l->want_accept();  // the accept queue fills from now on
  return Listener(l);
}

Result<Listener> listen(std::uint16_t port, ListenOptions options) {
  UringDriver* d = UringDriver::current();
  if (d == nullptr) return Error(Errc::kNotOnReactor, "listen: no io_uring driver on this thread");
  return listen(*d, port, options);
}

coro::Task<Result<Connection>> connect(UringDriver& drv, Endpoint remote, ConnectOptions o) {
  if (drv.shutting_down()) co_return driver_gone();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return sys_error(errno, "socket");
  auto* s = new ConnState(drv, fd);
  Connection conn(s);  // owns the socket from here: every early return closes it
  Using guard(*s);
  if (auto r = apply_buffers(fd, o.buffers); !r) co_return r.error();
  if (o.local_port != 0) {
    if (auto r = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"); !r) co_return r.error();
    sockaddr_in local = detail::to_sockaddr(Endpoint{Ipv4Address::any(), o.local_port});
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
      co_return sys_error(errno, "bind local port " + std::to_string(o.local_port));
    }
  }
  s->peer = detail::to_sockaddr(remote);
  s->remote_cache = remote;
  detail::OneShotAwaiter op(&drv, s->connect_shot(), s->kernel_ops(), &prep_connect, s);
  const int res = co_await op;
  if (res < 0) {
    Error e = op_error(*s, -res, op.cancel_requested(), "connect to " + remote.to_string());
    conn.abort();  // cancelled, refused, unreachable: nothing of the socket survives
    co_return e;
  }
  co_return std::move(conn);
}

coro::Task<Result<Connection>> connect(Endpoint remote, ConnectOptions options) {
  UringDriver* d = UringDriver::current();
  if (d == nullptr)
    co_return Error(Errc::kNotOnReactor, "connect: no io_uring driver on this thread");
  co_return co_await connect(*d, remote, options);
}

}  // namespace coronet::kernel
