#include "coro/timer_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <utility>
#include <vector>

namespace coronet::coro {
namespace {

constexpr uint64_t kTick48 = uint64_t{1} << 48;

// One fired callback: which probe, and what the wheel's clock said while it ran.
struct Fire {
  int id;
  uint64_t now;
  bool operator==(const Fire&) const = default;
};
void PrintTo(const Fire& f, std::ostream* os) { *os << "{id " << f.id << " @" << f.now << "}"; }

// A timer owner as a TCP connection would embed it: derives from TimerNode and logs its firing.
// `on_fire` lets individual tests act from inside the callback.
struct Probe : TimerNode {
  Probe(TimerWheel* w, std::vector<Fire>* l, int i)
      : TimerNode(&Probe::OnFire), clock(w), log(l), id(i) {}

  static void OnFire(TimerNode* node) {
    auto* self = static_cast<Probe*>(node);
    self->log->push_back({self->id, self->clock->now()});
    if (self->on_fire) self->on_fire(*self);
  }

  TimerWheel* clock;  // wheel() is already null while the callback runs.
  std::vector<Fire>* log;
  int id;
  std::function<void(Probe&)> on_fire;
};

std::vector<int> Ids(const std::vector<Fire>& log) {
  std::vector<int> ids;
  for (const Fire& f : log) ids.push_back(f.id);
  return ids;
}

uint64_t Pow64(int level) { return uint64_t{1} << (6 * level); }

TEST(TimerWheelTest, FiresExactlyAtExpiryNotBefore) {
  TimerWheel wheel(100);
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1);
  wheel.schedule(p, 150);
  EXPECT_TRUE(p.armed());
  EXPECT_EQ(p.expiry(), 150u);
  EXPECT_EQ(wheel.advance(149), 0u);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(wheel.now(), 149u);
  EXPECT_EQ(wheel.advance(150), 1u);
  EXPECT_EQ(log, (std::vector<Fire>{{1, 150}}));
  EXPECT_FALSE(p.armed());
  EXPECT_EQ(wheel.advance(10'000), 0u);
  EXPECT_EQ(log.size(), 1u);
}

TEST(TimerWheelTest, FiresInExpiryOrderAcrossOneBigAdvance) {
  TimerWheel wheel;
  std::vector<Fire> log;
  std::vector<std::unique_ptr<Probe>> probes;
  const uint64_t expiries[] = {5000, 3, 64, 63, 4096, 1, 65, 262144, 100};
  for (int i = 0; i < 9; ++i) {
    probes.push_back(std::make_unique<Probe>(&wheel, &log, i));
    wheel.schedule(*probes.back(), expiries[i]);
  }
  EXPECT_EQ(wheel.advance(1'000'000), 9u);
  EXPECT_EQ(Ids(log), (std::vector<int>{5, 1, 3, 2, 6, 8, 4, 0, 7}));
  for (const Fire& f : log) EXPECT_EQ(f.now, expiries[f.id]);
}

TEST(TimerWheelTest, SameTickTiesFireInSchedulingOrder) {
  TimerWheel wheel(7);
  std::vector<Fire> log;
  std::vector<std::unique_ptr<Probe>> probes;
  for (int i = 0; i < 5; ++i) probes.push_back(std::make_unique<Probe>(&wheel, &log, i));
  // A far tie goes through several cascades; a near tie sits in one level-0 slot.
  for (int i : {3, 0, 4, 1, 2}) wheel.schedule(*probes[i], 7 + Pow64(3) + 5);
  wheel.advance(7 + Pow64(3) + 5);
  EXPECT_EQ(Ids(log), (std::vector<int>{3, 0, 4, 1, 2}));
  log.clear();
  for (int i : {2, 4, 0}) wheel.schedule(*probes[i], wheel.now() + 1);
  wheel.advance(wheel.now() + 1);
  EXPECT_EQ(Ids(log), (std::vector<int>{2, 4, 0}));
}

TEST(TimerWheelTest, CancelBeforeFirePreventsFiring) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2);
  wheel.schedule(a, 10);
  wheel.schedule(b, 10);
  EXPECT_TRUE(wheel.cancel(a));
  EXPECT_FALSE(a.armed());
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.advance(20), 1u);
  EXPECT_EQ(Ids(log), (std::vector<int>{2}));
}

