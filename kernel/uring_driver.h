// UringDriver: one io_uring per reactor (per core), polled by the reactor like a NIC queue.
//
//   iteration N:   coroutines prepare SQEs (recv re-arm, send, connect, cancel, ...) and suspend
//   iteration N+1: poll() submits all of them in ONE io_uring_enter, reaps completions in batches
//                  of 64, and completes the waiting coroutines' suspensions (they resume in the
//                  reactor's next batch, never inline)
// The exception is a send on a quiet driver (recent submits carried at most one SQE): one per
// iteration goes out at once as a non-blocking send(2) and, when the socket buffer takes it all,
// completes the write without an SQE, a CQE or a suspension. With one connection a round trip
// still costs 2 syscalls (two send(2) instead of two io_uring_enter) but 10% less time; with many
// connections one enter carries a whole batch of sends, cheaper than a syscall each, so
// take_direct_send() says no while recent batches were large.
//
// When the reactor goes idle it sleeps in ppoll() on wait_fd(). By default that is the ring's own
// file descriptor: the kernel reports it readable exactly while the completion queue holds
// entries, so a completion wakes the reactor with nothing to drain. With `defer_taskrun` the
// kernel defers completion work until the driver asks for it, and the ring fd no longer signals
// that work (measured: a ppoll on it slept through a completed recv); the driver then registers
// an eventfd (io_uring_register_eventfd) as the wait fd and clears it before going idle.
//
// Received data lands in a ring of provided buffers (one buffer group per driver, shared by all of
// the core's connections): memory scales with data in flight, not with connections. Kernel
// features are probed once (probe_uring()); what is missing is either worked around (single-shot
// accept/recv instead of multishot) or reported as an Error naming the feature and kernel version.
//
// Single-threaded, like the reactor it belongs to: create it on the reactor's thread and use it
// only there. It must outlive nothing: listeners and connections still open when it is destroyed
// are detached (their fds closed, later operations fail with Errc::kShuttingDown).
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "coro/reactor.h"
#include "coro/result.h"

