#include "kernel/uring_driver.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "coro/log.h"

namespace coronet::kernel {
namespace {

thread_local UringDriver* tls_driver = nullptr;

constexpr unsigned kReapBatch = 64;

std::string kernel_release() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return u.release;
}

Error setup_error(int err, const std::string& kernel) {
  std::string detail = "io_uring_setup: " + std::string(std::strerror(err)) + " (kernel " + kernel;
  if (err == ENOSYS) detail += ", built without io_uring";
  if (err == EPERM) detail += ", io_uring disabled: see sysctl kernel.io_uring_disabled or seccomp";
  if (err == ENOMEM) detail += ", locked-memory limit too low: raise ulimit -l";
  detail += ")";
  return Error(errc_from_errno(err), std::move(detail));
}

// Creates `ring` with the best flags the kernel accepts, newest first:
//  - COOP_TASKRUN + TASKRUN_FLAG (5.19): completions run when this thread next enters the kernel,
//    never by interrupting it; the kernel flags pending work in the SQ ring so peeking an idle ring
//    costs no syscall. A sleeping reactor is still woken (the task work wakes ppoll()).
//  - SINGLE_ISSUER (6.0): only this thread submits (true by design), saving the kernel locking.
//  - SUBMIT_ALL (5.18): one bad SQE does not hold back the rest of the batch.
// CQSIZE/CLAMP (5.5/5.6) size the CQ for multishot traffic.
// DEFER_TASKRUN (6.1, with SINGLE_ISSUER) is tried first only when asked for.
int setup_ring(io_uring& ring, std::uint32_t sq, std::uint32_t cq, bool defer, UringFeatures& f) {
  const std::uint32_t tiers[] = {
      defer ? IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER |
                  IORING_SETUP_SUBMIT_ALL
            : 0xffffffffu,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER |
          IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  int r = -EINVAL;
  for (std::uint32_t flags : tiers) {
    if (flags == 0xffffffffu) continue;  // tier not wanted
    io_uring_params p{};
    p.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    p.cq_entries = std::max(cq, 2 * sq);
    r = io_uring_queue_init_params(sq, &ring, &p);
    if (r == 0) {
      f.ring_flags = p.features;
      f.coop_taskrun = (flags & IORING_SETUP_COOP_TASKRUN) != 0;
      f.single_issuer = (flags & IORING_SETUP_SINGLE_ISSUER) != 0;
      f.defer_taskrun = (flags & IORING_SETUP_DEFER_TASKRUN) != 0;
      f.fast_poll = (p.features & IORING_FEAT_FAST_POLL) != 0;
      return 0;
    }
    if (r != -EINVAL) return r;
  }
  return r;
}

void probe_opcodes(io_uring& ring, UringFeatures& f) {
  io_uring_probe* p = io_uring_get_probe_ring(&ring);
  if (p == nullptr) return;  // before 5.6 there is no probe, and none of our opcodes either
  f.op_accept = io_uring_opcode_supported(p, IORING_OP_ACCEPT) != 0;
  f.op_connect = io_uring_opcode_supported(p, IORING_OP_CONNECT) != 0;
  f.op_recv = io_uring_opcode_supported(p, IORING_OP_RECV) != 0;
  f.op_send = io_uring_opcode_supported(p, IORING_OP_SEND) != 0;
  f.op_cancel = io_uring_opcode_supported(p, IORING_OP_ASYNC_CANCEL) != 0;
  f.op_socket = io_uring_opcode_supported(p, IORING_OP_SOCKET) != 0;
  f.op_send_zc = io_uring_opcode_supported(p, IORING_OP_SEND_ZC) != 0;
  f.op_shutdown = io_uring_opcode_supported(p, IORING_OP_SHUTDOWN) != 0;
  io_uring_free_probe(p);
}

// Registers and unregisters a one-entry buffer ring under a group id nobody uses.
bool probe_buffer_ring(io_uring& ring) {
  const long page = sysconf(_SC_PAGESIZE);
  void* mem = mmap(nullptr, static_cast<std::size_t>(page), PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return false;
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
  reg.ring_entries = 1;
  reg.bgid = 0xfffe;
  const bool ok = io_uring_register_buf_ring(&ring, &reg, 0) == 0;
  if (ok) io_uring_unregister_buf_ring(&ring, reg.bgid);
  munmap(mem, static_cast<std::size_t>(page));
  return ok;
}

void infer_multishot(UringFeatures& f) {
  f.multishot_accept = f.op_accept && f.op_socket;
  f.multishot_recv = f.op_recv && f.op_send_zc && f.provided_buffer_ring;
}

Error missing(const char* what, const char* since, const UringFeatures& f) {
  // No dedicated "not supported" code in coro/result.h yet: kNotFound carries the feature name.
  return Error(Errc::kNotFound, std::string("io_uring ") + what + " (Linux " + since +
                                    "+) is not available on kernel " + f.kernel);
}

}  // namespace

std::string UringFeatures::to_string() const {
  auto yn = [](bool b) { return b ? "yes" : "no"; };
  std::string s = "kernel: " + kernel + "\n";
  auto line = [&](const char* name, bool v) {
    s += name;
    s += ": ";
    s += yn(v);
    s += "\n";
  };
  line("IORING_SETUP_COOP_TASKRUN+TASKRUN_FLAG", coop_taskrun);
  line("IORING_SETUP_SINGLE_ISSUER", single_issuer);
  line("IORING_SETUP_DEFER_TASKRUN", defer_taskrun);
  line("IORING_FEAT_FAST_POLL", fast_poll);
  line("IORING_FEAT_NODROP", (ring_flags & IORING_FEAT_NODROP) != 0);
  line("IORING_FEAT_EXT_ARG", (ring_flags & IORING_FEAT_EXT_ARG) != 0);
  line("IORING_OP_ACCEPT", op_accept);
  line("IORING_OP_CONNECT", op_connect);
  line("IORING_OP_RECV", op_recv);
  line("IORING_OP_SEND", op_send);
  line("IORING_OP_ASYNC_CANCEL", op_cancel);
  line("IORING_OP_SHUTDOWN", op_shutdown);
  line("IORING_OP_SOCKET", op_socket);
  line("IORING_OP_SEND_ZC", op_send_zc);
  line("provided buffer ring (IORING_REGISTER_PBUF_RING)", provided_buffer_ring);
  line("multishot accept", multishot_accept);
  line("multishot recv", multishot_recv);
  return s;
}

Result<UringFeatures> probe_uring() {
  UringFeatures f;
  f.kernel = kernel_release();
  io_uring ring{};
  if (int r = setup_ring(ring, 8, 16, true, f); r < 0) return setup_error(-r, f.kernel);
  const bool defer = f.defer_taskrun;
  if (defer) {  // the rest of the probe on the flags a default driver uses
    io_uring_queue_exit(&ring);
    if (int r = setup_ring(ring, 8, 16, false, f); r < 0) return setup_error(-r, f.kernel);
    f.defer_taskrun = true;
  }
  probe_opcodes(ring, f);
  f.provided_buffer_ring = probe_buffer_ring(ring);
  infer_multishot(f);
  io_uring_queue_exit(&ring);
  return f;
}

namespace detail {

Resource::Resource(UringDriver* drv) : drv_(drv) {
  if (drv_ != nullptr) drv_->link(this);
}

Resource::~Resource() {
  if (drv_ != nullptr) drv_->unlink(this);
}

BufferRing::~BufferRing() {
  if (ring_ != nullptr) munmap(ring_, ring_bytes_);
  if (storage_ != nullptr) munmap(storage_, storage_bytes_);
}

Result<void> BufferRing::init(io_uring& ring, std::uint16_t group, std::uint32_t count,
                              std::uint32_t size) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  ring_bytes_ = (count * sizeof(io_uring_buf) + page - 1) / page * page;
  void* mem =
      mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    return Error(Errc::kResourceExhausted,
                 "mmap of the provided-buffer ring: " + std::string(std::strerror(errno)));
  }
  ring_ = static_cast<io_uring_buf_ring*>(mem);
  storage_bytes_ = std::size_t{count} * size;
  mem = mmap(nullptr, storage_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    return Error(Errc::kResourceExhausted,
                 "mmap of " + std::to_string(storage_bytes_) +
                     " bytes of receive buffers: " + std::string(std::strerror(errno)));
  }
  storage_ = static_cast<std::byte*>(mem);
  io_uring_buf_ring_init(ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(ring_);
  reg.ring_entries = count;
  reg.bgid = group;
  if (int r = io_uring_register_buf_ring(&ring, &reg, 0); r < 0) {
    return Error(errc_from_errno(-r),
                 "registering the provided-buffer ring: " + std::string(std::strerror(-r)));
  }
  registered_ = true;
  group_ = group;
  count_ = count;
  size_ = size;
  const int mask = io_uring_buf_ring_mask(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    io_uring_buf_ring_add(ring_, data(static_cast<std::uint16_t>(i)), size,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(ring_, static_cast<int>(count));
  available_ = count;
  return {};
}

void BufferRing::unregister(io_uring& ring) {
  if (registered_) io_uring_unregister_buf_ring(&ring, group_);
  registered_ = false;
}

void BufferRing::recycle(std::uint16_t bid) {
  io_uring_buf_ring_add(ring_, data(bid), size_, bid, io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(ring_, 1);
  ++available_;
}

}  // namespace detail

UringDriver::UringDriver(coro::Reactor& reactor, UringOptions options)
    : reactor_(reactor), options_(options) {}

UringDriver* UringDriver::current() { return tls_driver; }

Result<std::unique_ptr<UringDriver>> UringDriver::create(coro::Reactor& reactor,
                                                         UringOptions options) {
  if (coro::Reactor::current() != &reactor) {
    return Error(Errc::kNotOnReactor, "UringDriver::create must run on the reactor's own thread");
  }
  if (tls_driver != nullptr) {
    return Error(Errc::kInvalidArgument, "this thread already has a UringDriver (one per reactor)");
  }
  const std::uint32_t n = options.recv_buffers;
  if (n == 0 || n > 32768 || (n & (n - 1)) != 0) {
    return Error(Errc::kInvalidArgument,
                 "recv_buffers must be a power of two in [1, 32768], got " + std::to_string(n));
  }
  if (options.recv_buffer_size == 0 || options.sq_entries == 0) {
    return Error(Errc::kInvalidArgument, "recv_buffer_size and sq_entries must be positive");
  }
  std::unique_ptr<UringDriver> d(new UringDriver(reactor, options));
  if (auto r = d->init(); !r) return r.error();
  return Result<std::unique_ptr<UringDriver>>(std::move(d));
}

Result<void> UringDriver::init() {
  features_.kernel = kernel_release();
  if (int r = setup_ring(ring_, options_.sq_entries, options_.cq_entries, options_.defer_taskrun,
                         features_);
      r < 0) {
    return setup_error(-r, features_.kernel);
  }
  ring_ok_ = true;
  probe_opcodes(ring_, features_);
  if (!features_.op_accept) return missing("IORING_OP_ACCEPT", "5.5", features_);
  if (!features_.op_connect) return missing("IORING_OP_CONNECT", "5.5", features_);
  if (!features_.op_cancel) return missing("IORING_OP_ASYNC_CANCEL", "5.5", features_);
  if (!features_.op_recv || !features_.op_send) {
    return missing("IORING_OP_SEND/IORING_OP_RECV", "5.6", features_);
  }
  if (auto r = buffers_.init(ring_, 0, options_.recv_buffers, options_.recv_buffer_size); !r) {
    if (r.error().code() == Errc::kInvalidArgument) {
      return missing("provided buffer rings (IORING_REGISTER_PBUF_RING)", "5.19", features_);
    }
    return r.error();
  }
  features_.provided_buffer_ring = true;
  infer_multishot(features_);
  multishot_accept_ = options_.multishot_accept && features_.multishot_accept;
  multishot_recv_ = options_.multishot_recv && features_.multishot_recv;
  if (features_.defer_taskrun) {
    event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd_ < 0) return Error(errc_from_errno(errno), "eventfd for the io_uring driver");
    if (int r = io_uring_register_eventfd(&ring_, event_fd_); r < 0) {
      return Error(errc_from_errno(-r),
                   "io_uring_register_eventfd: " + std::string(std::strerror(-r)));
    }
  }
  // Registered ring fd (5.18): io_uring_enter skips the fd lookup. Optional.
  (void)io_uring_register_ring_fd(&ring_);
  reactor_.add_poll_source(this);
  tls_driver = this;
  return {};
}

UringDriver::~UringDriver() {
  if (tls_driver == this) tls_driver = nullptr;
  if (!ring_ok_) return;
  struct CloseEventFd {
    int fd;
    ~CloseEventFd() {
      if (fd >= 0) ::close(fd);
    }
  } close_event_fd{event_fd_};
  reactor_.remove_poll_source(this);
  drain();
  // Whatever is still open belongs to handles that outlive the driver: detach it.
  while (detail::Resource* r = resource_list_) {
    unlink(r);
    r->drv_ = nullptr;
    r->driver_gone();  // may delete r
  }
  buffers_.unregister(ring_);
  io_uring_queue_exit(&ring_);
}

void UringDriver::drain() {
  shutting_down_ = true;
  if (in_flight_ > 0) {
    io_uring_sqe* s = raw_sqe();
    io_uring_prep_cancel64(s, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data(s, nullptr);
  }
  // Bounded: at most 20 waits of 100 ms; completions only shrink in_flight_.
  for (int waits = 0; waits < 20;) {
    if (io_uring_sq_ready(&ring_) > 0) submit(false);
    reap();
    if (in_flight_ == 0) break;
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{0, 100'000'000};
    int r = io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
    if (r == -ETIME || r == -EINTR) {
      ++waits;
    } else if (r < 0) {
      break;
    }
  }
  if (in_flight_ > 0) {
    log::warn("io_uring driver: {} operations still in flight at shutdown", in_flight_);
  }
}

void UringDriver::link(detail::Resource* r) {
  r->prev_ = nullptr;
  r->next_ = resource_list_;
  if (resource_list_ != nullptr) resource_list_->prev_ = r;
  resource_list_ = r;
  ++resources_;
}

void UringDriver::unlink(detail::Resource* r) {
  if (r->prev_ != nullptr) {
    r->prev_->next_ = r->next_;
  } else if (resource_list_ == r) {
    resource_list_ = r->next_;
  }
  if (r->next_ != nullptr) r->next_->prev_ = r->prev_;
  r->prev_ = r->next_ = nullptr;
  --resources_;
}

io_uring_sqe* UringDriver::raw_sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  // SQ full: this iteration queued more than sq_entries. Flush early (counted, should be rare).
  for (int tries = 0; s == nullptr && tries < 1000; ++tries) {
    submit(true);
    s = io_uring_get_sqe(&ring_);
  }
  if (s == nullptr) throw std::runtime_error("io_uring: the kernel takes no SQEs (SQ stuck)");
  return s;
}

io_uring_sqe* UringDriver::start(detail::Op* op) {
  io_uring_sqe* s = raw_sqe();
  io_uring_sqe_set_data(s, op);
  ++in_flight_;
  return s;
}

void UringDriver::cancel(detail::Op* op) {
  io_uring_sqe* s = raw_sqe();
  io_uring_prep_cancel(s, op, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data(s, nullptr);  // its own completion carries nothing we need
  ++stats_.cancels;
}

void UringDriver::submit(bool forced) {
  const unsigned queued = io_uring_sq_ready(&ring_);
  // submit_and_get_events also runs completion work the kernel has pending for this thread, so the
  // reap that follows sees ops that finished inline (sends into a socket with room, ...).
  const int r = io_uring_submit_and_get_events(&ring_);
  if (r < 0) {
    // EAGAIN/EBUSY/EINTR: the SQEs stay queued and go with the next submit.
    if (r != -EAGAIN && r != -EBUSY && r != -EINTR) {
      log::error("io_uring_submit: {} ({} SQEs queued)", std::strerror(-r), queued);
    }
    return;
  }
  ++stats_.submits;
  if (forced) ++stats_.forced_submits;
  stats_.sqes += static_cast<std::uint64_t>(r);
  stats_.max_sqes_per_submit =
      std::max<std::uint64_t>(stats_.max_sqes_per_submit, static_cast<std::uint64_t>(r));
}

std::size_t UringDriver::reap() {
  std::size_t total = 0;
  io_uring_cqe* cqes[kReapBatch];
  for (;;) {
    // Enters the kernel only when it flagged pending completion work or a CQ overflow.
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kReapBatch);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) {
      auto* op = static_cast<detail::Op*>(io_uring_cqe_get_data(cqes[i]));
      const int res = cqes[i]->res;
      const std::uint32_t flags = cqes[i]->flags;
      if (op == nullptr) continue;  // a cancel request's own completion
      if ((flags & IORING_CQE_F_MORE) == 0) --in_flight_;
      op->fn(op->self, res, flags);
    }
    io_uring_cq_advance(&ring_, n);
    total += n;
    if (n < kReapBatch) break;
  }
  stats_.cqes += total;
  return total;
}

bool UringDriver::poll() {
  ++stats_.polls;
  direct_sends_ = 0;
  bool progress = false;
  if (!buffer_waiters_.empty() && buffers_.available() > 0) wake_buffer_waiters();
  // Everything the last iteration queued goes to the kernel in one call.
  const unsigned queued = io_uring_sq_ready(&ring_);
  if (queued > 0) {
    submit(false);
    progress = true;
  }
  batch_hint_ = std::max<std::uint32_t>(queued, batch_hint_ > 0 ? batch_hint_ - 1 : 0);
  if (event_fd_ >= 0 && (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN) != 0) {
    eventfd_dirty_ = true;  // deferred work was queued: the kernel signalled the eventfd for it
  }
  if (reap() > 0) progress = true;
  if (event_fd_ >= 0 && settle_eventfd(progress) > 0) progress = true;
  return progress;
}

std::size_t UringDriver::settle_eventfd(bool active) {
  // Each signal of the eventfd comes with a completion or with deferred work (IORING_SQ_TASKRUN)
  // that poll() sees, which marks it dirty. The second idle poll in a row clears a dirty eventfd
  // and only then looks at the ring again: work that arrives after that look signals the cleared
  // eventfd and wakes the sleeper. The reactor only sleeps after at least two idle polls in a row
  // (run_once()'s, then idle_wait()'s last look), so the sleeper always sees a cleared eventfd,
  // while the single idle poll that opens each busy stretch (a new block_on, a resumed batch) costs
  // no read(2) (measured: 2 reads per round trip before, with one connection). Every 64th idle poll
  // clears it regardless, so a signal this reasoning missed costs a few spins, never a busy loop.
  if (active) {
    eventfd_dirty_ = true;
    idle_polls_ = 0;
    return 0;
  }
  ++idle_polls_;
  if (eventfd_dirty_ ? idle_polls_ < 2 : idle_polls_ % 64 != 0) return 0;
  std::uint64_t count;
  while (::read(event_fd_, &count, sizeof(count)) > 0) {
  }
  eventfd_dirty_ = false;
  ++stats_.eventfd_drains;
  return reap();
}

void UringDriver::wait_for_buffers(detail::BufferWaiter* w) {
  if (std::find(buffer_waiters_.begin(), buffer_waiters_.end(), w) == buffer_waiters_.end()) {
    buffer_waiters_.push_back(w);
  }
}

void UringDriver::stop_waiting_for_buffers(detail::BufferWaiter* w) {
  buffer_waiters_.erase(std::remove(buffer_waiters_.begin(), buffer_waiters_.end(), w),
                        buffer_waiters_.end());
}

void UringDriver::wake_buffer_waiters() {
  // Re-arm at most as many receives as there are free buffers, oldest first, so a shortage does
  // not turn into every starved connection failing again with ENOBUFS.
  const std::size_t k = std::min<std::size_t>(buffer_waiters_.size(), buffers_.available());
  buffer_scratch_.assign(buffer_waiters_.begin(), buffer_waiters_.begin() + static_cast<long>(k));
  buffer_waiters_.erase(buffer_waiters_.begin(), buffer_waiters_.begin() + static_cast<long>(k));
  for (detail::BufferWaiter* w : buffer_scratch_) w->buffers_available();
  buffer_scratch_.clear();
}

void UringDriver::downgrade_multishot_accept() {
  if (!multishot_accept_) return;
  multishot_accept_ = false;
  ++stats_.multishot_downgrades;
  log::warn("io_uring: kernel {} refused multishot accept (EINVAL); using single-shot accept",
            features_.kernel);
}

void UringDriver::downgrade_multishot_recv() {
  if (!multishot_recv_) return;
  multishot_recv_ = false;
  ++stats_.multishot_downgrades;
  log::warn("io_uring: kernel {} refused multishot recv (EINVAL); using single-shot recv",
            features_.kernel);
}

}  // namespace coronet::kernel
