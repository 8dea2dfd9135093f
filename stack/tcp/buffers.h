// Per-connection byte buffers; nothing is allocated per packet.
//  - SendBuffer: bytes the user wrote and the peer has not acknowledged yet (sent or not), in
//    pool chunks that segments show as views (one copy on the send side: user -> chunk).
//  - RecvBuffer: the receive window itself. In-order bytes wait for the user; out-of-order bytes
//    are written straight to their place in the window and tracked as ranges, so reassembly needs
//    no extra memory beyond the window (RFC 9293 §3.10.7.4: keep out-of-order data in-window).
//    In-order segments may instead be held as the packets they arrived in (one copy on the
//    receive side: packet -> user), still counted against the window.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "nic/packet_pool.h"
#include "stack/tcp/seq.h"

namespace coronet::stack::tcp {

// Bytes of receive rings allocated on one core, against a cap (the per-core receive memory
// bound). Rings are allocated on first use, so a connection whose data always goes straight to
// a waiting reader, or stays in held packets, costs nothing here.
struct MemoryBudget {
  std::size_t limit = ~std::size_t{0};
  std::size_t used = 0;
  std::uint64_t refusals = 0;  // allocations refused at the cap
};

// A fixed-capacity circular byte store with copy-in/copy-out at offsets. The bytes are
// allocated on the first write (charged to a budget when one is given).
class ByteRing {
 public:
  explicit ByteRing(std::size_t capacity, MemoryBudget* budget = nullptr)
      : cap_(capacity), budget_(budget) {}
  ~ByteRing();
  ByteRing(const ByteRing&) = delete;
  ByteRing& operator=(const ByteRing&) = delete;
  std::size_t capacity() const { return cap_; }
  bool allocated() const { return data_ != nullptr; }
  // Allocates the bytes if not yet done; false when the budget refuses.
  bool ensure();
  // Frees the bytes (back to the budget); the next write allocates them again.
  void release();
  // Copies `in` to logical position `pos` (modulo capacity), wrapping. Precondition: ensure().
  void write_at(std::size_t pos, std::span<const std::byte> in);
  // Copies out.size() bytes from logical position `pos`, wrapping. Precondition: allocated.
  void read_at(std::size_t pos, std::span<std::byte> out) const;

 private:
  std::size_t cap_;
  MemoryBudget* budget_;
  std::unique_ptr<std::byte[]> data_;
};

// The bytes the user wrote, in fixed-size chunks taken from a per-core pool as they are needed
// and returned once acknowledged, so an idle connection holds no send memory and the pool caps
// the core's total. Segments go out as views of the chunks (zero copy), and a chunk the device
// still holds outlives its acknowledgement through the view's reference.
class SendBuffer {
 public:
  SendBuffer(std::size_t capacity, nic::PacketPool& chunks);
  ~SendBuffer();
  SendBuffer(const SendBuffer&) = delete;
  SendBuffer& operator=(const SendBuffer&) = delete;

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return cap_; }
  std::size_t free_space() const { return cap_ - size_; }
  // Appends as much of `in` as fits (the capacity, and the chunks the pool can give); returns the
  // count. A short count with free_space() left means the pool ran dry: see starved().
  std::size_t push(std::span<const std::byte> in);
  bool starved() const { return starved_; }
  // Copies bytes [offset, offset + out.size()) counted from the oldest byte. Precondition:
  // offset + out.size() <= size().
  void copy(std::size_t offset, std::span<std::byte> out) const;
  // The same bytes as a chain of views (one per chunk touched), or null when the pool has no view
  // descriptors left (nothing leaked). Same precondition as copy().
  nic::Packet* views(std::size_t offset, std::size_t length);
  // Drops the `n` oldest bytes (acknowledged); chunks wholly behind them go back to the pool.
  void consume(std::size_t n);
  std::size_t chunks_held() const { return count_; }

 private:
  nic::Packet*& slot(std::size_t k) const { return ring_[(first_ + k) % slots_]; }

  nic::PacketPool& pool_;
  std::size_t cap_;
  std::size_t chunk_;  // data bytes per chunk; every chunk but the last is full
  std::size_t slots_;
  std::unique_ptr<nic::Packet*[]> ring_;
  std::size_t first_ = 0;
  std::size_t count_ = 0;
  std::size_t head_off_ = 0;  // bytes of the first chunk already consumed
  std::size_t size_ = 0;
  bool starved_ = false;
};

class RecvBuffer {
 public:
  static constexpr std::size_t kMaxRanges = 16;  // out-of-order islands tracked at once

