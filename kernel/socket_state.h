// Internal to kernel/: the state behind Connection and Listener handles, and the awaiters that
// suspend on it. Include only from kernel/*.cc.
//
// Lifetime. A state is freed once (a) its handle is gone, (b) no coroutine is inside one of its
// methods (`users`, an RAII guard per call) and (c) the kernel holds no operation on it
// (`kernel_ops`, counted from SQE to final CQE). Its fd is closed at (a)+(c), after the in-flight
// operations were cancelled: an io_uring request holds its own reference to the socket, so closing
// earlier would neither stop it nor send the FIN/RST.
#pragma once

#include <netinet/in.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "coro/cancellation.h"
#include "coro/reactor.h"
#include "coro/waiter.h"
#include "kernel/socket.h"
#include "kernel/uring_driver.h"

namespace coronet::kernel::detail {

// "<what>: <strerror>" under the matching coronet code.
Error sys_error(int err, const std::string& what);
sockaddr_in to_sockaddr(Endpoint e);
Endpoint from_sockaddr(const sockaddr_in& a);

// A received buffer, partly read: bytes [off, len) of provided buffer `bid` are still unread.
struct Chunk {
  std::uint16_t bid = 0;
  std::uint32_t off = 0;
  std::uint32_t len = 0;
};

// FIFO of chunks on a growable ring (no allocation once grown).
class ChunkQueue {
 public:
  bool empty() const { return n_ == 0; }
  std::size_t size() const { return n_; }
  Chunk& front() { return v_[head_]; }
  void pop() {
    head_ = (head_ + 1) & (v_.size() - 1);
    --n_;
  }
  void push(Chunk c);

 private:
  std::vector<Chunk> v_;
  std::size_t head_ = 0;
  std::size_t n_ = 0;
};

// A single-completion kernel operation (send, connect) owned by a state, and the coroutine
// waiting for it. Cancellation does not resume the coroutine: it asks the kernel to cancel, and
// the coroutine resumes with the operation's one completion (-ECANCELED, or its result if it won
// the race), since the kernel may be reading the caller's memory until then.
struct OneShot;

class OneShotWait {
 public:
  void finish(int res);
  int res() const { return res_; }
  bool cancel_requested() const { return cancel_requested_; }

 protected:
  struct Reg : coro::CancellationRegistration {
    OneShotWait* owner = nullptr;
  };
  static void on_cancel(coro::CancellationRegistration* r);

  UringDriver* drv_ = nullptr;
  OneShot* shot_ = nullptr;
  coro::Suspension s_;
  Reg reg_;
  int res_ = 0;
  bool cancel_requested_ = false;
};

struct OneShot {
  Op op;
  OneShotWait* waiter = nullptr;  // null once its coroutine stopped waiting (frame destroyed)
  bool in_flight = false;
};

// co_await OneShotAwaiter(...): starts the operation (prep fills the SQE) and waits for its result
// (a negative errno, or the byte count / 0). Not started when cancellation was already requested
// (-ECANCELED) or the driver is gone (-ESHUTDOWN).
//
// With an `attempt` hook, the operation is first tried synchronously (a non-blocking syscall) once
// those checks passed: a result other than -EAGAIN completes the await without suspending and
// without an SQE (completed_inline()); -EAGAIN goes through the ring as usual.
class OneShotAwaiter : public OneShotWait {
 public:
  using Prep = void (*)(io_uring_sqe*, const void* ctx);
  using Attempt = int (*)(const void* ctx);
  OneShotAwaiter(UringDriver* drv, OneShot& shot, unsigned& kernel_ops, Prep prep, const void* ctx,
                 Attempt attempt = nullptr)
      : kernel_ops_(kernel_ops), prep_(prep), attempt_(attempt), ctx_(ctx) {
    drv_ = drv;
    shot_ = &shot;
  }
  ~OneShotAwaiter();
  OneShotAwaiter(const OneShotAwaiter&) = delete;
  OneShotAwaiter& operator=(const OneShotAwaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(h, coro::detail::cancel_state_of(h));
  }
  int await_resume() const noexcept { return res_; }
  // The attempt hook produced the result: no kernel operation was queued.
  bool completed_inline() const { return inline_; }

 private:
  bool start(std::coroutine_handle<> h, coro::CancellationState* cs);
  unsigned& kernel_ops_;
  Prep prep_;
  Attempt attempt_;
  const void* ctx_;
  bool inline_ = false;
};

// Waiting on a state's queue (readers, acceptors) with a hook run if the wait is cancelled.
class QueueWait {
 public:
  QueueWait(UringDriver& drv, coro::WaitQueue& q, coro::Suspension::CancelHook hook, void* ctx)
      : drv_(drv), q_(q), hook_(hook), ctx_(ctx) {}
  bool await_ready() const noexcept { return false; }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) {
    if (!s_.prepare(h, drv_.reactor())) return false;
    s_.set_cancel_hook(hook_, ctx_);
    q_.push_back(s_);
    return true;
  }
  Result<void> await_resume() const { return s_.result(); }

