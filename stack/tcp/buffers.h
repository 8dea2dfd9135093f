// Per-connection byte buffers, allocated once when the connection is created, never per packet.
//  - SendBuffer: bytes the user wrote and the peer has not acknowledged yet (sent or not).
//  - RecvBuffer: the receive window itself. In-order bytes wait for the user; out-of-order bytes
//    are written straight to their place in the window and tracked as ranges, so reassembly needs
//    no extra memory beyond the window (RFC 9293 §3.10.7.4: keep out-of-order data in-window).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "stack/tcp/seq.h"

namespace coronet::stack::tcp {

// A fixed-capacity circular byte store with copy-in/copy-out at offsets.
class ByteRing {
 public:
  explicit ByteRing(std::size_t capacity);
  std::size_t capacity() const { return cap_; }
  // Copies `in` to logical position `pos` (modulo capacity), wrapping.
  void write_at(std::size_t pos, std::span<const std::byte> in);
  // Copies out.size() bytes from logical position `pos`, wrapping.
  void read_at(std::size_t pos, std::span<std::byte> out) const;

 private:
  std::size_t cap_;
  std::unique_ptr<std::byte[]> data_;
};

class SendBuffer {
 public:
  explicit SendBuffer(std::size_t capacity) : ring_(capacity) {}
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return ring_.capacity(); }
  std::size_t free_space() const { return ring_.capacity() - size_; }
  // Appends as much of `in` as fits; returns the count.
  std::size_t push(std::span<const std::byte> in);
  // Copies bytes [offset, offset + out.size()) counted from the oldest byte. Precondition:
  // offset + out.size() <= size().
  void copy(std::size_t offset, std::span<std::byte> out) const { ring_.read_at(head_ + offset, out); }
  // Drops the `n` oldest bytes (acknowledged).
  void consume(std::size_t n);

 private:
  ByteRing ring_;
  std::size_t head_ = 0;  // logical position of the oldest byte
  std::size_t size_ = 0;
};

class RecvBuffer {
 public:
  static constexpr std::size_t kMaxRanges = 16;  // out-of-order islands tracked at once

  explicit RecvBuffer(std::size_t capacity) : ring_(capacity) {}
  void reset(SeqNum next) {
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

  enum class Insert { kInOrder, kOutOfOrder, kDuplicate, kNoRoom };
  // Stores segment data that starts at `seq` (already trimmed to the window by the caller; any
  // part outside [next(), next() + window()) is ignored). In-order data advances next() and
  // absorbs any out-of-order islands it reaches.
  Insert insert(SeqNum seq, std::span<const std::byte> data);
  // Copies up to out.size() in-order bytes to the user; returns the count.
  std::size_t read(std::span<std::byte> out);
  // Advances past `n` in-order bytes that went straight to a waiting reader's buffer instead of
  // through the ring. Precondition: nothing buffered (readable() == 0, no out-of-order ranges).
  void skip_delivered(std::size_t n) {
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

  ByteRing ring_;
  SeqNum base_;          // sequence number of the oldest unread byte
  std::size_t head_ = 0;  // ring position of base_
  std::size_t ready_ = 0;
  std::array<Range, kMaxRanges> ranges_{};
  std::size_t nranges_ = 0;
};

}  // namespace coronet::stack::tcp