TEST(TimerWheelTest, CancelOfUnarmedNodeReturnsFalse) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1);
  EXPECT_FALSE(wheel.cancel(p));
  wheel.schedule(p, 3);
  EXPECT_TRUE(wheel.cancel(p));
  EXPECT_FALSE(wheel.cancel(p));
  wheel.schedule(p, 3);
  wheel.advance(3);
  EXPECT_FALSE(wheel.cancel(p));
}

TEST(TimerWheelTest, CancelFromCallbackOfAnotherDueTimerInSameTick) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2), c(&wheel, &log, 3);
  a.on_fire = [&](Probe&) { EXPECT_TRUE(wheel.cancel(b)); };
  wheel.schedule(a, 40);
  wheel.schedule(b, 40);  // Same slot, behind a: already moved to firing when a runs.
  wheel.schedule(c, 40);
  EXPECT_EQ(wheel.advance(40), 2u);
  EXPECT_EQ(Ids(log), (std::vector<int>{1, 3}));
  EXPECT_FALSE(b.armed());
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheelTest, CancelFromCallbackOfDueTimerScheduledInThePast) {
  TimerWheel wheel(50);
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2);
  a.on_fire = [&](Probe&) { EXPECT_TRUE(wheel.cancel(b)); };
  wheel.schedule(a, 10);  // Both on the due list.
  wheel.schedule(b, 20);
  EXPECT_EQ(wheel.advance(50), 1u);
  EXPECT_EQ(Ids(log), (std::vector<int>{1}));
}

TEST(TimerWheelTest, RescheduleOfOtherDueTimerFromCallbackMovesIt) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2);
  a.on_fire = [&](Probe&) { wheel.schedule(b, 90); };
  wheel.schedule(a, 30);
  wheel.schedule(b, 30);
  EXPECT_EQ(wheel.advance(100), 2u);
  EXPECT_EQ(log, (std::vector<Fire>{{1, 30}, {2, 90}}));
}

TEST(TimerWheelTest, RescheduleFromOwnCallbackMakesAPeriodicTimer) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1);
  p.on_fire = [&](Probe& self) {
    EXPECT_FALSE(self.armed());  // Disarmed before the callback runs.
    wheel.schedule(self, wheel.now() + 25);
  };
  wheel.schedule(p, 25);
  EXPECT_EQ(wheel.advance(100), 4u);
  EXPECT_EQ(log, (std::vector<Fire>{{1, 25}, {1, 50}, {1, 75}, {1, 100}}));
  EXPECT_TRUE(p.armed());
  EXPECT_EQ(p.expiry(), 125u);
}

TEST(TimerWheelTest, TimerArmedFromCallbackWithinTargetFiresInSameAdvance) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2), c(&wheel, &log, 3);
  a.on_fire = [&](Probe&) {
    wheel.schedule(b, 5000);  // Later but within the target: needs levels and a cascade.
    wheel.schedule(c, 3);     // In the past relative to now() == 10: fires at 10.
  };
  wheel.schedule(a, 10);
  EXPECT_EQ(wheel.advance(6000), 3u);
  EXPECT_EQ(log, (std::vector<Fire>{{1, 10}, {3, 10}, {2, 5000}}));
}

TEST(TimerWheelTest, ScheduleInThePastFiresOnNextAdvanceNotSynchronously) {
  TimerWheel wheel(1000);
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2);
  wheel.schedule(a, 1);
  wheel.schedule(b, 1000);  // expiry == now() is also "due".
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(wheel.next_deadline(), 1000u);
  EXPECT_EQ(wheel.advance(1000), 2u);  // Advancing by zero ticks still fires due timers.
  EXPECT_EQ(log, (std::vector<Fire>{{1, 1000}, {2, 1000}}));
}

TEST(TimerWheelTest, PastTimersFireBeforeLaterOnes) {
  TimerWheel wheel(1000);
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2);
  wheel.schedule(b, 1001);
  wheel.schedule(a, 5);
  wheel.advance(2000);
  EXPECT_EQ(log, (std::vector<Fire>{{1, 1000}, {2, 1001}}));
}

TEST(TimerWheelTest, RearmingMovesAnArmedTimer) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1);
  wheel.schedule(p, 10);
  wheel.schedule(p, Pow64(2) + 3);  // The RTO pattern: push it further out.
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.advance(Pow64(2) + 2), 0u);
  wheel.schedule(p, Pow64(2) + 2);  // And pull it in again.
  EXPECT_EQ(wheel.advance(Pow64(2) + 2), 1u);
  EXPECT_EQ(log, (std::vector<Fire>{{1, Pow64(2) + 2}}));
}

