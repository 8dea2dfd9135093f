#include "nic/tap/tap_uring.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "coro/log.h"

namespace coronet::nic {
namespace {

constexpr std::uint64_t kCancelTag = ~std::uint64_t{0};
constexpr std::uint32_t kEtherHeader = 14;

// COOP_TASKRUN: completions are run when we next enter the kernel instead of interrupting the
// thread with an IPI; TASKRUN_FLAG makes the kernel say (in the SQ ring) when that is needed, so
// liburing's peek enters the kernel only then and polling an idle queue costs no syscall. Both are
// Linux 5.19+; older kernels get a plain ring.
int init_ring(io_uring& ring, std::uint32_t entries) {
  io_uring_params p{};
  p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  int r = io_uring_queue_init_params(entries, &ring, &p);
  if (r == -EINVAL) {
    p = {};
    r = io_uring_queue_init_params(entries, &ring, &p);
  }
  return r;
}

Error ring_error(const std::string& ifname, int res) {
  std::string detail = "io_uring setup for TAP " + ifname + ": " + std::strerror(-res);
  if (res == -EPERM) detail += " (io_uring may be disabled: see sysctl kernel.io_uring_disabled)";
  if (res == -ENOMEM) detail += " (locked-memory limit too low: raise ulimit -l)";
  return Error(errc_from_errno(-res), std::move(detail));
}

}  // namespace

Result<std::unique_ptr<TapDevice::Uring>> TapDevice::Uring::create(TapDevice& dev, Queue& q) {
  std::unique_ptr<Uring> u(new Uring(dev, q));
  if (auto r = u->init(); !r) return r.error();
  return Result<std::unique_ptr<Uring>>(std::move(u));
}

Result<void> TapDevice::Uring::init() {
  const std::uint32_t rx_depth = dev_.uring_rx_depth_;
  const std::uint32_t tx_depth = dev_.uring_tx_depth_;
  // At most rx_depth reads plus two cancels (the scratch read's, shutdown's) are ever outstanding,
  // so neither the SQ nor the default CQ (twice the SQ) can overflow; likewise for tx.
  if (int r = init_ring(rx_ring_, rx_depth + 2); r < 0) return ring_error(dev_.info_.name, r);
  rx_ring_ok_ = true;
  if (int r = init_ring(tx_ring_, tx_depth + 1); r < 0) return ring_error(dev_.info_.name, r);
  tx_ring_ok_ = true;

  rx_slots_.resize(rx_depth);
  tx_slots_.resize(tx_depth);
  tx_free_.reserve(tx_depth);
  for (std::uint32_t i = tx_depth; i-- > 0;) tx_free_.push_back(i);
  rx_starved_.reserve(rx_depth);
  for (std::uint32_t i = 0; i < rx_depth; ++i) arm_rx(i);
  submit_rx(false);
  if (io_uring_sq_ready(&rx_ring_) != 0) {
    return Error(Errc::kInvalidArgument,
                 "io_uring for TAP " + dev_.info_.name + ": initial reads were not accepted");
  }
  return {};
}

TapDevice::Uring::~Uring() {
  bool rx_done = true;
  if (rx_ring_ok_) {
    rx_done = drain(rx_ring_, rx_outstanding_, true);
    if (rx_done) {
      for (RxSlot& s : rx_slots_) {
        if (s.pkt != nullptr) PacketPool::free(s.pkt);
        s.pkt = nullptr;
      }
    }
    io_uring_queue_exit(&rx_ring_);
  }
  if (tx_ring_ok_) {
    if (drain(tx_ring_, tx_in_flight_, false)) {
      for (TxSlot& s : tx_slots_) {
        if (s.pkt != nullptr) PacketPool::free(s.pkt);
      }
    }
    io_uring_queue_exit(&tx_ring_);
  }
  if (!rx_done) {
    // Unreachable in practice (cancellation of a poll-armed read is immediate). Better to leak the
    // packets than to let the kernel write into freed buffers.
    log::warn("TAP {}: io_uring reads did not finish at shutdown; their buffers are leaked",
              dev_.info_.name);
  }
}

bool TapDevice::Uring::drain(io_uring& ring, std::uint32_t in_flight, bool is_rx) {
  if (in_flight == 0) return true;
  if (io_uring_sqe* sqe = io_uring_get_sqe(&ring); sqe != nullptr) {
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, kCancelTag);
  }
  io_uring_submit(&ring);
  // Bounded: each wait is at most 100 ms and completions only shrink in_flight.
  for (int waits = 0; in_flight > 0 && waits < 20;) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{0, 100'000'000};
    int r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
    if (r == -ETIME || r == -EINTR) {
      ++waits;
      continue;
    }
    if (r < 0) break;
    const std::uint64_t tag = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    if (tag == kCancelTag) continue;
    --in_flight;
    // Frames read during shutdown are dropped uncounted: nobody will look at them.
    if (!is_rx) complete_tx(static_cast<std::uint32_t>(tag), res);
  }
  return in_flight == 0;
}