namespace coronet::kernel {

struct UringOptions {
  std::uint32_t sq_entries = 1024;  // SQEs one iteration can queue before a forced early submit
  std::uint32_t cq_entries = 8192;  // multishot ops post many completions per SQE
  // Provided receive buffers: count (a power of two, at most 32768) x size.
  std::uint32_t recv_buffers = 256;
  std::uint32_t recv_buffer_size = 16 * 1024;
  // Bytes a connection may hold received but unread before its multishot recv is paused (it
  // resumes when the reader catches up). Bounds what one slow reader takes from the shared pool.
  std::size_t recv_ahead_limit = 128 * 1024;
  // Use multishot accept/recv when the kernel has them (false forces the single-shot fallbacks).
  bool multishot_accept = true;
  bool multishot_recv = true;
  // IORING_SETUP_DEFER_TASKRUN (6.1): completion work runs only inside the driver's own
  // io_uring_enter calls, in batches, instead of at any kernel entry of the thread. Woken through
  // a registered eventfd. Falls back to the default mode on older kernels.
  bool defer_taskrun = false;
  // Connection::write() first tries a non-blocking send(2) and goes through the ring only when the
  // socket buffer is full; at most this many such direct sends per reactor iteration (0: never).
  std::uint32_t direct_sends_per_poll = 1;
};

// What the running kernel's io_uring offers (probe_uring()).
struct UringFeatures {
  std::string kernel;            // uname release, e.g. "6.1.0-18-amd64"
  std::uint32_t ring_flags = 0;  // IORING_FEAT_* bits reported at setup
  bool coop_taskrun = false;     // IORING_SETUP_COOP_TASKRUN | TASKRUN_FLAG (5.19)
  bool single_issuer = false;    // IORING_SETUP_SINGLE_ISSUER (6.0)
  bool defer_taskrun = false;    // IORING_SETUP_DEFER_TASKRUN (6.1): probed / in use by a driver
  bool fast_poll = false;        // IORING_FEAT_FAST_POLL (5.7): no io-wq thread per socket op
  bool op_accept = false, op_connect = false, op_recv = false, op_send = false;
  bool op_cancel = false, op_socket = false, op_send_zc = false, op_shutdown = false;
  bool provided_buffer_ring = false;  // IORING_REGISTER_PBUF_RING (5.19)
  // Flags have no probe: inferred from opcodes of the same release (IORING_OP_SOCKET came with
  // multishot accept in 5.19, IORING_OP_SEND_ZC with multishot recv in 6.0) and confirmed at run
  // time (an EINVAL from a multishot op downgrades the driver to single-shot).
  bool multishot_accept = false;
  bool multishot_recv = false;
  // One line per feature, "name: yes|no".
  std::string to_string() const;
};

// Probes the kernel with a throwaway ring. Errors: io_uring unavailable (ENOSYS, disabled by
// sysctl/seccomp: kPermissionDenied) with the reason in the detail.
Result<UringFeatures> probe_uring();

struct UringStats {
  std::uint64_t polls = 0;           // poll() calls (iterations and idle spins)
  std::uint64_t submits = 0;         // io_uring_enter calls that carried SQEs, all causes
  std::uint64_t forced_submits = 0;  // of which early flushes because the SQ was full
  std::uint64_t sqes = 0;            // SQEs submitted
  std::uint64_t max_sqes_per_submit = 0;
  std::uint64_t cqes = 0;          // completions reaped
  std::uint64_t cancels = 0;       // cancel requests issued (user cancellation, pauses, close)
  std::uint64_t recv_cqes = 0;     // data completions (each one provided buffer)
  std::uint64_t recv_enobufs = 0;  // receives that found the buffer ring empty
  std::uint64_t recv_pauses = 0;   // multishot recvs paused by recv_ahead_limit
  std::uint64_t recv_arms = 0;     // recv SQEs (multishot arms, or every single-shot recv)
  std::uint64_t accept_arms = 0;
  std::uint64_t accepted = 0;
  std::uint64_t multishot_downgrades = 0;  // multishot refused by the kernel (EINVAL)
  std::uint64_t eventfd_drains = 0;        // defer_taskrun: eventfd cleared before going idle
  std::uint64_t direct_sends = 0;          // writes (or their first part) done by send(2), no SQE
};

class UringDriver;

namespace detail {

// One in-flight operation; its address is the SQE's user_data. Completions are dispatched to
// `fn(self, res, flags)`. Ops live in the long-lived socket/listener state, never in a coroutine
// frame, so a completion never touches freed memory.
struct Op {
  using Fn = void (*)(void* self, int res, std::uint32_t flags);
  Fn fn = nullptr;
  void* self = nullptr;
};

// A listener's or connection's state, known to the driver so it can detach them at shutdown.
class Resource {
 public:
  virtual ~Resource();
  // The driver is going away: every op has completed; close the fd, fail later operations.
  virtual void driver_gone() = 0;

 protected:
  explicit Resource(UringDriver* drv);
  UringDriver* drv_;

 private:
  friend class coronet::kernel::UringDriver;
  Resource* prev_ = nullptr;
  Resource* next_ = nullptr;
};

// A connection waiting for provided buffers (its recv ended with ENOBUFS while a reader waits).
class BufferWaiter {
 public:
  virtual void buffers_available() = 0;

 protected:
  ~BufferWaiter() = default;
};

// The ring of provided receive buffers (one buffer group). liburing 2.3 predates
// io_uring_setup_buf_ring(), so the ring is mapped and registered here.
class BufferRing {
 public:
  BufferRing() = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  Result<void> init(io_uring& ring, std::uint16_t group, std::uint32_t count, std::uint32_t size);
  void unregister(io_uring& ring);

  std::uint16_t group() const { return group_; }
  std::uint32_t buffer_size() const { return size_; }
  std::byte* data(std::uint16_t bid) { return storage_ + std::size_t{bid} * size_; }
  // Hands buffer `bid` back to the kernel (one release store publishes it).
  void recycle(std::uint16_t bid);
  // A completion consumed one buffer.
  void consumed() { --available_; }
  std::uint32_t available() const { return available_; }
  std::uint32_t count() const { return count_; }