TEST(TimerWheelTest, FarTimersAtEveryLevelFireExactlyAtTheirTick) {
  for (int level = 1; level < TimerWheel::kLevels; ++level) {
    SCOPED_TRACE(level);
    const uint64_t start = 123'456;
    TimerWheel wheel(start);
    std::vector<Fire> log;
    Probe p(&wheel, &log, level);
    const uint64_t expiry = start + Pow64(level) + 17;
    wheel.schedule(p, expiry);
    // Stop in the middle of the cascades: just before the slot start at each lower level.
    for (int l = level; l >= 1; --l) {
      const uint64_t slot_start = expiry >> (6 * l) << (6 * l);
      if (slot_start > wheel.now() + 1) {
        EXPECT_EQ(wheel.advance(slot_start - 1), 0u);
      }
    }
    EXPECT_EQ(wheel.advance(expiry - 1), 0u);
    EXPECT_TRUE(log.empty());
    EXPECT_EQ(wheel.next_deadline(), expiry);  // Cascaded down to level 0 by now.
    EXPECT_EQ(wheel.advance(expiry), 1u);
    EXPECT_EQ(log, (std::vector<Fire>{{level, expiry}}));
  }
}

TEST(TimerWheelTest, FarTimerFiresExactlyInOneJumpFromLevelFive) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe p(&wheel, &log, 5), q(&wheel, &log, 6);
  wheel.schedule(p, Pow64(5) + 17);
  wheel.schedule(q, Pow64(5) + 18);
  EXPECT_EQ(wheel.advance(Pow64(5) + 17), 1u);
  EXPECT_EQ(log, (std::vector<Fire>{{5, Pow64(5) + 17}}));
  EXPECT_EQ(wheel.advance(UINT64_MAX), 1u);
  EXPECT_EQ(log.back(), (Fire{6, Pow64(5) + 18}));
}

TEST(TimerWheelTest, BigIdleJumpCostsPerTimerNotPerTick) {
  TimerWheel wheel(42);
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2), c(&wheel, &log, 3);
  wheel.schedule(a, 1'000'000'000'000);
  wheel.schedule(b, 999'999'999'958);
  wheel.schedule(c, 77);
  EXPECT_EQ(wheel.advance(2'000'000'000'000), 3u);
  EXPECT_EQ(log, (std::vector<Fire>{{3, 77}, {2, 999'999'999'958}, {1, 1'000'000'000'000}}));
  EXPECT_EQ(wheel.now(), 2'000'000'000'000u);
  // Each timer visits at most one slot per level.
  EXPECT_LE(wheel.slot_events(), 3u * TimerWheel::kLevels);
}

TEST(TimerWheelTest, ExpiriesBeyondTheRangeAreExactNotClamped) {
  TimerWheel wheel(5);
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1);
  const uint64_t expiry = 5 + (uint64_t{1} << 50) + 3;
  wheel.schedule(p, expiry);
  EXPECT_LE(*wheel.next_deadline(), expiry);
  EXPECT_EQ(wheel.advance(expiry - 1), 0u);
  EXPECT_EQ(wheel.advance(expiry), 1u);
  EXPECT_EQ(log, (std::vector<Fire>{{1, expiry}}));
}

TEST(TimerWheelTest, NearTimerAcrossA48BitBoundaryIsExact) {
  TimerWheel wheel(3 * kTick48 - 10);
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1), q(&wheel, &log, 2);
  wheel.schedule(p, 3 * kTick48 + 5);
  wheel.schedule(q, 3 * kTick48 - 2);
  EXPECT_EQ(wheel.advance(3 * kTick48 + 4), 1u);
  EXPECT_EQ(wheel.advance(3 * kTick48 + 5), 1u);
  EXPECT_EQ(log, (std::vector<Fire>{{2, 3 * kTick48 - 2}, {1, 3 * kTick48 + 5}}));
}

TEST(TimerWheelTest, ExpiryAtTheEndOfTimeFires) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1), q(&wheel, &log, 2);
  wheel.schedule(p, UINT64_MAX);
  wheel.schedule(q, UINT64_MAX - 1);
  EXPECT_EQ(wheel.advance(UINT64_MAX - 1), 1u);
  EXPECT_EQ(wheel.advance(UINT64_MAX), 1u);
  EXPECT_EQ(log, (std::vector<Fire>{{2, UINT64_MAX - 1}, {1, UINT64_MAX}}));
}

