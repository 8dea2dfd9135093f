#include "kernel/socket_state.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace coronet::kernel {

Errc socket_errc(int err) {
  switch (err) {
    case ECONNREFUSED:
      return Errc::kConnectionRefused;
    case ECONNRESET:
      return Errc::kConnectionReset;
    case EPIPE:
    case ESHUTDOWN:
      return Errc::kBrokenPipe;
    case ENOTCONN:
      return Errc::kNotConnected;
    case ECONNABORTED:
      return Errc::kConnectionAborted;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
      return Errc::kHostUnreachable;
    case ETIMEDOUT:
      return Errc::kTimedOut;
    case ECANCELED:
      return Errc::kCancelled;
    case EMSGSIZE:
      return Errc::kMessageTooLong;
    case ENOBUFS:
      return Errc::kNoBufferSpace;
    default:
      return errc_from_errno(err);
  }
}

namespace detail {

Error sys_error(int err, const std::string& what) {
  return Error(socket_errc(err), what + ": " + std::strerror(err));
}

sockaddr_in to_sockaddr(Endpoint e) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(e.port);
  a.sin_addr.s_addr = htonl(e.addr.raw());
  return a;
}

Endpoint from_sockaddr(const sockaddr_in& a) {
  return Endpoint{Ipv4Address(ntohl(a.sin_addr.s_addr)), ntohs(a.sin_port)};
}

void ChunkQueue::push(Chunk c) {
  if (n_ == v_.size()) {
    // Grow (power of two), unrolling the ring in order.
    std::vector<Chunk> bigger(std::max<std::size_t>(8, v_.size() * 2));
    for (std::size_t i = 0; i < n_; ++i) bigger[i] = v_[(head_ + i) & (v_.size() - 1)];
    v_ = std::move(bigger);
    head_ = 0;
  }
  v_[(head_ + n_) & (v_.size() - 1)] = c;
  ++n_;
}

// ---- OneShot ----

void OneShotWait::finish(int res) {
  res_ = res;
  reg_.reset();
  shot_->waiter = nullptr;
  s_.complete();
}

void OneShotWait::on_cancel(coro::CancellationRegistration* r) {
  OneShotWait* w = static_cast<Reg*>(r)->owner;
  w->cancel_requested_ = true;
  // The coroutine resumes with the operation's own completion, which the cancel hurries along.
  if (w->shot_->in_flight && w->drv_ != nullptr) w->drv_->cancel(&w->shot_->op);
}

bool OneShotAwaiter::start(std::coroutine_handle<> h, coro::CancellationState* cs) {
  if (cs != nullptr && cs->requested()) {
    cancel_requested_ = true;
    res_ = -ECANCELED;
    return false;
  }
  if (drv_ == nullptr || drv_->shutting_down()) {
    res_ = -ESHUTDOWN;
    return false;
  }
  if (attempt_ != nullptr) {
    if (const int r = attempt_(ctx_); r != -EAGAIN) {
      res_ = r;
      inline_ = true;
      return false;
    }
  }
  io_uring_sqe* sqe = drv_->start(&shot_->op);
  prep_(sqe, ctx_);
  ++kernel_ops_;
  shot_->in_flight = true;
  shot_->waiter = this;
  s_.bind(h, drv_->reactor());
  reg_.owner = this;
  reg_.attach(cs, &OneShotWait::on_cancel);
  return true;
}

OneShotAwaiter::~OneShotAwaiter() {
  // Only when the frame is destroyed mid-operation (reactor shutdown): nobody waits any more, and
  // the kernel is told to stop using the caller's memory as soon as possible.
  if (shot_->waiter == this) {
    shot_->waiter = nullptr;
    reg_.reset();
    if (shot_->in_flight && drv_ != nullptr && !drv_->shutting_down()) drv_->cancel(&shot_->op);
  }
}

// ---- ConnState ----

ConnState::ConnState(UringDriver& drv, int fd) : Resource(&drv), fd_(fd) {
  recv_op_ = Op{&ConnState::on_recv, this};
  send_.op = Op{&ConnState::on_send, this};
  connect_.op = Op{&ConnState::on_connect, this};
}