 private:
  io_uring_buf_ring* ring_ = nullptr;
  std::size_t ring_bytes_ = 0;
  std::byte* storage_ = nullptr;
  std::size_t storage_bytes_ = 0;
  std::uint32_t count_ = 0;
  std::uint32_t size_ = 0;
  std::uint32_t available_ = 0;
  std::uint16_t group_ = 0;
  bool registered_ = false;
};

}  // namespace detail

class UringDriver final : public coro::PollSource {
 public:
  // Creates the ring on `reactor` (which must be the calling thread's) and registers as its poll
  // source. Errors name the missing feature or the failed setup step.
  static Result<std::unique_ptr<UringDriver>> create(coro::Reactor& reactor,
                                                     UringOptions options = {});
  ~UringDriver() override;
  UringDriver(const UringDriver&) = delete;
  UringDriver& operator=(const UringDriver&) = delete;

  // The driver created on the calling thread, or null.
  static UringDriver* current();

  coro::Reactor& reactor() { return reactor_; }
  const UringOptions& options() const { return options_; }
  const UringFeatures& features() const { return features_; }
  const UringStats& stats() const { return stats_; }
  // Connections and listeners alive on this driver.
  std::size_t resources() const { return resources_; }
  // Operations submitted or queued whose final completion has not been reaped.
  std::size_t in_flight() const { return in_flight_; }

  // PollSource: submit what this iteration queued (one io_uring_enter), reap completions.
  bool poll() override;
  // The ring fd (readable while completions wait), or the registered eventfd (defer_taskrun).
  int wait_fd() const override { return event_fd_ >= 0 ? event_fd_ : ring_.ring_fd; }

  // ---- For kernel/ internals (socket.cc) ----
  // A free SQE for `op` (user_data set, counted in flight until its final completion), never null:
  // with the SQ full, what is queued is submitted first (a forced submit).
  io_uring_sqe* start(detail::Op* op);
  // Queues a cancel of every request whose user_data is `op` (its completion is ignored).
  void cancel(detail::Op* op);
  detail::BufferRing& buffers() { return buffers_; }
  // Multishot use, after the probe and any downgrade.
  bool multishot_accept() const { return multishot_accept_; }
  bool multishot_recv() const { return multishot_recv_; }
  // The kernel refused a multishot op with EINVAL: use single-shot from now on (logged once).
  void downgrade_multishot_accept();
  void downgrade_multishot_recv();
  // True while the driver is being destroyed: nothing may be (re-)armed.
  bool shutting_down() const { return shutting_down_; }
  void wait_for_buffers(detail::BufferWaiter* w);
  void stop_waiting_for_buffers(detail::BufferWaiter* w);
  UringStats& mutable_stats() { return stats_; }
  // Whether a write may try a direct send(2) now: counted against direct_sends_per_poll, and only
  // while recent iterations submitted at most one SQE. A send(2) saves the io_uring_enter a lone
  // send would need, but with many connections active the enter happens anyway and carries the
  // send for less than a syscall of its own.
  bool take_direct_send() {
    if (direct_sends_ >= options_.direct_sends_per_poll || batch_hint_ > 1) return false;
    ++direct_sends_;
    return true;
  }
  void link(detail::Resource* r);
  void unlink(detail::Resource* r);

 private:
  UringDriver(coro::Reactor& reactor, UringOptions options);
  Result<void> init();
  io_uring_sqe* raw_sqe();
  void submit(bool forced);
  std::size_t reap();
  // defer_taskrun: clears the eventfd when going idle (see poll()).
  std::size_t settle_eventfd(bool active);
  void wake_buffer_waiters();
  // Shutdown: cancels everything in flight and reaps until it has completed (bounded wait).
  void drain();

  coro::Reactor& reactor_;
  UringOptions options_;
  UringFeatures features_;
  UringStats stats_;
  io_uring ring_{};
  bool ring_ok_ = false;
  bool multishot_accept_ = false;
  bool multishot_recv_ = false;
  detail::BufferRing buffers_;
  std::vector<detail::BufferWaiter*> buffer_waiters_;
  std::vector<detail::BufferWaiter*> buffer_scratch_;
  detail::Resource* resource_list_ = nullptr;
  std::size_t resources_ = 0;
  std::size_t in_flight_ = 0;
  bool shutting_down_ = false;
  int event_fd_ = -1;
  bool eventfd_dirty_ = false;  // it may have been signalled since it was last cleared
  unsigned idle_polls_ = 0;
  std::uint32_t direct_sends_ = 0;  // since the last poll()
  // SQEs per submit, recently: the largest batch, decaying by one per poll().
  std::uint32_t batch_hint_ = 0;
};

}  // namespace coronet::kernel