void TapDevice::Uring::arm_rx(std::uint32_t slot) {
  RxSlot& s = rx_slots_[slot];
  if (s.pkt == nullptr) s.pkt = q_.pool->alloc();
  unsigned iovcnt;
  if (s.pkt != nullptr) {
    // The second iovec catches the overflow of a frame longer than max_frame, so its true length
    // shows in the result instead of TAP truncating it silently.
    s.iov[0] = {s.pkt->data(), dev_.max_frame_};
    s.iov[1] = {q_.scratch.data(), q_.scratch.size()};
    iovcnt = 2;
  } else if (scratch_slot_ == kNoSlot) {
    scratch_slot_ = slot;
    s.iov[0] = {q_.scratch.data(), q_.scratch.size()};
    iovcnt = 1;
  } else {
    rx_starved_.push_back(slot);
    return;
  }
  // Never null: the SQ has a place for every slot plus two cancels, and a slot is prepared only
  // when its previous read has completed.
  io_uring_sqe* sqe = io_uring_get_sqe(&rx_ring_);
  io_uring_prep_readv(sqe, q_.fd, s.iov.data(), iovcnt, 0);
  io_uring_sqe_set_data64(sqe, slot);
  ++rx_outstanding_;
}

void TapDevice::Uring::recover_from_starvation() {
  while (!rx_starved_.empty() && q_.pool->available() > 0) {
    const std::uint32_t slot = rx_starved_.back();
    rx_starved_.pop_back();
    arm_rx(slot);
  }
  if (scratch_slot_ != kNoSlot && !scratch_cancel_pending_ && q_.pool->available() > 0) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&rx_ring_); sqe != nullptr) {
      io_uring_prep_cancel64(sqe, scratch_slot_, 0);
      io_uring_sqe_set_data64(sqe, kCancelTag);
      scratch_cancel_pending_ = true;
    }
  }
}

void TapDevice::Uring::submit_rx(bool get_events) {
  const int r = get_events ? io_uring_submit_and_get_events(&rx_ring_) : io_uring_submit(&rx_ring_);
  // EAGAIN/EBUSY: the kernel is short of memory or completions are backed up; the SQEs stay
  // queued and go in with the next call.
  if (r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR) ++q_.rx.errors;
}

std::size_t TapDevice::Uring::rx_burst(std::span<Packet*> out) {
  if (!rx_starved_.empty() || scratch_slot_ != kNoSlot) recover_from_starvation();
  // Reads re-armed by the previous burst go in now; the same syscall runs the completions the
  // kernel has pending, so a busy queue costs one syscall per burst.
  if (io_uring_sq_ready(&rx_ring_) != 0) submit_rx(true);
  std::size_t n = 0;
  // Every completion counts against the burst, delivered or not, so one call does bounded work.
  std::size_t budget = out.size();
  for (;;) {
    const std::size_t before = budget;
    harvest_rx(out, n, budget);
    // Every read completed, so the TAP queue may hold more than the reads in flight could take:
    // send the re-armed ones straight back (they complete inline while frames are queued). This
    // keeps a shallow ring (few reads, so few wake-ups per frame on sparse traffic) from capping
    // the burst at its depth.
    if (budget == 0 || budget == before || rx_armed() != 0 || io_uring_sq_ready(&rx_ring_) == 0) {
      break;
    }
    submit_rx(true);
  }
  // Keep at least half the reads armed so rx_fd() wakes a sleeping reactor; otherwise leave the
  // re-armed reads for the next burst's syscall.
  if (io_uring_sq_ready(&rx_ring_) != 0 && rx_armed() < rx_slots_.size() / 2 + 1) {
    submit_rx(false);
  }
  return n;
}

