#include "coronet/stats.h"

#include <fmt/format.h>

#include <bit>
#include <stdexcept>
#include <type_traits>

namespace coronet {
namespace {

static_assert(std::is_trivially_copyable_v<CoreStats>);
static_assert(sizeof(CoreStats) == CoreStats::kFields * sizeof(std::uint64_t),
              "CoreStats holds only std::uint64_t fields; update kFields");

using Raw = std::array<std::uint64_t, CoreStats::kFields>;

Raw to_raw(const CoreStats& s) { return std::bit_cast<Raw>(s); }
CoreStats from_raw(const Raw& r) { return std::bit_cast<CoreStats>(r); }

// Names and help for the Prometheus exposition, in field order.
struct FieldInfo {
  const char* name;
  const char* type;  // "counter" or "gauge"
  const char* help;
};
constexpr std::array<FieldInfo, CoreStats::kFields> kInfo = {{
    {"tcp_connections_opened_total", "counter", "Connections that reached ESTABLISHED."},
    {"tcp_connections_reset_total", "counter", "Connections ended by a reset."},
    {"tcp_connections_timed_out_total", "counter", "Connections ended by a timeout."},
    {"tcp_connections", "gauge", "Connections held, TIME-WAIT included."},
    {"tcp_time_wait", "gauge", "Connections in TIME-WAIT."},
    {"tcp_rx_segments_total", "counter", "TCP segments received."},
    {"tcp_tx_segments_total", "counter", "TCP segments sent."},
    {"tcp_retransmits_total", "counter", "Segments retransmitted."},
    {"tcp_rto_expiries_total", "counter", "Retransmission timeouts."},
    {"tcp_rx_no_connection_total", "counter", "Segments for no connection (answered with RST)."},
    {"tcp_syn_cookies_sent_total", "counter", "SYN cookies sent (SYN queue full)."},
    {"tcp_syn_cookies_accepted_total", "counter", "ACKs with a valid SYN cookie (connections)."},
    {"tcp_syn_dropped_backlog_total", "counter", "SYNs dropped: accept queue full."},
    {"tcp_rx_memory_drops_total", "counter", "Segments dropped at the receive memory cap."},
    {"rx_frames_total", "counter", "Frames received."},
    {"tx_frames_total", "counter", "Frames sent."},
    {"rx_device_drops_total", "counter", "Frames the device queue dropped (no buffer)."},
    {"tx_device_full_total", "counter", "Frames the device refused."},
    {"pool_in_use", "gauge", "Packet buffers in use."},
    {"pool_capacity", "gauge", "Packet buffers in the pool."},
}};

}  // namespace

CoreStats& CoreStats::operator+=(const CoreStats& o) {
  Raw a = to_raw(*this);
  const Raw b = to_raw(o);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  *this = from_raw(a);
  return *this;
}

StatsBoard::StatsBoard(unsigned cores) : cores_(cores), slots_(std::make_unique<Slot[]>(cores)) {
  if (cores == 0) throw std::invalid_argument("StatsBoard: zero cores");
}

void StatsBoard::publish(unsigned core, const CoreStats& s) {
  if (core >= cores_) return;
  Slot& slot = slots_[core];
  const Raw r = to_raw(s);
  // Sequence lock, writer side: odd while writing. Each value is a release store, so a reader
  // that sees a new value also sees the odd mark made before it and retries. (No standalone
  // fences: ThreadSanitizer does not model them.)
  const std::uint32_t seq = slot.seq.load(std::memory_order_relaxed);
  slot.seq.store(seq + 1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < r.size(); ++i) slot.values[i].store(r[i], std::memory_order_release);
  slot.seq.store(seq + 2, std::memory_order_release);
}

CoreStats StatsBoard::read(unsigned core) const {
  if (core >= cores_) return {};
  const Slot& slot = slots_[core];
  Raw r;
  for (;;) {
    const std::uint32_t before = slot.seq.load(std::memory_order_acquire);
    if ((before & 1) != 0) continue;  // the owner is writing: a few stores, retry
    // Acquire loads: the second look at the sequence cannot move before them.
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = slot.values[i].load(std::memory_order_acquire);
    if (slot.seq.load(std::memory_order_relaxed) == before) break;
  }
  return from_raw(r);
}

CoreStats StatsBoard::total() const {
  CoreStats t;
  for (unsigned c = 0; c < cores_; ++c) t += read(c);
  return t;
}

std::string StatsBoard::prometheus(const std::string& prefix) const {
  std::vector<Raw> per_core;
  for (unsigned c = 0; c < cores_; ++c) per_core.push_back(to_raw(read(c)));
  std::string out;
  for (std::size_t f = 0; f < CoreStats::kFields; ++f) {
    const std::string name = prefix + "_" + kInfo[f].name;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, kInfo[f].help, name, kInfo[f].type);
    for (unsigned c = 0; c < cores_; ++c) {
      out += fmt::format("{}{{core=\"{}\"}} {}\n", name, c, per_core[c][f]);
    }
  }
  return out;
}

}  // namespace coronet