 private:
  UringDriver& drv_;
  coro::WaitQueue& q_;
  coro::Suspension::CancelHook hook_;
  void* ctx_;
  coro::Suspension s_;
};

enum class Arm : std::uint8_t { kIdle, kArmed, kCancelling };

class ConnState final : public Resource, public BufferWaiter {
 public:
  ConnState(UringDriver& drv, int fd);
  ~ConnState() override;

  UringDriver* driver() const { return drv_; }
  bool usable() const { return drv_ != nullptr && !closed_; }

  // ---- lifetime ----
  void enter() { ++users_; }
  void leave() {
    --users_;
    settle();
  }
  // The handle is gone: cancel what is in flight, close when it has completed. `abort`: RST.
  void release(bool abort);

  // ---- receive ----
  // Copies pending bytes into `out`, returns spent buffers to the ring, resumes a paused recv.
  std::size_t take(std::span<std::byte> out);
  // Arms a recv if none is armed and one is useful (a reader waits, no EOF/error).
  void want_recv();
  std::size_t pending_bytes() const { return pending_bytes_; }
  bool eof() const { return eof_; }
  const std::optional<Error>& rx_error() const { return rx_error_; }
  coro::WaitQueue& readers() { return readers_; }
  static void on_reader_cancelled(coro::Suspension* s, void* self);
  void buffers_available() override;

  // ---- send ----
  OneShot& send_shot() { return send_; }
  bool writing = false;
  coro::WaitQueue writers;
  bool shut_wr = false;
  bool aborted() const { return aborted_; }

  // ---- connect ----
  OneShot& connect_shot() { return connect_; }
  sockaddr_in peer{};

  unsigned& kernel_ops() { return kernel_ops_; }
  int fd() const { return fd_; }
  void driver_gone() override;

  std::optional<Endpoint> local_cache;
  std::optional<Endpoint> remote_cache;

 private:
  static void on_recv(void* self, int res, std::uint32_t flags);
  static void on_send(void* self, int res, std::uint32_t flags);
  static void on_connect(void* self, int res, std::uint32_t flags);
  void arm_recv();
  void cancel_recv();
  // After a recv ended, or once a paused connection's reader caught up: re-arms when useful.
  bool should_rearm() const;
  void maybe_arm();
  // Closes the fd once released with nothing in flight; frees the state once unused too.
  void settle();
  void close_fd();
  void drop_pending();

  int fd_;
  unsigned kernel_ops_ = 0;
  unsigned users_ = 0;
  bool released_ = false;
  bool closed_ = false;
  bool aborted_ = false;

  Op recv_op_;
  Arm recv_arm_ = Arm::kIdle;
  bool recv_multishot_ = false;  // the armed recv is multishot
  bool paused_ = false;          // multishot cancelled by recv_ahead_limit
  bool buffer_wait_ = false;     // recv ended with ENOBUFS; re-armed when buffers come back
  ChunkQueue pending_;
  std::size_t pending_bytes_ = 0;
  bool eof_ = false;
  std::optional<Error> rx_error_;
  coro::WaitQueue readers_;

  OneShot send_;
  OneShot connect_;
};

class ListenerState final : public Resource {
 public:
  ListenerState(UringDriver& drv, int fd, std::uint16_t port, std::size_t backlog);
  ~ListenerState() override;

  UringDriver* driver() const { return drv_; }
  bool usable() const { return drv_ != nullptr && !closed_; }
  std::uint16_t port() const { return port_; }
  Endpoint local;

  void enter() { ++users_; }
  void leave() {
    --users_;
    settle();
  }
  void release();

  // Pops an accepted fd (-1 when none); resumes a paused accept.
  int pop();
  // A deferred accept error (EMFILE, ...), reported to one acceptor.
  std::optional<Error> take_error();
  void want_accept();
  coro::WaitQueue& acceptors() { return acceptors_; }
  static void on_acceptor_cancelled(coro::Suspension* s, void* self);
  void driver_gone() override;

 private:
  static void on_accept(void* self, int res, std::uint32_t flags);
  void arm();
  bool should_rearm() const;
  std::size_t queued() const { return queue_.size(); }
  void close_queued();
  void settle();

  int fd_;
  std::uint16_t port_;
  std::size_t backlog_;
  unsigned kernel_ops_ = 0;
  unsigned users_ = 0;
  bool released_ = false;
  bool closed_ = false;
  Op accept_op_;
  Arm arm_ = Arm::kIdle;
  bool multishot_ = false;
  bool paused_ = false;
  std::deque<int> queue_;  // accepted fds, oldest first
  std::optional<Error> error_;
  coro::WaitQueue acceptors_;
};

// RAII: marks a coroutine as inside a state's method.
template <typename S>
class Using {
 public:
  explicit Using(S& s) : s_(s) { s_.enter(); }
  ~Using() { s_.leave(); }
  Using(const Using&) = delete;
  Using& operator=(const Using&) = delete;

 private:
  S& s_;
};

}  // namespace coronet::kernel::detail