ConnState::~ConnState() {
  if (!closed_) close_fd();
}

void ConnState::drop_pending() {
  while (!pending_.empty()) {
    if (drv_ != nullptr) drv_->buffers().recycle(pending_.front().bid);
    pending_.pop();
  }
  pending_bytes_ = 0;
}

void ConnState::close_fd() {
  drop_pending();
  if (buffer_wait_ && drv_ != nullptr) drv_->stop_waiting_for_buffers(this);
  buffer_wait_ = false;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  closed_ = true;
  readers_.wake_all();
  writers.wake_all();
}

void ConnState::settle() {
  if (!released_ || kernel_ops_ > 0) return;
  if (!closed_) close_fd();
  if (users_ == 0) delete this;
}

void ConnState::release(bool abort) {
  if (released_) return;
  released_ = true;
  // close(2) semantics: received data nobody will read makes the close a reset (RFC 2525 §2.17).
  if (pending_bytes_ > 0) abort = true;
  if (!closed_ && drv_ != nullptr) {
    if (abort) {
      aborted_ = true;
      linger l{1, 0};  // the final close sends RST
      setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      if (send_.in_flight) drv_->cancel(&send_.op);
    }
    if (recv_arm_ == Arm::kArmed) cancel_recv();
    if (connect_.in_flight) drv_->cancel(&connect_.op);
    if (buffer_wait_) drv_->stop_waiting_for_buffers(this);
    buffer_wait_ = false;
  }
  settle();
}

void ConnState::driver_gone() {
  // drv_ is already null: the buffer ring is going away with the driver.
  pending_ = ChunkQueue();
  pending_bytes_ = 0;
  buffer_wait_ = false;
  kernel_ops_ = 0;  // the driver reaped (or gave up on) everything
  if (!closed_) close_fd();
  if (released_ && users_ == 0) delete this;
}

void ConnState::arm_recv() {
  io_uring_sqe* sqe = drv_->start(&recv_op_);
  detail::BufferRing& bufs = drv_->buffers();
  recv_multishot_ = drv_->multishot_recv();
  if (recv_multishot_) {
    // One SQE delivers every segment until EOF, an error, a pause or the ring runs dry (6.0+).
    io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
  } else {
    io_uring_prep_recv(sqe, fd_, nullptr, bufs.buffer_size(), 0);
  }
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = bufs.group();
  recv_arm_ = Arm::kArmed;
  paused_ = false;
  ++kernel_ops_;
  ++drv_->mutable_stats().recv_arms;
}

void ConnState::cancel_recv() {
  drv_->cancel(&recv_op_);
  recv_arm_ = Arm::kCancelling;
}

void ConnState::want_recv() {
  if (!usable() || released_ || drv_->shutting_down() || eof_ || rx_error_ ||
      recv_arm_ != Arm::kIdle || buffer_wait_) {
    return;
  }
  if (drv_->buffers().available() == 0) {
    buffer_wait_ = true;  // a recv now would only fail with ENOBUFS
    drv_->wait_for_buffers(this);
    return;
  }
  arm_recv();
}

bool ConnState::should_rearm() const {
  if (!usable() || released_ || drv_->shutting_down() || eof_ || rx_error_ || buffer_wait_ ||
      recv_arm_ != Arm::kIdle) {
    return false;
  }
  if (paused_) return pending_bytes_ < drv_->options().recv_ahead_limit / 2;
  return !readers_.empty() && pending_bytes_ == 0;
}

void ConnState::maybe_arm() {
  if (!should_rearm()) return;
  if (drv_->buffers().available() == 0) {
    buffer_wait_ = true;
    drv_->wait_for_buffers(this);
    return;
  }
  arm_recv();
}

void ConnState::buffers_available() {
  buffer_wait_ = false;
  if (paused_ || !readers_.empty()) maybe_arm();
}

std::size_t ConnState::take(std::span<std::byte> out) {
  detail::BufferRing& bufs = drv_->buffers();
  std::size_t n = 0;
  while (n < out.size() && !pending_.empty()) {
    Chunk& c = pending_.front();
    const std::size_t k = std::min<std::size_t>(out.size() - n, c.len - c.off);
    std::memcpy(out.data() + n, bufs.data(c.bid) + c.off, k);
    n += k;
    c.off += static_cast<std::uint32_t>(k);
    if (c.off == c.len) {
      bufs.recycle(c.bid);
      pending_.pop();
    }
  }
  pending_bytes_ -= n;
  if (paused_) maybe_arm();  // the reader caught up: let the kernel fill buffers again
  return n;
}