  static constexpr std::size_t kMaxHeld = 64;  // packets held at once

  explicit RecvBuffer(std::size_t capacity, MemoryBudget* budget = nullptr)
      : ring_(capacity, budget) {}
  ~RecvBuffer() { drop_held(); }
  RecvBuffer(const RecvBuffer&) = delete;
  RecvBuffer& operator=(const RecvBuffer&) = delete;
  void reset(SeqNum next) {
    drop_held();
    base_ = next;
    ready_ = 0;
    nranges_ = 0;
  }

  // The next in-order sequence number expected (RCV.NXT).
  SeqNum next() const { return base_ + static_cast<std::uint32_t>(ready_); }
  // In-order bytes the user can read.
  std::size_t readable() const { return ready_; }
  // Free space from RCV.NXT to the end of the buffer: the window we can offer.
  std::size_t window() const { return ring_.capacity() - ready_; }
  std::size_t capacity() const { return ring_.capacity(); }
  bool has_out_of_order() const { return nranges_ > 0; }
  // The out-of-order islands as sequence ranges [first, second), lowest first.
  std::size_t ooo_ranges() const { return nranges_; }
  std::pair<SeqNum, SeqNum> ooo_range(std::size_t i) const {
    return {base_ + static_cast<std::uint32_t>(ranges_[i].begin),
            base_ + static_cast<std::uint32_t>(ranges_[i].end)};
  }

  // kNoMemory: the core's receive memory is exhausted and this connection has no ring yet: the
  // data is dropped (the sender will resend it).
  enum class Insert { kInOrder, kOutOfOrder, kDuplicate, kNoRoom, kNoMemory };
  // Stores segment data that starts at `seq` (already trimmed to the window by the caller; any
  // part outside [next(), next() + window()) is ignored). In-order data advances next() and
  // absorbs any out-of-order islands it reaches.
  Insert insert(SeqNum seq, std::span<const std::byte> data);
  // Whether hold() would take `n` bytes at `seq`: in order, every readable byte itself held (held
  // bytes stay a prefix of the window), the data fits the window, fewer than kMaxHeld held.
  bool can_hold(SeqNum seq, std::size_t n) const {
    return n > 0 && seq == next() && ready_ == held_bytes_ && n <= window() &&
           held_count_ < kMaxHeld;
  }
  // Takes in-order segment data without copying it: `p` (one segment, its bytes() exactly the
  // data, starting at `seq`) joins the readable bytes and is freed once read. Precondition:
  // can_hold(seq, p->size()).
  void hold(SeqNum seq, nic::Packet* p);
  std::size_t held_packets() const { return held_count_; }
  // Gives the ring's memory back to the core's budget when nothing is buffered (a connection
  // that can receive no more data, e.g. in TIME-WAIT, must not pin it for 2*MSL).
  void release_if_empty() {
    if (ready_ == 0 && nranges_ == 0 && held_count_ == 0) ring_.release();
  }
  bool ring_allocated() const { return ring_.allocated(); }
  // Copies up to out.size() in-order bytes to the user (held packets first, then the ring);
  // returns the count.
  std::size_t read(std::span<std::byte> out);
  // Advances past `n` in-order bytes that went straight to a waiting reader's buffer instead of
  // through the ring. Precondition: nothing buffered (readable() == 0, no out-of-order ranges).
  void skip_delivered(std::size_t n) {  // (nothing held then, either)
    base_ += static_cast<std::uint32_t>(n);
    head_ = (head_ + n) % ring_.capacity();
  }

 private:
  struct Range {
    std::size_t begin;  // offsets from base_
    std::size_t end;
  };
  bool add_range(std::size_t begin, std::size_t end);
  void absorb_ranges();
  void advance(std::size_t n);  // n readable bytes left for the user
  void drop_held();

  ByteRing ring_;
  SeqNum base_;          // sequence number of the oldest unread byte
  std::size_t head_ = 0;  // ring position of base_
  std::size_t ready_ = 0;
  std::array<Range, kMaxRanges> ranges_{};
  std::size_t nranges_ = 0;
  // Held packets: the first held_bytes_ readable bytes, oldest first (linked through next()).
  // Their place in the ring is skipped, not filled.
  nic::Packet* held_head_ = nullptr;
  nic::Packet* held_tail_ = nullptr;
  std::size_t held_count_ = 0;
  std::size_t held_bytes_ = 0;
  std::size_t held_off_ = 0;  // bytes of held_head_ already read
};

}  // namespace coronet::stack::tcp
