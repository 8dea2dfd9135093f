// CaptureDevice: a Device decorator that records traffic to a PcapWriter, like tcpdump on an
// interface. Wrap any backend (wire, TAP, DPDK, an impairment layer) and hand the decorator to
// whoever would have used the inner device; everything not about capture is forwarded.
//
//   rx: every packet rx_burst() returned, after the inner call, stamped inbound.
//   tx: exactly the packets the inner tx_burst() accepted, stamped outbound. They are recorded
//       *before* the inner call (once handed over, a packet may already be freed, reused or on
//       another core), and the records of the packets the inner device refused are taken back.
//       To keep that roll-back possible, a burst is handed to the inner device in slices of at
//       most kMaxTxSlice packets whose records fit in the writer's buffer; for bursts within
//       those bounds the inner device sees the very same call.
//
// Timestamps come from the injected clock, read once per burst (a burst is one instant to the
// reactor, too). Capture never slows or stops traffic: when the writer has failed, packets still
// flow and are counted in CaptureStats::not_captured.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "coro/clock.h"
#include "nic/device.h"
#include "nic/pcap/pcap_writer.h"

namespace coronet::nic {

enum class CaptureFilter : std::uint8_t {
  kRx = 1,
  kTx = 2,
  kBoth = 3,
};

struct CaptureOptions {
  CaptureFilter filter = CaptureFilter::kBoth;
};

struct CaptureStats {
  std::uint64_t rx_captured = 0;   // inbound records written
  std::uint64_t tx_captured = 0;   // outbound records written
  std::uint64_t not_captured = 0;  // packets that matched the filter but the writer refused
};

class CaptureDevice final : public Device {
 public:
  // Largest tx slice handed to the inner device in one call (see above). Typical bursts are 32.
  static constexpr std::size_t kMaxTxSlice = 64;

  // `inner`, `writer` and `clock` must outlive the decorator. One writer may serve several
  // decorators on the same core.
  CaptureDevice(Device& inner, PcapWriter& writer, coro::Clock& clock, CaptureOptions options = {});

  const DeviceInfo& info() const override { return inner_.info(); }
  LinkState link() const override { return inner_.link(); }
  std::size_t rx_burst(std::uint16_t queue, std::span<Packet*> out) override;
  std::size_t tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) override;
  QueueStats rx_stats(std::uint16_t queue) const override { return inner_.rx_stats(queue); }
  QueueStats tx_stats(std::uint16_t queue) const override { return inner_.tx_stats(queue); }
  PacketPool& pool(std::uint16_t queue) override { return inner_.pool(queue); }
  std::optional<coro::TimePoint> next_rx_time(std::uint16_t queue) const override {
    return inner_.next_rx_time(queue);
  }
  int rx_fd(std::uint16_t queue) const override { return inner_.rx_fd(queue); }

  Device& inner() { return inner_; }
  PcapWriter& writer() { return writer_; }
  const CaptureStats& capture_stats() const { return stats_; }

 private:
  bool captures(CaptureFilter f) const {
    return (static_cast<unsigned>(options_.filter) & static_cast<unsigned>(f)) != 0;
  }
  // Hands pkts[0..k) to the inner device after staging their records; returns how many it took.
  std::size_t tx_slice(std::uint16_t queue, std::span<Packet* const> slice, coro::TimePoint ts);

  Device& inner_;
  PcapWriter& writer_;
  coro::Clock& clock_;
  CaptureOptions options_;
  CaptureStats stats_;
};

}  // namespace coronet::nic
