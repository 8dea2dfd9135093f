// Internal to nic/tap: the io_uring engine behind TapDevice in IoMode::kUring. Include only from
// tap_device.cc and tap_uring.cc.
#pragma once

#include <liburing.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "coro/result.h"
#include "nic/packet.h"
#include "nic/tap/tap_device.h"

namespace coronet::nic {

// One per queue, over that queue's fd, pool and scratch. Two rings, so that rx_burst() never meets
// a tx completion it cannot hand out and tx_burst() never meets an rx one: the rx ring keeps
// `uring_rx_depth` reads armed on the TAP fd, the tx ring carries the writes of one or more bursts.
class TapDevice::Uring {
 public:
  // The engine of queue `q` of `dev` (both outlive it), its reads armed.
  static Result<std::unique_ptr<Uring>> create(TapDevice& dev, Queue& q);
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  std::size_t rx_burst(std::span<Packet*> out);
  std::size_t tx_burst(std::span<Packet* const> pkts);
  int rx_fd() const { return rx_ring_.ring_fd; }

 private:
  struct RxSlot {
    Packet* pkt = nullptr;  // null while starved, or for the one read that goes to scratch
    std::array<iovec, 2> iov{};
  };
  struct TxSlot {
    Packet* pkt = nullptr;
    std::uint32_t len = 0;
    std::array<iovec, kMaxTxSegments> iov{};
  };

  Uring(TapDevice& dev, Queue& q) : dev_(dev), q_(q) {}
  Result<void> init();
  // Prepares (does not submit) a read for `slot`, allocating its packet if it has none. With the
  // pool empty, one slot reads into scratch (so the kernel queue keeps moving, frames counted as
  // drops) and the others starve, unarmed, until the pool has packets again.
  void arm_rx(std::uint32_t slot);
  // Once the pool has packets again: re-arms starved slots and cancels the scratch read, so that no
  // frame is dropped after the shortage ends.
  void recover_from_starvation();
  // Submits prepared SQEs; with get_events also runs the kernel's pending completion work.
  void submit_rx(bool get_events);
  // Reads the kernel holds: outstanding minus those still queued in the SQ (a queued cancel makes
  // this an underestimate by one, which only means an early submit).
  std::uint32_t rx_armed() const {
    const std::uint32_t queued = io_uring_sq_ready(&rx_ring_);
    return queued >= rx_outstanding_ ? 0 : rx_outstanding_ - queued;
  }
  // Takes read completions while `budget` lasts, delivering frames into out[n...] and re-arming.
  void harvest_rx(std::span<Packet*> out, std::size_t& n, std::size_t& budget);
  void complete_rx(std::uint32_t slot, int res, std::span<Packet*> out, std::size_t& n);
  void reap_tx();
  void complete_tx(std::uint32_t slot, int res);
  // Shutdown: cancels whatever is in flight on `ring` and waits (bounded) for it to finish.
  bool drain(io_uring& ring, std::uint32_t in_flight, bool is_rx);

  TapDevice& dev_;  // configuration (depths, max frame, name) only: read by every queue
  Queue& q_;        // the fd, pool, scratch and counters of this queue
  io_uring rx_ring_{};
  io_uring tx_ring_{};
  bool rx_ring_ok_ = false;
  bool tx_ring_ok_ = false;
  std::vector<RxSlot> rx_slots_;
  std::uint32_t rx_outstanding_ = 0;       // reads prepared or submitted, not yet completed
  std::vector<std::uint32_t> rx_starved_;  // slots with no packet and no read
  static constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};
  std::uint32_t scratch_slot_ = kNoSlot;  // the slot whose read goes to scratch, if any
  bool scratch_cancel_pending_ = false;
  std::vector<TxSlot> tx_slots_;
  std::vector<std::uint32_t> tx_free_;
  std::uint32_t tx_in_flight_ = 0;
};

}  // namespace coronet::nic
