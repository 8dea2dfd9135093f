// Internal to ShmWire: a single-producer/single-consumer ring of fixed-size frame slots that lives
// in a shared memory region and may be mapped at different addresses (threads, a forked child, or
// another process that mapped the same memfd). Hence nothing in the region is a pointer: the
// shared part is two indices, a length array and the slots, located by offsets from the region
// base. Each side keeps its private cursor and its cached copy of the other side's index in its
// own process-local object, so the shared lines are touched once per burst, not once per frame.
//
// Ordering (after coro/spsc_ring.h): the producer writes slots and lengths, then publishes the
// tail with a release store; the consumer's acquire load of the tail makes them visible. The
// consumer frees slots with a release store of the head after reading them; the producer's
// acquire load of the head orders those reads before it overwrites the slots.
//
// std::atomic<std::uint64_t> is lock-free on our targets, and lock-free atomics are address-free,
// so they work between processes sharing the mapping.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace coronet::nic::internal {

inline constexpr std::size_t kCacheLine = 64;
// Payload bytes per slot: any Ethernet frame of a 2048-byte buffer.
inline constexpr std::uint32_t kShmSlotBytes = 2048;
// Slot stride: 2048 + one cache line. A stride of exactly 2 KiB would put every slot start in the
// same two sets of a 4 KiB-way L1 cache, so a burst of 32 frames would evict itself.
inline constexpr std::size_t kShmSlotStride = kShmSlotBytes + kCacheLine;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "ShmWire needs lock-free atomics");

// Spacing of the two shared indices: two lines, because x86 L2 prefetchers fetch lines in
// adjacent pairs, which would make neighbouring lines false-share after all.
inline constexpr std::size_t kIndexSpacing = 2 * kCacheLine;

// The shared indices of one ring, each alone on its (pair of) cache lines.
struct ShmRingIndices {
  alignas(kIndexSpacing) std::atomic<std::uint64_t> tail;  // frames published (producer writes)
  alignas(kIndexSpacing) std::atomic<std::uint64_t> head;  // frames consumed (consumer writes)
};

// Where one ring's pieces sit inside the mapping (offsets from its base, identical everywhere).
struct ShmRingLayout {
  std::size_t indices;  // ShmRingIndices
  std::size_t lengths;  // std::uint32_t[slots]: lengths apart from the data, 16 per cache line
  std::size_t slots;    // slots * kShmSlotStride bytes, cache-line aligned
};

// Process-local view used by the producing side.
class ShmRingProducer {
 public:
  ShmRingProducer() = default;
  ShmRingProducer(std::byte* base, const ShmRingLayout& layout, std::uint32_t slots)
      : idx_(reinterpret_cast<ShmRingIndices*>(base + layout.indices)),
        lengths_(reinterpret_cast<std::uint32_t*>(base + layout.lengths)),
        slots_(base + layout.slots),
        mask_(slots - 1),
        slot_count_(slots) {
    tail_ = idx_->tail.load(std::memory_order_relaxed);
    cached_head_ = idx_->head.load(std::memory_order_acquire);
  }

  // Free slots, at least `want` if that many exist; reloads the consumer's head only when the
  // cached copy says there are fewer than `want`.
  std::uint32_t reserve(std::uint32_t want) {
    std::uint64_t free = slot_count_ - (tail_ - cached_head_);
    if (free < want) {
      cached_head_ = idx_->head.load(std::memory_order_acquire);
      free = slot_count_ - (tail_ - cached_head_);
    }
    return static_cast<std::uint32_t>(free);
  }
  // The i-th reserved slot's payload and length word. Precondition: i < reserve().
  std::byte* slot(std::uint32_t i) { return slots_ + ((tail_ + i) & mask_) * kShmSlotStride; }
  void set_length(std::uint32_t i, std::uint32_t len) { lengths_[(tail_ + i) & mask_] = len; }
  // Makes the first n reserved slots visible to the consumer with one release store.
  void publish(std::uint32_t n) {
    if (n == 0) return;
    tail_ += n;
    idx_->tail.store(tail_, std::memory_order_release);
  }

 private:
  ShmRingIndices* idx_ = nullptr;
  std::uint32_t* lengths_ = nullptr;
  std::byte* slots_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t slot_count_ = 0;
  std::uint64_t tail_ = 0;         // next slot to fill; mirrors idx_->tail
  std::uint64_t cached_head_ = 0;  // possibly stale copy of idx_->head (it only grows: safe)
};

// Process-local view used by the consuming side.
class ShmRingConsumer {
 public:
  ShmRingConsumer() = default;
  ShmRingConsumer(std::byte* base, const ShmRingLayout& layout, std::uint32_t slots)
      : idx_(reinterpret_cast<ShmRingIndices*>(base + layout.indices)),
        lengths_(reinterpret_cast<const std::uint32_t*>(base + layout.lengths)),
        slots_(base + layout.slots),
        mask_(slots - 1) {
    head_ = idx_->head.load(std::memory_order_relaxed);
    cached_tail_ = idx_->tail.load(std::memory_order_acquire);
  }

  // Published, unread frames, at least `want` if that many exist; reloads the producer's tail
  // only when the cached copy says there are fewer than `want`.
  std::uint32_t available(std::uint32_t want) {
    std::uint64_t avail = cached_tail_ - head_;
    if (avail < want) {
      cached_tail_ = idx_->tail.load(std::memory_order_acquire);
      avail = cached_tail_ - head_;
    }
    return static_cast<std::uint32_t>(avail);
  }
  const std::byte* slot(std::uint32_t i) const {
    return slots_ + ((head_ + i) & mask_) * kShmSlotStride;
  }
  std::uint32_t length(std::uint32_t i) const { return lengths_[(head_ + i) & mask_]; }
  // Returns the first n available slots to the producer with one release store.
  void consume(std::uint32_t n) {
    if (n == 0) return;
    head_ += n;
    idx_->head.store(head_, std::memory_order_release);
  }

 private:
  ShmRingIndices* idx_ = nullptr;
  const std::uint32_t* lengths_ = nullptr;
  const std::byte* slots_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t head_ = 0;         // next slot to read; mirrors idx_->head
  std::uint64_t cached_tail_ = 0;  // possibly stale copy of idx_->tail (it only grows: safe)
};

}  // namespace coronet::nic::internal
