#include "stack/tcp/socket.h"

#include <algorithm>
#include <string>

namespace coronet::stack::tcp {
namespace {

// Keeps the TCB alive while an operation is suspended on it: another coroutine may close() or
// drop the handle meanwhile, and the TCB is freed only once no operation is left in it.
class OpGuard {
 public:
  explicit OpGuard(Tcb& t) : t_(t) { ++t_.active_ops; }
  ~OpGuard() {
    if (--t_.active_ops == 0 && !t_.user_attached && t_.state == State::kClosed) {
      t_.layer.mark_output(&t_);  // freed at the next flush
    }
  }
  OpGuard(const OpGuard&) = delete;
  OpGuard& operator=(const OpGuard&) = delete;

 private:
  Tcb& t_;
};

}  // namespace

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (t_ != nullptr) t_->layer.release(t_);
    t_ = std::exchange(o.t_, nullptr);
  }
  return *this;
}

Connection::~Connection() {
  if (t_ != nullptr) t_->layer.release(t_);
}

Endpoint Connection::local() const { return t_ != nullptr ? t_->local : Endpoint{}; }
Endpoint Connection::remote() const { return t_ != nullptr ? t_->remote : Endpoint{}; }
State Connection::state() const { return t_ != nullptr ? t_->state : State::kClosed; }

Result<void> Connection::check_usable() const {
  if (t_ == nullptr) return Error(Errc::kNotConnected, "empty connection handle");
  if (t_->error) return *t_->error;
  return {};
}