void ConnState::on_reader_cancelled(coro::Suspension*, void* self) {
  auto* s = static_cast<ConnState*>(self);
  if (s->readers_.size() > 1 || s->drv_ == nullptr) return;  // other readers still wait
  // The last reader gave up: withdraw the kernel recv too. Data it delivers before the cancel
  // lands stays queued for the next read.
  if (s->recv_arm_ == Arm::kArmed && !s->paused_) s->cancel_recv();
  if (s->buffer_wait_) {
    s->drv_->stop_waiting_for_buffers(s);
    s->buffer_wait_ = false;
  }
}

void ConnState::on_recv(void* self, int res, std::uint32_t flags) {
  auto* s = static_cast<ConnState*>(self);
  UringDriver& drv = *s->drv_;
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) {
    --s->kernel_ops_;
    s->recv_arm_ = Arm::kIdle;
  }
  bool wake = false;
  if ((flags & IORING_CQE_F_BUFFER) != 0) {
    const auto bid = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    drv.buffers().consumed();
    if (res > 0 && !s->released_ && !s->closed_) {
      s->pending_.push(Chunk{bid, 0, static_cast<std::uint32_t>(res)});
      s->pending_bytes_ += static_cast<std::size_t>(res);
      ++drv.mutable_stats().recv_cqes;
      wake = true;
    } else {
      drv.buffers().recycle(bid);
    }
  }
  if (res == 0) {
    s->eof_ = true;
    wake = true;
  } else if (res < 0) {
    switch (-res) {
      case ECANCELED:  // our own cancel: a pause, a cancelled read, a close
        break;
      case ENOBUFS:
        ++drv.mutable_stats().recv_enobufs;
        if ((!s->readers_.empty() || s->paused_) && !s->released_) {
          s->buffer_wait_ = true;
          drv.wait_for_buffers(s);
        }
        break;
      case EINVAL:
        if (s->recv_multishot_ && drv.multishot_recv()) {
          drv.downgrade_multishot_recv();  // re-armed single-shot below
          break;
        }
        [[fallthrough]];
      default:
        if (!s->rx_error_) s->rx_error_ = sys_error(-res, "recv");
        wake = true;
    }
  }
  if (more && s->recv_arm_ == Arm::kArmed && s->pending_bytes_ >= drv.options().recv_ahead_limit) {
    // The reader is behind: stop pulling data out of the socket (its receive window then does
    // the flow control) until it catches up.
    s->cancel_recv();
    s->paused_ = true;
    ++drv.mutable_stats().recv_pauses;
  }
  if (!more) s->maybe_arm();
  if (wake) s->readers_.wake_all();
  if (!more) s->settle();  // may free `s`
}

void ConnState::on_send(void* self, int res, std::uint32_t) {
  auto* s = static_cast<ConnState*>(self);
  s->send_.in_flight = false;
  --s->kernel_ops_;
  if (s->send_.waiter != nullptr) s->send_.waiter->finish(res);
  s->settle();
}

void ConnState::on_connect(void* self, int res, std::uint32_t) {
  auto* s = static_cast<ConnState*>(self);
  s->connect_.in_flight = false;
  --s->kernel_ops_;
  if (s->connect_.waiter != nullptr) s->connect_.waiter->finish(res);
  s->settle();
}

// ---- ListenerState ----

ListenerState::ListenerState(UringDriver& drv, int fd, std::uint16_t port, std::size_t backlog)
    : Resource(&drv), fd_(fd), port_(port), backlog_(backlog) {
  accept_op_ = Op{&ListenerState::on_accept, this};
}

ListenerState::~ListenerState() {
  close_queued();
  if (!closed_ && fd_ >= 0) ::close(fd_);
}

void ListenerState::close_queued() {
  for (int fd : queue_) ::close(fd);
  queue_.clear();
}