TEST(TimerWheelTest, DestroyingAnArmedNodeUnlinksIt) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe keep(&wheel, &log, 1);
  wheel.schedule(keep, 20);
  {
    Probe gone(&wheel, &log, 2);
    wheel.schedule(gone, 20);
    Probe far(&wheel, &log, 3);
    wheel.schedule(far, Pow64(4));
    EXPECT_EQ(wheel.size(), 3u);
  }
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.advance(Pow64(5)), 1u);
  EXPECT_EQ(Ids(log), (std::vector<int>{1}));
}

TEST(TimerWheelTest, CallbackMayDestroyItsOwnNode) {
  TimerWheel wheel;
  std::vector<Fire> log;
  auto* p = new Probe(&wheel, &log, 1);
  Probe q(&wheel, &log, 2);
  p->on_fire = [](Probe& self) { delete &self; };  // TIME_WAIT expiry frees the connection.
  wheel.schedule(*p, 8);
  wheel.schedule(q, 8);
  EXPECT_EQ(wheel.advance(8), 2u);
  EXPECT_EQ(Ids(log), (std::vector<int>{1, 2}));
}

TEST(TimerWheelTest, WheelDestructorDisarmsNodesWithoutFiring) {
  std::vector<Fire> log;
  auto wheel = std::make_unique<TimerWheel>();
  Probe a(wheel.get(), &log, 1), b(wheel.get(), &log, 2), c(wheel.get(), &log, 3);
  wheel->schedule(a, 0);                  // due
  wheel->schedule(b, 1000);               // wheel slot
  wheel->schedule(c, uint64_t{1} << 60);  // overflow
  wheel.reset();
  EXPECT_FALSE(a.armed());
  EXPECT_FALSE(b.armed());
  EXPECT_FALSE(c.armed());
  EXPECT_TRUE(log.empty());
  // The nodes are still usable with a new wheel.
  TimerWheel other;
  a.clock = &other;
  other.schedule(a, 1);
  EXPECT_EQ(other.advance(1), 1u);
}

TEST(TimerWheelTest, ScheduleMovesANodeBetweenWheels) {
  TimerWheel w1, w2;
  std::vector<Fire> log;
  Probe p(&w2, &log, 1);
  w1.schedule(p, 10);
  w2.schedule(p, 20);
  EXPECT_EQ(p.wheel(), &w2);
  EXPECT_EQ(w1.size(), 0u);
  EXPECT_EQ(w2.size(), 1u);
  EXPECT_EQ(w1.advance(100), 0u);
  EXPECT_EQ(w2.advance(100), 1u);
}

TEST(TimerWheelTest, NextDeadlineIsNulloptWhenEmpty) {
  TimerWheel wheel(9);
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1);
  wheel.schedule(p, 100);
  wheel.cancel(p);
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);
}

TEST(TimerWheelTest, NextDeadlineIsExactForLevelZeroTimers) {
  TimerWheel wheel(128);
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2);
  wheel.schedule(a, 190);
  wheel.schedule(b, 140);
  EXPECT_EQ(wheel.next_deadline(), 140u);
  wheel.cancel(b);
  EXPECT_EQ(wheel.next_deadline(), 190u);
}

TEST(TimerWheelTest, NextDeadlineIsALowerBoundForFarTimers) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1);
  const uint64_t expiry = 3 * Pow64(3) + 5 * Pow64(2) + 77;
  wheel.schedule(p, expiry);
  uint64_t previous = 0;
  // Following next_deadline() must reach the timer without overshooting it, and must progress.
  while (p.armed()) {
    const uint64_t deadline = *wheel.next_deadline();
    EXPECT_LE(deadline, expiry);
    EXPECT_GT(deadline, previous);
    previous = deadline;
    wheel.advance(deadline);
  }
  EXPECT_EQ(log, (std::vector<Fire>{{1, expiry}}));
}

TEST(TimerWheelTest, AdvanceNeverMovesTimeBackwards) {
  TimerWheel wheel(500);
  std::vector<Fire> log;
  Probe p(&wheel, &log, 1);
  wheel.schedule(p, 510);
  EXPECT_EQ(wheel.advance(10), 0u);
  EXPECT_EQ(wheel.now(), 500u);
  EXPECT_EQ(wheel.advance(510), 1u);
}

