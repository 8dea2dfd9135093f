#include "coro/timer_wheel.h"

namespace coronet::coro {

TimerWheel::TimerWheel(uint64_t now_tick) : now_(now_tick) {
  for (Link& head : lists_) head.prev = head.next = &head;
}

TimerWheel::~TimerWheel() {
  // Nodes usually outlive the wheel's owner in teardown; clear them so their destructors (and
  // armed()) see a disarmed node instead of reaching into freed memory.
  for (Link& head : lists_) {
    Link* link = head.next;
    while (link != &head) {
      Link* next = link->next;
      TimerNode& node = NodeOf(link);
      node.prev = nullptr;
      node.next = nullptr;
      node.wheel_ = nullptr;
      link = next;
    }
    head.prev = head.next = &head;
  }
  size_ = 0;
}

uint64_t TimerWheel::SlotStart(int level, int slot) const {
  // Invariant: occupied slots at `level` share now_'s higher digits and have a larger digit at
  // `level`, so a slot starts at now_ with that digit substituted and lower digits zero.
  const int shift = level * kLevelBits;
  const int high = shift + kLevelBits;  // <= 48, so the shifts below are well defined.
  return (now_ >> high << high) | (static_cast<uint64_t>(slot) << shift);
}

std::optional<uint64_t> TimerWheel::next_deadline() const {
  if (size_ == 0) return std::nullopt;
  if (!ListEmpty(lists_[kDueList])) return now_;
  // The lowest occupied level always holds the earliest timers: its slots end before now_'s next
  // change of a higher digit, which is where every higher-level slot starts.
  for (int level = 0; level < kLevels; ++level) {
    if (occupied_[level] != 0) return SlotStart(level, LowestSlot(level));
  }
  return OverflowStart();
}

size_t TimerWheel::FireList(uint16_t list) {
  // Pop one node at a time from the live list rather than iterating a snapshot: a callback may
  // cancel or re-arm any node still waiting here, and those must then not fire. Callbacks cannot
  // add to a wheel slot being fired (only digits above now_'s qualify); expiries <= now_ go to the
  // due list, which the caller drains after this.
  Link& head = lists_[list];
  size_t fired = 0;
  while (!ListEmpty(head)) {
    TimerNode& node = NodeOf(head.next);
    Disarm(node);
    // Read nothing from `node` after the callback: it may free the object that embeds it.
    if (TimerNode::Callback cb = node.cb_; cb != nullptr) {
      cb(&node);
      ++fired;
    }
  }
  return fired;
}

void TimerWheel::Cascade(uint16_t list) {
  Link& head = lists_[list];
  if (ListEmpty(head)) return;
  // Move the nodes to a local list first: overflow nodes may be placed straight back into the
  // list being drained. No callback runs here, so nothing else can touch the local list.
  Link local;
  local.next = head.next;
  local.prev = head.prev;
  local.next->prev = &local;
  local.prev->next = &local;
  head.prev = head.next = &head;
  if (list < kDueList) {
    occupied_[list / kSlotsPerLevel] &= ~(uint64_t{1} << (list % kSlotsPerLevel));
  } else {
    overflow_min_ = UINT64_MAX;  // Recomputed by Place() for nodes that stay in overflow.
  }
  while (local.next != &local) {
    Link* link = local.next;
    local.next = link->next;
    link->next->prev = &local;
    Place(NodeOf(link));
  }
}

size_t TimerWheel::advance(uint64_t now_tick) {
  assert(!advancing_ && "advance() called from a timer callback");
  advancing_ = true;
  const uint64_t target = now_tick > now_ ? now_tick : now_;
  size_t fired = 0;
  for (;;) {
    // Due timers (scheduled at or before now_, or cascaded onto now_) precede everything else.
    fired += FireList(kDueList);

    // The lowest occupied level holds the next event; each event either fires a level-0 slot or
    // moves a higher slot's timers strictly down, so the loop runs O(levels x timers) times.
    int level = 0;
    while (level < kLevels && occupied_[level] == 0) ++level;
    int slot = 0;
    uint64_t event;
    if (level < kLevels) {
      slot = LowestSlot(level);
      event = SlotStart(level, slot);
    } else if (!ListEmpty(lists_[kOverflowList])) {
      event = OverflowStart();
    } else {
      break;
    }
    assert(event > now_);
    // Stopping short of an event keeps the invariant: every occupied slot still starts after now_.
    if (event > target) break;

    now_ = event;
    ++slot_events_;
    if (level == 0) {
      fired += FireList(static_cast<uint16_t>(slot));
    } else if (level < kLevels) {
      Cascade(static_cast<uint16_t>(level * kSlotsPerLevel + slot));
    } else {
      Cascade(kOverflowList);
    }
  }
  now_ = target;
  advancing_ = false;
  return fired;
}

}  // namespace coronet::coro