coro::Task<Result<std::size_t>> Connection::read(std::span<std::byte> buf) {
  if (auto r = check_usable(); !r) co_return r.error();
  if (buf.empty()) co_return std::size_t{0};
  Tcb& t = *t_;
  OpGuard guard(t);
  for (;;) {
    if (t.rcvbuf.readable() > 0) {
      std::size_t before = t.rcvbuf.window();
      std::size_t n = t.rcvbuf.read(buf);
      // Window update once the window grew by a useful amount (RFC 1122 §4.2.3.3).
      std::size_t step = std::min<std::size_t>(t.rcvbuf.capacity() / 2, 2u * t.snd_mss);
      std::size_t offered = t.rcv_adv > t.layer.rcv_nxt(t)
                                ? static_cast<std::size_t>(t.rcv_adv - t.layer.rcv_nxt(t))
                                : 0;
      // (Not after the peer's FIN: it sends nothing more, and from TIME-WAIT the update would
      // only draw a RST from a peer that has already gone.)
      if (!t.peer_closed && t.rcvbuf.window() >= offered + step && before < offered + step) {
        t.ack_now = true;
        t.layer.mark_output(&t);
      }
      // The last bytes read after the connection can receive no more: free the ring now.
      if (t.state == State::kTimeWait || t.state == State::kClosed) t.rcvbuf.release_if_empty();
      co_return n;
    }
    if (t.peer_closed) co_return std::size_t{0};
    if (t.error) co_return *t.error;
    if (t.state == State::kClosed) co_return std::size_t{0};
    // Lend the buffer while waiting: in-order data lands in it directly (see Tcb::direct_buf).
    t.direct_buf = buf;
    t.direct_filled = 0;
    auto w = co_await t.readers.wait();
    std::size_t direct = t.direct_filled;
    t.direct_buf = {};
    t.direct_filled = 0;
    if (direct > 0) co_return direct;  // delivered bytes are never lost to a cancellation
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
  Tcb& t = *t_;
  OpGuard guard(t);
  std::size_t done = 0;
  while (done < data.size()) {
    if (t.error) co_return *t.error;
    if (t.fin_queued || t.state == State::kClosed) {
      co_return Error(Errc::kBrokenPipe, std::to_string(done) + " of " +
                                             std::to_string(data.size()) + " bytes queued");
    }
    std::size_t n = t.sndbuf.push(data.subspan(done));
    if (n > 0) {
      done += n;
      // Data written before the handshake completes waits in the buffer (RFC 9293 §3.10.2).
      t.layer.mark_output(&t);
      continue;
    }
    if (t.sndbuf.starved() && t.sndbuf.free_space() > 0) {
      // The core's send pool is empty (its cap on unacknowledged data): wait for chunks.
      t.layer.mutable_stats().send_memory_waits++;
      if (auto w = co_await t.layer.send_memory_waiters().wait(); !w) co_return w.error();
      continue;
    }
    if (auto w = co_await t.writers.wait(); !w) co_return w.error();
  }
  co_return done;
}

Result<void> Connection::shutdown() {
  if (auto r = check_usable(); !r) return r;
  t_->layer.shutdown_send(t_);
  return {};
}

coro::Task<Result<void>> Connection::close() {
  if (t_ == nullptr) co_return Error(Errc::kNotConnected, "empty connection handle");
  Tcb& t = *t_;
  OpGuard guard(t);
  t.user_closed = true;  // from now on, data from the peer has no reader: it is refused
  if (const std::size_t unread = t.rcvbuf.readable(); unread > 0) {
    // RFC 2525 §2.17 / RFC 1122 §4.2.2.13: closing with received data unread resets the
    // connection, so the peer learns its data was not consumed.
    t.layer.abort(&t, Errc::kConnectionAborted);
    t.layer.release(&t);
    t_ = nullptr;
    co_return Error(Errc::kConnectionAborted,
                    std::to_string(unread) + " received bytes were never read: connection reset");
  }
  t.layer.shutdown_send(&t);
  while (!(t.fin_seq && t.snd_una > *t.fin_seq) && t.state != State::kClosed &&
         t.state != State::kTimeWait) {
    if (auto w = co_await t.closers.wait(); !w) co_return w.error();
  }
  Result<void> r;
  if (t.error && (t.error->code() != Errc::kConnectionAborted || t.reset_after_close)) {
    r = *t.error;
  }
  t.layer.release(&t);
  t_ = nullptr;
  co_return r;
}

Result<void> Connection::set_no_delay(bool on) {
  if (t_ == nullptr) return Error(Errc::kNotConnected, "empty connection handle");
  t_->no_delay = on;
  if (on) t_->layer.mark_output(t_);  // anything Nagle was holding goes now
  return {};
}

Result<void> Connection::set_user_timeout(coro::Duration timeout) {
  if (t_ == nullptr) return Error(Errc::kNotConnected, "empty connection handle");
  if (timeout.count() < 0) return Error(Errc::kInvalidArgument, "negative user timeout");
  t_->user_timeout = timeout;
  return {};
}

Result<void> Connection::set_keepalive(coro::Duration idle, coro::Duration interval,
                                       unsigned count) {
  if (t_ == nullptr) return Error(Errc::kNotConnected, "empty connection handle");
  if (idle.count() < 0 || (idle.count() > 0 && (interval.count() <= 0 || count == 0))) {
    return Error(Errc::kInvalidArgument,
                 "keepalive needs idle >= 0 and, when on, interval > 0 and count > 0");
  }
  t_->layer.set_keepalive(*t_, idle, interval, count);
  return {};
}

void Connection::abort() {
  if (t_ == nullptr) return;
  t_->layer.abort(t_, Errc::kConnectionAborted);
  t_->layer.release(t_);
  t_ = nullptr;
}

Listener::~Listener() {
  if (l_ != nullptr) layer_->close_listener(l_);
}

coro::Task<Result<Connection>> Listener::accept() {
  if (l_ == nullptr) co_return Error(Errc::kNotConnected, "empty listener handle");
  for (;;) {
    if (Tcb* t = layer_->pop_accepted(l_)) co_return Connection(t);
    if (auto w = co_await l_->acceptors.wait(); !w) co_return w.error();
  }
}

Result<Listener> listen(TcpLayer& layer, std::uint16_t port, ListenOptions options) {
  auto l = layer.listen(port, options.backlog, options.buffers);
  if (!l) return l.error();
  return Listener(layer, *l);
}

coro::Task<Result<Connection>> connect(TcpLayer& layer, Endpoint remote, ConnectOptions options) {
  auto t = layer.open(remote, options.local_port, options.buffers);
  if (!t) co_return t.error();
  Connection conn(*t);
  Tcb& tcb = **t;
  while (tcb.state == State::kSynSent || tcb.state == State::kSynReceived) {
    if (auto w = co_await tcb.connecters.wait(); !w) {
      conn.abort();  // cancelled or timed out by the caller
      co_return w.error();
    }
  }
  if (tcb.error) co_return *tcb.error;
  if (tcb.state == State::kClosed) co_return Error(Errc::kConnectionRefused, remote.to_string());
  co_return std::move(conn);
}

}  // namespace coronet::stack::tcp