TEST(TimerWheelTest, NullCallbackIsDisarmedButNotCounted) {
  TimerWheel wheel;
  TimerNode node;
  wheel.schedule(node, 4);
  EXPECT_EQ(wheel.advance(4), 0u);
  EXPECT_FALSE(node.armed());
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheelTest, SizeCountsArmedTimers) {
  TimerWheel wheel;
  std::vector<Fire> log;
  Probe a(&wheel, &log, 1), b(&wheel, &log, 2);
  EXPECT_TRUE(wheel.empty());
  wheel.schedule(a, 5);
  wheel.schedule(b, 500);
  wheel.schedule(b, 600);
  EXPECT_EQ(wheel.size(), 2u);
  wheel.advance(5);
  EXPECT_EQ(wheel.size(), 1u);
  wheel.cancel(b);
  EXPECT_TRUE(wheel.empty());
}

// ---- Randomized differential test against a std::multimap model ------------------------------

// Decisions a callback takes, from a hash of (id, now, fire count) so both models agree no matter
// which order same-tick timers run in. Actions only touch the firing timer itself or "victim"
// timers strictly in the future, which no callback re-arms, so same-tick order cannot matter.
struct CallbackAction {
  std::optional<uint64_t> rearm_delay;
  std::optional<int> cancel_victim;
};

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

constexpr int kNodes = 2048;
bool IsVictim(int id) { return id % 4 == 3; }

CallbackAction ActionFor(int id, uint64_t now, uint64_t fires) {
  const uint64_t h = Mix((uint64_t(id) << 40) ^ now ^ (fires << 20) ^ 0x5eed);
  CallbackAction action;
  if (IsVictim(id)) return action;
  if (id % 4 == 1 && h % 3 == 0) action.cancel_victim = int((h >> 8) % (kNodes / 4)) * 4 + 3;
  if (id % 2 == 0 && h % 4 == 0) action.rearm_delay = (h >> 16) % 5 == 0 ? 0 : (h >> 24) % 3000;
  return action;
}

// Reference: a multimap keyed by effective expiry; processes timers strictly in key order.
class ModelWheel {
 public:
  explicit ModelWheel(uint64_t now) : now_(now), pos_(kNodes) {}

  void Schedule(int id, uint64_t expiry) {
    Cancel(id);
    pos_[id] = timers_.emplace(std::max(expiry, now_), id);
  }
  bool Cancel(int id) {
    if (!pos_[id]) return false;
    timers_.erase(*pos_[id]);
    pos_[id].reset();
    return true;
  }
  bool ArmedAfter(int id, uint64_t t) const { return pos_[id] && (*pos_[id])->first > t; }
  void Advance(uint64_t target, std::vector<Fire>* log, std::vector<uint64_t>* fire_counts) {
    while (!timers_.empty() && timers_.begin()->first <= target) {
      auto [t, id] = *timers_.begin();
      timers_.erase(timers_.begin());
      pos_[id].reset();
      now_ = t;
      log->push_back({id, t});
      const CallbackAction action = ActionFor(id, t, (*fire_counts)[id]++);
      if (action.cancel_victim && ArmedAfter(*action.cancel_victim, now_)) {
        Cancel(*action.cancel_victim);
      }
      if (action.rearm_delay) Schedule(id, now_ + *action.rearm_delay);
    }
    now_ = std::max(now_, target);
  }
  std::optional<uint64_t> Earliest() const {
    if (timers_.empty()) return std::nullopt;
    return timers_.begin()->first;
  }
  size_t size() const { return timers_.size(); }
  uint64_t now() const { return now_; }

 private:
  using Map = std::multimap<uint64_t, int>;
  uint64_t now_;
  Map timers_;
  std::vector<std::optional<Map::iterator>> pos_;
};

struct DiffNode : TimerNode {
  DiffNode() : TimerNode(&DiffNode::OnFire) {}
  static void OnFire(TimerNode* node) {
    auto* self = static_cast<DiffNode*>(node);
    TimerWheel& wheel = *self->wheel_ptr;
    const uint64_t now = wheel.now();
    self->log->push_back({self->id, now});
    const CallbackAction action = ActionFor(self->id, now, (*self->fire_counts)[self->id]++);
    if (action.cancel_victim) {
      DiffNode& victim = (*self->all)[*action.cancel_victim];
      if (victim.armed() && victim.expiry() > now) wheel.cancel(victim);
    }
    if (action.rearm_delay) wheel.schedule(*self, now + *action.rearm_delay);
  }
  int id = 0;
  TimerWheel* wheel_ptr = nullptr;
  std::vector<Fire>* log = nullptr;
  std::vector<uint64_t>* fire_counts = nullptr;
  std::vector<DiffNode>* all = nullptr;
};

