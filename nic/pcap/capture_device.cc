#include "nic/pcap/capture_device.h"

#include <algorithm>
#include <array>

namespace coronet::nic {

CaptureDevice::CaptureDevice(Device& inner, PcapWriter& writer, coro::Clock& clock,
                             CaptureOptions options)
    : inner_(inner), writer_(writer), clock_(clock), options_(options) {}

std::size_t CaptureDevice::rx_burst(std::uint16_t queue, std::span<Packet*> out) {
  const std::size_t n = inner_.rx_burst(queue, out);
  if (n == 0 || !captures(CaptureFilter::kRx)) return n;
  const coro::TimePoint ts = clock_.now();
  for (std::size_t i = 0; i < n; ++i) {
    // Checked first so that a failed writer costs nothing per packet (its error is not copied).
    if (!writer_.ok()) {
      stats_.not_captured += n - i;
      break;
    }
    if (writer_.write(*out[i], ts, PacketDirection::kInbound)) {
      ++stats_.rx_captured;
    } else {
      ++stats_.not_captured;
    }
  }
  return n;
}

std::size_t CaptureDevice::tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) {
  if (!captures(CaptureFilter::kTx) || pkts.empty()) return inner_.tx_burst(queue, pkts);
  const coro::TimePoint ts = clock_.now();
  std::size_t done = 0;
  while (done < pkts.size()) {
    if (!writer_.ok()) {
      const std::size_t n = inner_.tx_burst(queue, pkts.subspan(done));
      stats_.not_captured += n;
      return done + n;
    }
    // The longest prefix (up to kMaxTxSlice) whose records fit in the buffer together, so that
    // none of them is flushed before we know whether the inner device took it. One record
    // always fits: the writer sizes its buffer for that.
    std::size_t bytes = 0;
    std::size_t k = 0;
    const std::size_t limit = std::min(kMaxTxSlice, pkts.size() - done);
    while (k < limit) {
      std::size_t rec =
          writer_.record_size(pkts[done + k]->chain_size(), PacketDirection::kOutbound);
      if (k > 0 && bytes + rec > writer_.capacity()) break;
      bytes += rec;
      ++k;
    }
    if (!writer_.reserve(bytes)) continue;  // the writer just failed: the branch above sends
    const std::size_t n = tx_slice(queue, pkts.subspan(done, k), ts);
    done += n;
    if (n < k) break;  // the device is full; the caller keeps the rest
  }
  return done;
}

std::size_t CaptureDevice::tx_slice(std::uint16_t queue, std::span<Packet* const> slice,
                                    coro::TimePoint ts) {
  // marks[i]: the writer's state before record i, so any tail can be taken back.
  std::array<PcapWriter::Mark, kMaxTxSlice + 1> marks;
  std::size_t staged = 0;
  marks[0] = writer_.mark();
  while (staged < slice.size()) {
    // Cannot fail after reserve() (no flush is needed); if it ever does, the rest goes out
    // unrecorded and is counted below.
    if (!writer_.write(*slice[staged], ts, PacketDirection::kOutbound)) break;
    marks[++staged] = writer_.mark();
  }
  const std::size_t n = inner_.tx_burst(queue, slice);
  const std::size_t kept = std::min(n, staged);
  writer_.rollback(marks[kept]);
  stats_.tx_captured += kept;
  stats_.not_captured += n - kept;
  return n;
}

}  // namespace coronet::nic