void ListenerState::release() {
  if (released_) return;
  released_ = true;
  close_queued();
  if (!closed_ && drv_ != nullptr && arm_ == Arm::kArmed) {
    drv_->cancel(&accept_op_);
    arm_ = Arm::kCancelling;
  }
  settle();
}

void ListenerState::settle() {
  if (!released_ || kernel_ops_ > 0) return;
  if (!closed_) {
    close_queued();
    ::close(fd_);
    fd_ = -1;
    closed_ = true;
    acceptors_.wake_all();
  }
  if (users_ == 0) delete this;
}

void ListenerState::driver_gone() {
  kernel_ops_ = 0;
  close_queued();
  if (!closed_) {
    ::close(fd_);
    fd_ = -1;
    closed_ = true;
  }
  acceptors_.wake_all();
  if (released_ && users_ == 0) delete this;
}

void ListenerState::arm() {
  io_uring_sqe* sqe = drv_->start(&accept_op_);
  multishot_ = drv_->multishot_accept();
  if (multishot_) {
    // One SQE accepts every connection until cancelled or an error (5.19+).
    io_uring_prep_multishot_accept(sqe, fd_, nullptr, nullptr, SOCK_CLOEXEC);
  } else {
    io_uring_prep_accept(sqe, fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }
  arm_ = Arm::kArmed;
  paused_ = false;
  ++kernel_ops_;
  ++drv_->mutable_stats().accept_arms;
}

void ListenerState::want_accept() {
  if (usable() && !released_ && !drv_->shutting_down() && arm_ == Arm::kIdle && !error_ &&
      queued() < backlog_) {
    arm();
  }
}

bool ListenerState::should_rearm() const {
  if (!usable() || released_ || drv_->shutting_down() || arm_ != Arm::kIdle || error_ ||
      queued() >= backlog_) {
    return false;
  }
  return paused_ || !acceptors_.empty();
}

int ListenerState::pop() {
  if (queue_.empty()) return -1;
  const int fd = queue_.front();
  queue_.pop_front();
  if (paused_ && should_rearm()) arm();
  return fd;
}

std::optional<Error> ListenerState::take_error() {
  std::optional<Error> e = std::move(error_);
  error_.reset();
  return e;
}

void ListenerState::on_acceptor_cancelled(coro::Suspension*, void* self) {
  auto* l = static_cast<ListenerState*>(self);
  if (l->acceptors_.size() > 1 || l->drv_ == nullptr) return;
  // Nobody waits any more: stop accepting; new connections wait in the kernel's backlog.
  if (l->arm_ == Arm::kArmed && !l->paused_) {
    l->drv_->cancel(&l->accept_op_);
    l->arm_ = Arm::kCancelling;
  }
}

void ListenerState::on_accept(void* self, int res, std::uint32_t flags) {
  auto* l = static_cast<ListenerState*>(self);
  UringDriver& drv = *l->drv_;
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) {
    --l->kernel_ops_;
    l->arm_ = Arm::kIdle;
  }
  bool wake = false;
  if (res >= 0) {
    if (l->released_ || l->closed_) {
      ::close(res);
    } else {
      l->queue_.push_back(res);
      ++drv.mutable_stats().accepted;
      wake = true;
    }
  } else {
    switch (-res) {
      case ECANCELED:
        break;
      case EINVAL:
        if (l->multishot_ && drv.multishot_accept()) {
          drv.downgrade_multishot_accept();
          break;
        }
        [[fallthrough]];
      default:
        // EMFILE, ENFILE, ENOBUFS, ...: reported to one acceptor; the next accept() re-arms.
        if (!l->error_) l->error_ = sys_error(-res, "accept on port " + std::to_string(l->port_));
        wake = true;
    }
  }
  if (more && l->arm_ == Arm::kArmed && l->queued() >= l->backlog_) {
    drv.cancel(&l->accept_op_);  // queue full: the kernel backlog holds the rest
    l->arm_ = Arm::kCancelling;
    l->paused_ = true;
  }
  if (!more && l->should_rearm()) l->arm();
  if (wake) l->acceptors_.wake_all();
  if (!more) l->settle();
}

}  // namespace detail
}  // namespace coronet::kernel