// Sorted by (tick, id): same-tick order is not part of the contract for independently armed timers.
std::vector<Fire> Canonical(std::vector<Fire> log) {
  std::sort(log.begin(), log.end(), [](const Fire& a, const Fire& b) {
    return std::pair(a.now, a.id) < std::pair(b.now, b.id);
  });
  return log;
}

void RunDifferential(uint64_t start, uint32_t seed, int ops) {
  std::mt19937_64 rng(seed);
  TimerWheel wheel(start);
  ModelWheel model(start);
  std::vector<DiffNode> nodes(kNodes);
  std::vector<Fire> wheel_log, model_log;
  std::vector<uint64_t> wheel_fires(kNodes), model_fires(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    nodes[i].id = i;
    nodes[i].wheel_ptr = &wheel;
    nodes[i].log = &wheel_log;
    nodes[i].fire_counts = &wheel_fires;
    nodes[i].all = &nodes;
  }
  auto delta = [&rng]() -> uint64_t {
    const uint64_t r = rng() % 1000;
    if (r < 400) return rng() % 64;
    if (r < 700) return rng() % 4096;
    if (r < 900) return rng() % (uint64_t{1} << 24);
    if (r < 985) return rng() % (uint64_t{1} << 40);
    return rng() % (uint64_t{1} << 52);  // Beyond the 48-bit range: overflow list.
  };
  uint64_t total_fired = 0;
  for (int op = 0; op < ops; ++op) {
    const uint64_t kind = rng() % 100;
    const int id = int(rng() % kNodes);
    if (kind < 45) {
      uint64_t expiry = wheel.now() + delta();
      if (rng() % 20 == 0) expiry = wheel.now() - std::min<uint64_t>(wheel.now(), rng() % 100);
      wheel.schedule(nodes[id], expiry);
      model.Schedule(id, expiry);
    } else if (kind < 60) {
      ASSERT_EQ(wheel.cancel(nodes[id]), model.Cancel(id)) << "op " << op;
    } else {
      const uint64_t r = rng() % 1000;
      uint64_t step = r < 700   ? rng() % 64
                      : r < 950 ? rng() % 8192
                      : r < 995 ? rng() % (1 << 26)
                                : delta();
      const uint64_t target = wheel.now() + step;
      wheel_log.clear();
      model_log.clear();
      const size_t fired = wheel.advance(target);
      model.Advance(target, &model_log, &model_fires);
      ASSERT_EQ(fired, wheel_log.size());
      for (size_t i = 1; i < wheel_log.size(); ++i) {
        ASSERT_LE(wheel_log[i - 1].now, wheel_log[i].now) << "op " << op;
      }
      ASSERT_EQ(Canonical(wheel_log), Canonical(model_log)) << "op " << op;
      total_fired += fired;
    }
    ASSERT_EQ(wheel.now(), model.now());
    ASSERT_EQ(wheel.size(), model.size()) << "op " << op;
    const std::optional<uint64_t> earliest = model.Earliest();
    const std::optional<uint64_t> deadline = wheel.next_deadline();
    ASSERT_EQ(deadline.has_value(), earliest.has_value());
    if (earliest) {
      ASSERT_LE(*deadline, *earliest) << "op " << op;
      ASSERT_GE(*deadline, wheel.now());
      // Exact whenever the earliest timer is in now()'s 64-tick block, i.e. at level 0 or due.
      if ((*earliest ^ wheel.now()) < 64) {
        ASSERT_EQ(*deadline, *earliest) << "op " << op;
      }
    }
  }
  // Drain everything, including overflow timers, and compare once more.
  wheel_log.clear();
  model_log.clear();
  wheel.advance(UINT64_MAX);
  model.Advance(UINT64_MAX, &model_log, &model_fires);
  ASSERT_EQ(Canonical(wheel_log), Canonical(model_log));
  EXPECT_TRUE(wheel.empty());
  EXPECT_GT(total_fired, uint64_t(ops) / 10);  // The test must actually exercise firing.
}

TEST(TimerWheelDifferentialTest, MatchesMultimapModelFromZero) { RunDifferential(0, 1, 200'000); }

TEST(TimerWheelDifferentialTest, MatchesMultimapModelAcrossA48BitBoundary) {
  RunDifferential(5 * kTick48 - (uint64_t{1} << 30), 2, 200'000);
}

}  // namespace
}  // namespace coronet::coro
