// SpscRing: a bounded, lock-free, single-producer/single-consumer ring for passing messages between
// two per-core reactors (the cross-core queues of a shared-nothing runtime).
//
// Exactly one thread may call the producer-side methods (try_push, try_push_n, publish, staged)
// and exactly one thread may call the consumer-side methods (pop_n, try_pop). size_approx(),
// empty_approx() and capacity() may be called from either side.
//
// Producer writes are *staged*: they land in the ring's storage but stay invisible to the consumer
// until publish(), which makes a whole batch visible with a single release store. A reactor
// typically stages everything it produced during one poll iteration and publishes once at the end.
//
// Indices are free-running size_t counters (never masked when stored); a slot is `index & kMask`.
// Because Capacity is a power of two it divides 2^64, so unsigned wrap-around of the counters is
// harmless and `tail - head` is always the number of occupied slots.
//
// Memory ordering (acquire/release only, no seq_cst anywhere):
//  * publish() stores tail_ with release; the consumer loads tail_ with acquire. This orders the
//    producer's plain writes into the slots before the consumer's plain reads of them.
//  * pop_n() stores head_ with release; the producer loads head_ with acquire. This orders the
//    consumer's plain reads of the freed slots before the producer's later plain writes into them
//    (without it, the overwrite would race with the read).
//  * Each side keeps a private cache of the other side's index and only reloads the shared atomic
//    when the cached value says it cannot make progress. In steady state an operation touches only
//    the thread's own cache lines; the other side's line is pulled in once per "refill".
//
// Layout: the two shared indices and the two sides' private state each sit on their own 64-byte
// cache line, and the storage starts on a fresh line, so neither side's hot writes invalidate a
// line the other side reads on its fast path.
//
// No allocation happens besides the object itself; the storage is an inline std::array. The object
// is over-aligned (alignof == 64); `new`/std::make_unique honour that since C++17.

#ifndef CORONET_CORO_SPSC_RING_H_
#define CORONET_CORO_SPSC_RING_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <span>
#include <type_traits>

namespace coronet::coro {

template <typename T, size_t Capacity>
class SpscRing {
  static_assert(Capacity > 0 && (Capacity & (Capacity - 1)) == 0,
                "SpscRing Capacity must be a power of two");
  static_assert(std::is_trivially_copyable_v<T>,
                "SpscRing elements must be trivially copyable (pass pointers or small PODs)");
  static_assert(std::is_default_constructible_v<T>,
                "SpscRing elements must be default constructible (storage is a std::array)");
  static_assert(std::atomic<size_t>::is_always_lock_free,
                "SpscRing needs lock-free size_t atomics");

 public:
  SpscRing() = default;
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  static constexpr size_t capacity() { return Capacity; }

  // ---- Producer side (one thread) ----------------------------------------------------------

  // Stages one entry. Returns false when the ring is full, counting both staged and published but
  // not yet consumed entries.
  bool try_push(const T& v) {
    if (prod_.staged_tail - prod_.cached_head == Capacity && RefreshHead() == 0) return false;
    buf_[prod_.staged_tail & kMask] = v;
    ++prod_.staged_tail;
    return true;
  }

  // Stages as many entries from the front of `v` as fit and returns how many were staged.
  size_t try_push_n(std::span<const T> v) {
    size_t free = Capacity - (prod_.staged_tail - prod_.cached_head);
    if (free < v.size()) free = RefreshHead();
    const size_t n = std::min(free, v.size());
    if (n == 0) return 0;
    // Copy in at most two segments: up to the end of the storage, then from its start.
    const size_t pos = prod_.staged_tail & kMask;
    const size_t first = std::min(n, Capacity - pos);
    std::copy_n(v.data(), first, buf_.data() + pos);
    std::copy_n(v.data() + first, n - first, buf_.data());
    prod_.staged_tail += n;
    return n;
  }

  // Makes every staged entry visible to the consumer. The release store orders all slot writes
  // made by try_push/try_push_n before it ahead of the consumer's acquire load of tail_, so the
  // consumer can never observe the new tail without also observing the entries behind it.
  // A no-op (no store, no cache-line traffic) when nothing is staged.
  void publish() {
    if (prod_.staged_tail == prod_.published_tail) return;
    prod_.published_tail = prod_.staged_tail;
    tail_.store(prod_.published_tail, std::memory_order_release);
  }

