// ImpairedDevice: a Device decorator that impairs what another Device (wire, TAP, DPDK) sends
// and/or receives, with one Impairer (see impairment.h) per queue and direction.
//
//   tx: frames given to tx_burst() are all taken and go into the queue's tx Impairer; frames due
//       are passed on to the wrapped device. Frames the wrapped device refuses (its ring is full)
//       wait in a small per-queue backlog and are retried first on the next call.
//   rx: each rx_burst() pulls a burst from the wrapped device into the queue's rx Impairer and
//       returns the frames that are due, stamped with their (impaired) arrival time.
// Delayed frames only move when someone calls: every rx_burst()/tx_burst() on a queue releases
// that queue's due tx frames, flush_tx() does it explicitly, and next_rx_time() reports the
// earliest time either direction has something due, so a reactor on virtual time can jump there.
//
// A direction whose config is not active() passes straight through (no queue, no copies).
// Queue q's decisions use derive_seed(config.seed, q). Single-threaded per queue, like the
// device underneath; the wrapped device must outlive this one.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "coro/clock.h"
#include "nic/device.h"
#include "nic/impair/impairment.h"

namespace coronet::nic {

class ImpairedDevice final : public Device {
 public:
  ImpairedDevice(Device& inner, coro::Clock& clock, const ImpairmentConfig& tx,
                 const ImpairmentConfig& rx);
  ~ImpairedDevice() override;  // frees frames still delayed or waiting in a backlog

  const DeviceInfo& info() const override { return inner_.info(); }
  LinkState link() const override { return inner_.link(); }
  std::size_t rx_burst(std::uint16_t queue, std::span<Packet*> out) override;
  // Always takes every packet (impaired frames are dropped and counted, never refused).
  std::size_t tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) override;
  // The wrapped device's counters: what really crossed it.
  QueueStats rx_stats(std::uint16_t queue) const override { return inner_.rx_stats(queue); }
  QueueStats tx_stats(std::uint16_t queue) const override { return inner_.tx_stats(queue); }
  PacketPool& pool(std::uint16_t queue) override { return inner_.pool(queue); }
  // The earliest of: the wrapped device's next_rx_time, the next due rx frame, the next due tx
  // frame (which needs a call to move on) and "now" while a tx backlog waits.
  std::optional<coro::TimePoint> next_rx_time(std::uint16_t queue) const override;
  int rx_fd(std::uint16_t queue) const override { return inner_.rx_fd(queue); }

  // Passes due tx frames of every queue to the wrapped device; returns how many it accepted.
  std::size_t flush_tx();

  // Impairment counters per queue; all zero for a pass-through direction or a missing queue.
  ImpairmentStats tx_impairment(std::uint16_t queue) const;
  ImpairmentStats rx_impairment(std::uint16_t queue) const;

  Device& inner() { return inner_; }

 private:
  struct TxQueue {
    std::unique_ptr<Impairer> impairer;  // null: pass-through
    std::vector<Packet*> backlog;        // due but refused by the wrapped device
  };
  std::size_t drain_tx(std::uint16_t queue, coro::TimePoint now);

  Device& inner_;
  coro::Clock& clock_;
  std::vector<TxQueue> tx_;
  std::vector<std::unique_ptr<Impairer>> rx_;  // null entries: pass-through
};

}  // namespace coronet::nic