void TapDevice::Uring::harvest_rx(std::span<Packet*> out, std::size_t& n, std::size_t& budget) {
  while (budget > 0) {
    io_uring_cqe* cqe = nullptr;
    // Enters the kernel only when it flagged pending completion work (TASKRUN_FLAG).
    if (io_uring_peek_cqe(&rx_ring_, &cqe) != 0) return;
    const std::uint64_t tag = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(&rx_ring_, cqe);
    if (tag == kCancelTag) {
      scratch_cancel_pending_ = false;
      continue;
    }
    const auto slot = static_cast<std::uint32_t>(tag);
    --rx_outstanding_;
    --budget;
    complete_rx(slot, res, out, n);
    arm_rx(slot);
  }
}

void TapDevice::Uring::complete_rx(std::uint32_t slot, int res, std::span<Packet*> out,
                                   std::size_t& n) {
  RxSlot& s = rx_slots_[slot];
  QueueStats& st = q_.rx;
  if (slot == scratch_slot_) scratch_slot_ = kNoSlot;
  if (res < 0) {
    // ECANCELED: the scratch read, cancelled because packets are back. EAGAIN: woken with the
    // others by a frame that another read took (the TAP fd is non-blocking, so io_uring completes
    // rather than re-polls). Either way the slot is simply re-armed.
    if (res != -ECANCELED && res != -EAGAIN && res != -EINTR) ++st.errors;
    return;
  }
  if (s.pkt == nullptr) {
    if (res > 0) ++st.drops;  // read into scratch because the pool was empty
    return;
  }
  const auto len = static_cast<std::uint32_t>(res);
  if (len > dev_.max_frame_ || len < kEtherHeader) {
    ++st.errors;  // oversize or runt: the packet stays in the slot for the next read
    return;
  }
  s.pkt->append(len);
  ++st.packets;
  st.bytes += len;
  out[n++] = s.pkt;
  s.pkt = nullptr;
}

std::size_t TapDevice::Uring::tx_burst(std::span<Packet* const> pkts) {
  reap_tx();
  std::size_t taken = 0;
  std::uint32_t prepared = 0;
  for (; taken < pkts.size(); ++taken) {
    Packet* p = pkts[taken];
    const std::size_t len = p->chain_size();
    if (len > dev_.max_frame_ || len < kEtherHeader) {
      ++q_.tx.errors;  // refused whole, never truncated
      PacketPool::free(p);
      continue;
    }
    if (tx_free_.empty() && prepared != 0) {
      // A burst longer than the ring: push out what is queued, and its completions free slots.
      io_uring_submit(&tx_ring_);
      prepared = 0;
      reap_tx();
    }
    if (tx_free_.empty()) break;  // writes still in flight: the caller keeps the rest
    const std::uint32_t slot = tx_free_.back();
    TxSlot& s = tx_slots_[slot];
    const std::size_t iovcnt = gather(*p, s.iov);
    if (iovcnt == 0) {
      ++q_.tx.errors;  // more segments than one write takes
      PacketPool::free(p);
      continue;
    }
    tx_free_.pop_back();
    s.pkt = p;
    s.len = static_cast<std::uint32_t>(len);
    io_uring_sqe* sqe = io_uring_get_sqe(&tx_ring_);  // room: SQ size > tx slots
    io_uring_prep_writev(sqe, q_.fd, s.iov.data(), static_cast<unsigned>(iovcnt), 0);
    io_uring_sqe_set_data64(sqe, slot);
    ++tx_in_flight_;
    ++prepared;
  }
  if (prepared != 0) {
    // One syscall for the whole burst. TAP writes never block, so they complete during the submit
    // and are reaped right away, returning their packets to the pool within this call.
    io_uring_submit(&tx_ring_);
    reap_tx();
  }
  return taken;
}

void TapDevice::Uring::reap_tx() {
  if (tx_in_flight_ == 0) return;
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(&tx_ring_, &cqe) == 0) {
    const auto slot = static_cast<std::uint32_t>(io_uring_cqe_get_data64(cqe));
    const int res = cqe->res;
    io_uring_cqe_seen(&tx_ring_, cqe);
    --tx_in_flight_;
    complete_tx(slot, res);
  }
}

void TapDevice::Uring::complete_tx(std::uint32_t slot, int res) {
  TxSlot& s = tx_slots_[slot];
  QueueStats& st = q_.tx;
  if (res >= 0 && static_cast<std::uint32_t>(res) == s.len) {
    ++st.packets;
    st.bytes += s.len;
  } else if (res == -EIO || res == -EAGAIN || res == -ENOBUFS) {
    ++st.drops;  // interface down or kernel out of room: the device refused the frame
  } else {
    ++st.errors;
  }
  PacketPool::free(s.pkt);
  s.pkt = nullptr;
  tx_free_.push_back(slot);
}

}  // namespace coronet::nic
