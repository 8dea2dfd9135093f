// Hierarchical timer wheel for TCP-style timers (RTO, delayed ACK, TIME_WAIT, keepalive).
//
// Millions of timers are armed and re-armed far more often than they fire, so schedule() and
// cancel() are O(1) pointer splices on intrusive lists: the wheel never allocates, and callbacks
// are plain function pointers (no virtual calls, no std::function).
//
// Layout: 8 levels x 64 slots. A slot at level l covers 64^l ticks, so the levels cover 2^48 ticks.
// A timer lives at the level of the highest 6-bit digit in which its expiry differs from now(), in
// the slot named by that digit of its expiry. A 64-bit occupancy mask per level turns "next
// non-empty slot" into a count-trailing-zeros, so advance() jumps straight from one occupied slot
// to the next: crossing an idle gap costs O(levels x timers), never O(ticks).
//
// Ticks are absolute uint64_t values and every expiry is kept exactly. Timers whose expiry differs
// from now() above bit 47 (more than the wheel's range away, or just across a 2^48 boundary) wait
// in an overflow list and are re-placed when now() reaches the 2^48-aligned block that holds them.
// We do not clamp such expiries: with nanosecond ticks a 2^48 boundary passes every ~3.3 days, and
// clamping would make a timer armed just before it fire early.
//
// Ordering guarantee. Let the effective expiry of a timer be max(expiry, now() at schedule time).
// advance() fires timers in non-decreasing effective expiry order, and while a callback runs,
// now() equals that timer's effective expiry. Timers with equal effective expiry that were
// scheduled while now() had the same value fire in scheduling order; other ties have no specified
// order (keeping them FIFO would need per-slot sorting during cascades).
//
// Not thread-safe: one wheel per core, like the rest of coro/.
#ifndef CORONET_CORO_TIMER_WHEEL_H_
#define CORONET_CORO_TIMER_WHEEL_H_

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace coronet::coro {

class TimerWheel;

namespace timer_internal {

// Doubly linked list hook. Lists are circular with a sentinel head, so unlinking is branch-free
// and a node never needs to know whether it is first or last.
struct Link {
  Link* prev = nullptr;
  Link* next = nullptr;
};

}  // namespace timer_internal

// Intrusive timer: embed it in (or derive from) the object that owns the timeout. The callback
// gets the node back; recover the owner with static_cast (if derived) or a member offset.
class TimerNode : private timer_internal::Link {
 public:
  using Callback = void (*)(TimerNode*);

  explicit TimerNode(Callback cb = nullptr) : cb_(cb) {}
  // Unlinks from the owning wheel if still armed, so freeing a connection with a pending timer
  // cannot leave a dangling node in the wheel.
  ~TimerNode();

  // The wheel holds pointers to the node while armed, so it must never change address.
  TimerNode(const TimerNode&) = delete;
  TimerNode& operator=(const TimerNode&) = delete;
  TimerNode(TimerNode&&) = delete;
  TimerNode& operator=(TimerNode&&) = delete;

  void set_callback(Callback cb) { cb_ = cb; }
  Callback callback() const { return cb_; }
  bool armed() const { return wheel_ != nullptr; }
  // The tick passed to the last schedule(); meaningful while armed.
  uint64_t expiry() const { return expiry_; }
  // The wheel this node is armed in, or nullptr.
  TimerWheel* wheel() const { return wheel_; }

 private:
  friend class TimerWheel;

  uint64_t expiry_ = 0;
  TimerWheel* wheel_ = nullptr;
  Callback cb_;
  uint16_t list_ = 0;  // Index of the wheel list holding the node (see TimerWheel::kDueList).
};

class TimerWheel {
 public:
  static constexpr int kLevelBits = 6;
  static constexpr int kSlotsPerLevel = 1 << kLevelBits;
  static constexpr int kLevels = 8;
  static constexpr int kRangeBits = kLevelBits * kLevels;  // 48

  explicit TimerWheel(uint64_t now_tick = 0);
  // Disarms every node still linked without running callbacks; the nodes outlive the wheel in
  // the usual teardown order (engine core first, connections later) and must not point into it.
  ~TimerWheel();

  // Lists contain pointers back to the wheel's sentinels, so the wheel cannot be moved either.
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  TimerWheel(TimerWheel&&) = delete;
  TimerWheel& operator=(TimerWheel&&) = delete;

  // Arms `node` to fire at tick `expiry`, moving it if already armed (also from another wheel).
  // An expiry <= now() fires on the next advance(), never synchronously here.
  void schedule(TimerNode& node, uint64_t expiry);
  // O(1). Returns false if the node was not armed. A cancelled timer never fires, even if it was
  // already due in the advance() that is running the caller.
  bool cancel(TimerNode& node);

  // Moves time forward to `now_tick` (a smaller value is treated as now(): time never goes back)
  // and fires every timer whose expiry is <= now_tick, in the order described at the top of this
  // file. Each timer is disarmed before its callback runs. Callbacks may schedule() or cancel() any
  // node, including the firing one; a timer they arm with expiry <= now_tick fires within this
  // call, so a callback that keeps re-arming itself at or before now() never lets advance() return.
  // Callbacks must not call advance() or destroy the wheel. Returns the number of callbacks run
  // (timers with a null callback are disarmed silently and not counted).
  size_t advance(uint64_t now_tick);

  uint64_t now() const { return now_; }

  // A lower bound on the earliest effective expiry: exact when that timer is within the current
  // 64-tick block (level 0) or already due (then it is now()); for farther timers it may be the
  // start of their slot's range. nullopt when no timer is armed.
  std::optional<uint64_t> next_deadline() const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Number of occupied slots advance() has fired or cascaded since construction. A timer within
  // the 2^48 range passes through at most one slot per level, which is what bounds the cost of
  // idle gaps (overflow timers add one pass per 2^48 block holding an overflow timer). For tests
  // and metrics.
  uint64_t slot_events() const { return slot_events_; }

 private:
  // List indices: level * 64 + slot for wheel slots, then the two unsorted lists.
  static constexpr uint16_t kDueList = kLevels * kSlotsPerLevel;  // expiry <= now()
  static constexpr uint16_t kOverflowList = kDueList + 1;         // differs from now() above bit 47
  static constexpr int kNumLists = kOverflowList + 1;

  using Link = timer_internal::Link;

  static TimerNode& NodeOf(Link* link) { return static_cast<TimerNode&>(*link); }
  static bool ListEmpty(const Link& head) { return head.next == &head; }

  // Appends `node` to the list its expiry belongs in relative to now_.
  void Place(TimerNode& node);
  void Append(TimerNode& node, uint16_t list);
  // Removes `node` from its list and keeps the occupancy bitmap in sync; leaves it armed.
  void Detach(TimerNode& node);
  // Detach + disarm.
  void Disarm(TimerNode& node);
  // Pops and fires list `list` until it is empty; returns callbacks run.
  size_t FireList(uint16_t list);
  // Re-places every node of `list` relative to the (just advanced) now_.
  void Cascade(uint16_t list);
  // Lowest occupied slot at `level`; its occupancy mask must be non-zero.
  int LowestSlot(int level) const { return std::countr_zero(occupied_[level]); }
  // First tick of an occupied `slot` at `level`.
  uint64_t SlotStart(int level, int slot) const;
  // First tick of the 2^48-aligned block holding the earliest overflow timer (lower bound).
  uint64_t OverflowStart() const { return overflow_min_ >> kRangeBits << kRangeBits; }

  uint64_t now_;
  size_t size_ = 0;
  uint64_t slot_events_ = 0;
  // Lower bound on the expiries in the overflow list (cancels do not raise it; cascades reset it).
  uint64_t overflow_min_ = UINT64_MAX;
  bool advancing_ = false;  // Guards against re-entrant advance() from a callback.
  uint64_t occupied_[kLevels] = {};
  Link lists_[kNumLists];
};

// ---- Hot-path inline definitions ------------------------------------------------------------

inline TimerNode::~TimerNode() {
  if (wheel_ != nullptr) wheel_->cancel(*this);
}

inline void TimerWheel::Append(TimerNode& node, uint16_t list) {
  Link& head = lists_[list];
  node.list_ = list;
  node.prev = head.prev;
  node.next = &head;
  head.prev->next = &node;
  head.prev = &node;
}

inline void TimerWheel::Place(TimerNode& node) {
  const uint64_t expiry = node.expiry_;
  if (expiry <= now_) {
    Append(node, kDueList);
    return;
  }
  // Highest differing bit picks the level; expiry > now_ with equal higher digits guarantees
  // the slot digit is above now_'s digit, which is the invariant advance() relies on.
  const int level = (63 - std::countl_zero(expiry ^ now_)) / kLevelBits;
  if (level >= kLevels) {
    Append(node, kOverflowList);
    if (expiry < overflow_min_) overflow_min_ = expiry;
    return;
  }
  const int slot = static_cast<int>((expiry >> (level * kLevelBits)) & (kSlotsPerLevel - 1));
  Append(node, static_cast<uint16_t>(level * kSlotsPerLevel + slot));
  occupied_[level] |= uint64_t{1} << slot;
}

inline void TimerWheel::Detach(TimerNode& node) {
  node.prev->next = node.next;
  node.next->prev = node.prev;
  const uint16_t list = node.list_;
  if (list < kDueList) {
    if (ListEmpty(lists_[list])) {
      occupied_[list / kSlotsPerLevel] &= ~(uint64_t{1} << (list % kSlotsPerLevel));
    }
  } else if (list == kOverflowList && ListEmpty(lists_[list])) {
    overflow_min_ = UINT64_MAX;
  }
}

inline void TimerWheel::Disarm(TimerNode& node) {
  Detach(node);
  node.prev = nullptr;
  node.next = nullptr;
  node.wheel_ = nullptr;
  --size_;
}

inline void TimerWheel::schedule(TimerNode& node, uint64_t expiry) {
  if (node.wheel_ == this) {
    Detach(node);  // Re-arm: the common RTO case, no size bookkeeping needed.
  } else {
    if (node.wheel_ != nullptr) node.wheel_->Disarm(node);
    node.wheel_ = this;
    ++size_;
  }
  node.expiry_ = expiry;
  Place(node);
}

inline bool TimerWheel::cancel(TimerNode& node) {
  if (node.wheel_ == nullptr) return false;
  // Cancelling through the wrong wheel is a caller bug; still do the safe thing in release builds.
  assert(node.wheel_ == this);
  node.wheel_->Disarm(node);
  return true;
}

}  // namespace coronet::coro

#endif  // CORONET_CORO_TIMER_WHEEL_H_