  // Number of entries staged but not yet published.
  size_t staged() const { return prod_.staged_tail - prod_.published_tail; }

  // ---- Consumer side (one thread) ----------------------------------------------------------

  // Moves up to out.size() published entries into `out` (oldest first) and returns how many were
  // taken. Frees the slots with a single release store of head_ per call (none if nothing taken).
  size_t pop_n(std::span<T> out) {
    size_t avail = cons_.cached_tail - cons_.head;
    if (avail < out.size()) {
      // Acquire pairs with the release in publish(): slot contents written before that store are
      // visible to the reads below.
      cons_.cached_tail = tail_.load(std::memory_order_acquire);
      avail = cons_.cached_tail - cons_.head;
    }
    const size_t n = std::min(avail, out.size());
    if (n == 0) return 0;
    const size_t pos = cons_.head & kMask;
    const size_t first = std::min(n, Capacity - pos);
    std::copy_n(buf_.data() + pos, first, out.data());
    std::copy_n(buf_.data(), n - first, out.data() + first);
    cons_.head += n;
    // Release orders the slot reads above before the producer's acquire load of head_ (in
    // RefreshHead), after which it may overwrite those slots.
    head_.store(cons_.head, std::memory_order_release);
    return n;
  }

  // Pops one published entry into `out`; returns false (leaving `out` untouched) if none.
  bool try_pop(T& out) { return pop_n(std::span<T>(&out, 1)) == 1; }

  // ---- Either side --------------------------------------------------------------------------

  // Number of published, unconsumed entries at some recent instant (staged entries are not
  // counted). Exact when called by the producer right after publish() or by the consumer with
  // no concurrent publish; otherwise a snapshot that may already be stale.
  size_t size_approx() const {
    // Load head first, then tail. head_ only grows and is released by the consumer only after it
    // acquired a tail at least as large, so (by acquire + coherence) the later tail load returns a
    // value >= the head we saw: the difference never underflows. It can exceed Capacity if both
    // sides moved between the two loads, hence the clamp.
    const size_t head = head_.load(std::memory_order_acquire);
    const size_t tail = tail_.load(std::memory_order_acquire);
    return std::min(tail - head, Capacity);
  }

  bool empty_approx() const { return size_approx() == 0; }

 private:
  static constexpr size_t kMask = Capacity - 1;
  // Not std::hardware_destructive_interference_size: GCC warns (-Winterference-size) when it is
  // used in a header, and 64 bytes is right for the x86-64/arm64 targets we run on.
  static constexpr size_t kCacheLine = 64;

  // Reloads the consumer's head into the producer's cache and returns the free slot count.
  size_t RefreshHead() {
    // Acquire pairs with the release in pop_n(): the consumer's reads of the slots it freed
    // happen-before our subsequent overwrites of them.
    prod_.cached_head = head_.load(std::memory_order_acquire);
    return Capacity - (prod_.staged_tail - prod_.cached_head);
  }

  // Producer-private state: written on every push, never read by the consumer.
  struct alignas(kCacheLine) ProducerState {
    size_t staged_tail = 0;     // next slot to stage into
    size_t published_tail = 0;  // last value stored to tail_ (avoids reloading our own atomic)
    size_t cached_head = 0;     // possibly stale copy of head_; head_ only grows, so it is safe
  };
  // Consumer-private state: written on every pop, never read by the producer.
  struct alignas(kCacheLine) ConsumerState {
    size_t head = 0;         // next slot to read; mirrors head_ (avoids reloading our own atomic)
    size_t cached_tail = 0;  // possibly stale copy of tail_; tail_ only grows, so it is safe
  };

  // Shared indices, each alone on its line: written by one side once per batch, read by the other
  // only when its cached copy runs out.
  alignas(kCacheLine) std::atomic<size_t> tail_{0};  // published tail (producer -> consumer)
  alignas(kCacheLine) std::atomic<size_t> head_{0};  // consumed head (consumer -> producer)
  ProducerState prod_;
  ConsumerState cons_;
  alignas(kCacheLine) std::array<T, Capacity> buf_{};
};

}  // namespace coronet::coro

#endif  // CORONET_CORO_SPSC_RING_H_
