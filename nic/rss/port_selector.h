// Local port choice for active opens under RSS: a core that opens a connection must receive the
// replies itself (its engine owns the TCB), and the NIC steers them by the hash of the *reply*
// tuple (remote -> local). The only free field in that tuple is the local port, so the connecting
// core picks one whose reply hash lands, through the RETA, on its own queue (mTCP does the same).
//
// How it stays fast. The hash is linear over XOR, so
//   hash(remote, local, rport, lport) = hash(remote, local, rport, 0) ^ part(lport)
// and part() splits over the port's bits: part(block << 9 | low) = part(block << 9) ^ part(low).
// Only the low bits of the hash index the RETA, so the construction sorts the 512 values of `low`
// by the RETA index their part() produces. A query then hashes the tuple once (port 0), and for
// each 512-port block of the range adds that block's part (two table loads) and reads off, without
// trial, every port of the block whose reply lands on the queue: for each RETA entry that names the
// queue, the lows whose part hits that entry. So a query costs at most 1 + 128 hash evaluations
// (one per 512-port block; 56 for Linux's default range) however many ports are in use, and every
// candidate handed to `is_free` is a hit. When no candidate in the range is free the answer is
// nullopt, and that answer is exact: every port of the range that maps to the queue was offered.
//
// With a symmetric key (kSymmetricKey) both directions of a flow hash alike, so the port chosen
// for the replies also puts the outgoing SYN's own hash on this queue.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"

namespace coronet::nic::rss {

// Inclusive; the default is Linux's net.ipv4.ip_local_port_range.
struct PortRange {
  std::uint16_t first = 32768;
  std::uint16_t last = 60999;
};

// One connect(). Addresses and ports in host order.
struct ActiveOpen {
  std::uint32_t local_addr = 0;
  std::uint32_t remote_addr = 0;
  std::uint16_t remote_port = 0;
  std::uint16_t queue = 0;  // this core's rx queue: where the replies must arrive
  PortRange range;
  // Where the search starts (which block, which RETA entry first): pass a per-core counter or a
  // random number so that successive connects spread over the range instead of crowding its start.
  std::uint32_t hint = 0;
};

class PortSelector {
 public:
  static constexpr unsigned kBlockBits = 9;  // ports per block: 512, so the RETA mask fits a block
  static constexpr std::uint32_t kBlockSize = 1u << kBlockBits;
  static_assert(Reta::kMaxSize <= kBlockSize);

  // Keeps a reference to `hash` (which must outlive the selector) and a digest of `reta`. Build one
  // per core; construction is a few thousand operations, selection allocates nothing.
  PortSelector(const Toeplitz& hash, const Reta& reta);

  // The RSS hash of the replies of a connection from local_addr:local_port.
  std::uint32_t reply_hash(const ActiveOpen& open, std::uint16_t local_port) const {
    return hash_->hash({open.remote_addr, open.local_addr, open.remote_port, local_port});
  }

  // A local port in open.range whose replies reach open.queue and for which is_free(port) returned
  // true; `is_free` is asked only about such ports, each at most once, and should say whether the
  // 4-tuple is unused on this core. nullopt when none is (or the queue has no RETA entry, the queue
  // does not exist, or the range is empty).
  template <class IsFree>
  std::optional<std::uint16_t> select(const ActiveOpen& open, IsFree&& is_free) const;

  // The same with every port free.
  std::optional<std::uint16_t> select(const ActiveOpen& open) const {
    return select(open, [](std::uint16_t) { return true; });
  }

 private:
  const Toeplitz* hash_;
  std::uint32_t mask_;
  std::uint16_t num_queues_;
  // RETA indices grouped by the queue they name: queue q owns
  // entries_by_queue_[queue_start_[q] .. queue_start_[q + 1]).
  std::array<std::uint16_t, Reta::kMaxSize> entries_by_queue_{};
  std::array<std::uint16_t, Reta::kMaxSize + 1> queue_start_{};
  // The 512 low port values grouped by (part(low) & mask_): index i owns
  // lows_by_index_[index_start_[i] .. index_start_[i + 1]).
  std::array<std::uint16_t, kBlockSize> lows_by_index_{};
  std::array<std::uint16_t, Reta::kMaxSize + 1> index_start_{};
};

template <class IsFree>
std::optional<std::uint16_t> PortSelector::select(const ActiveOpen& open, IsFree&& is_free) const {
  const PortRange r = open.range;
  if (open.queue >= num_queues_ || r.first > r.last) return std::nullopt;
  const std::uint32_t first_entry = queue_start_[open.queue];
  const std::uint32_t entries = queue_start_[open.queue + 1u] - first_entry;
  if (entries == 0) return std::nullopt;

  const std::uint32_t base = reply_hash(open, 0);
  const std::uint32_t first_block = r.first >> kBlockBits;
  const std::uint32_t last_block = r.last >> kBlockBits;
  const std::uint32_t blocks = last_block - first_block + 1;
  // The hint picks the first candidate: a block and a RETA entry. It starts only in blocks wholly
  // inside the range, where every candidate is a port of the range, so consecutive hints name
  // distinct ports (a candidate outside the range would fall through to the next entry, which is
  // another hint's first choice: a port reused a few connects later, while the peer may still
  // hold its 4-tuple in TIME-WAIT). Partial blocks are still searched when the others are full.
  const std::uint32_t full_first = first_block + ((r.first & (kBlockSize - 1)) != 0 ? 1 : 0);
  const std::uint32_t full_end = last_block + ((r.last & (kBlockSize - 1)) == kBlockSize - 1 ? 1 : 0);
  const std::uint32_t full = full_end > full_first ? full_end - full_first : 0;
  const std::uint32_t start_block =
      full > 0 ? full_first - first_block + open.hint % full : open.hint % blocks;
  const std::uint32_t start_entry = (open.hint / (full > 0 ? full : blocks)) % entries;

  for (std::uint32_t b = 0; b < blocks; ++b) {
    const std::uint32_t block_base = (first_block + (start_block + b) % blocks) << kBlockBits;
    // The RETA index of port block_base | low is (block_index ^ part(low)) & mask_.
    const std::uint32_t block_index =
        (base ^ hash_->port_part(10, static_cast<std::uint16_t>(block_base))) & mask_;
    for (std::uint32_t e = 0; e < entries; ++e) {
      const std::uint32_t want = entries_by_queue_[first_entry + (start_entry + e) % entries];
      const std::uint32_t bucket = want ^ block_index;
      for (std::uint32_t i = index_start_[bucket]; i < index_start_[bucket + 1]; ++i) {
        const std::uint32_t port = block_base | lows_by_index_[i];
        if (port < r.first || port > r.last) continue;
        if (is_free(static_cast<std::uint16_t>(port))) return static_cast<std::uint16_t>(port);
      }
    }
  }
  return std::nullopt;
}

}  // namespace coronet::nic::rss
