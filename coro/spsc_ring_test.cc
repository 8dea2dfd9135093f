#include "coro/spsc_ring.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <thread>
#include <vector>

namespace coronet::coro {
namespace {

static_assert(SpscRing<int, 1>::capacity() == 1);
static_assert(SpscRing<int, 16>::capacity() == 16);
static_assert(SpscRing<void*, 1024>::capacity() == 1024);
// Shared indices and storage sit on their own cache lines, so the object is cache-line aligned.
static_assert(alignof(SpscRing<int, 8>) >= 64);

TEST(SpscRingTest, EmptyRingPopsNothing) {
  SpscRing<int, 8> ring;
  int v = 42;
  EXPECT_FALSE(ring.try_pop(v));
  EXPECT_EQ(v, 42);  // untouched
  std::array<int, 4> out{};
  EXPECT_EQ(ring.pop_n(out), 0u);
  EXPECT_EQ(ring.size_approx(), 0u);
  EXPECT_TRUE(ring.empty_approx());
  EXPECT_EQ(ring.staged(), 0u);
}

TEST(SpscRingTest, PublishWithNothingStagedIsNoOp) {
  SpscRing<int, 8> ring;
  ring.publish();
  EXPECT_TRUE(ring.empty_approx());
  int v = 0;
  EXPECT_FALSE(ring.try_pop(v));
}

TEST(SpscRingTest, StagedEntriesInvisibleUntilPublish) {
  SpscRing<int, 8> ring;
  ASSERT_TRUE(ring.try_push(1));
  ASSERT_TRUE(ring.try_push(2));
  ASSERT_TRUE(ring.try_push(3));
  EXPECT_EQ(ring.staged(), 3u);
  EXPECT_TRUE(ring.empty_approx());
  EXPECT_EQ(ring.size_approx(), 0u);
  int v = 0;
  EXPECT_FALSE(ring.try_pop(v));

  ring.publish();
  EXPECT_EQ(ring.staged(), 0u);
  EXPECT_EQ(ring.size_approx(), 3u);

  // Entries staged after a publish stay invisible while the earlier batch drains.
  ASSERT_TRUE(ring.try_push(4));
  EXPECT_EQ(ring.staged(), 1u);
  EXPECT_EQ(ring.size_approx(), 3u);
  std::array<int, 8> out{};
  ASSERT_EQ(ring.pop_n(out), 3u);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], 2);
  EXPECT_EQ(out[2], 3);
  EXPECT_FALSE(ring.try_pop(v));

  ring.publish();
  ASSERT_TRUE(ring.try_pop(v));
  EXPECT_EQ(v, 4);
  EXPECT_TRUE(ring.empty_approx());
}

TEST(SpscRingTest, FullRingRejectsAndRecoversAfterPops) {
  SpscRing<int, 8> ring;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(ring.try_push(i)) << i;
  EXPECT_FALSE(ring.try_push(8));  // full counting staged entries alone
  ring.publish();
  EXPECT_FALSE(ring.try_push(8));  // still full: published but unconsumed
  EXPECT_EQ(ring.size_approx(), 8u);

  std::array<int, 3> out{};
  ASSERT_EQ(ring.pop_n(out), 3u);
  EXPECT_EQ(out, (std::array<int, 3>{0, 1, 2}));

  for (int i = 8; i < 11; ++i) ASSERT_TRUE(ring.try_push(i)) << i;
  EXPECT_FALSE(ring.try_push(11));
  ring.publish();

  std::array<int, 16> all{};
  ASSERT_EQ(ring.pop_n(all), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(all[i], i + 3);
  EXPECT_TRUE(ring.empty_approx());
}

TEST(SpscRingTest, FullCountsStagedPlusUnconsumed) {
  SpscRing<int, 8> ring;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ring.try_push(i));
  ring.publish();
  for (int i = 5; i < 8; ++i) ASSERT_TRUE(ring.try_push(i));
  EXPECT_EQ(ring.staged(), 3u);
  EXPECT_FALSE(ring.try_push(8));
  const std::array<int, 2> more{8, 9};
  EXPECT_EQ(ring.try_push_n(more), 0u);
}

TEST(SpscRingTest, CapacityOneRing) {
  SpscRing<int, 1> ring;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(ring.try_push(i));
    ASSERT_FALSE(ring.try_push(i));
    ring.publish();
    int v = -1;
    ASSERT_TRUE(ring.try_pop(v));
    EXPECT_EQ(v, i);
    EXPECT_FALSE(ring.try_pop(v));
  }
}

TEST(SpscRingTest, WrapAroundManyTimesKeepsExactOrder) {
  SpscRing<uint32_t, 8> ring;
  uint32_t next_push = 0;
  uint32_t next_pop = 0;
  std::vector<uint32_t> batch;
  std::array<uint32_t, 8> out{};
  // Odd, varying batch sizes keep the indices misaligned with the storage end, so both the
  // one-segment and two-segment copy paths of try_push_n/pop_n run many times.
  for (int round = 0; round < 20000; ++round) {
    const size_t push_count = 1 + static_cast<size_t>(round) % 7;
    batch.clear();
    for (size_t i = 0; i < push_count; ++i) batch.push_back(next_push + static_cast<uint32_t>(i));
    size_t pushed = 0;
    if (round % 2 == 0) {
      pushed = ring.try_push_n(batch);
    } else {
      while (pushed < batch.size() && ring.try_push(batch[pushed])) ++pushed;
    }
    next_push += static_cast<uint32_t>(pushed);
    ring.publish();

    const size_t pop_count = 1 + static_cast<size_t>(round * 3) % 8;
    const size_t popped = ring.pop_n(std::span<uint32_t>(out.data(), pop_count));
    for (size_t i = 0; i < popped; ++i) ASSERT_EQ(out[i], next_pop++) << "round " << round;
  }
  // Drain the rest.
  uint32_t v = 0;
  while (ring.try_pop(v)) ASSERT_EQ(v, next_pop++);
  EXPECT_EQ(next_pop, next_push);
  EXPECT_GT(next_push, 20u * 8u);  // wrapped the 8-slot ring thousands of times
}

TEST(SpscRingTest, TryPushNStagesOnlyWhatFits) {
  SpscRing<int, 8> ring;
  const std::array<int, 5> first{0, 1, 2, 3, 4};
  EXPECT_EQ(ring.try_push_n(first), 5u);
  const std::array<int, 6> second{5, 6, 7, 8, 9, 10};
  EXPECT_EQ(ring.try_push_n(second), 3u);  // only 5, 6, 7 fit
  EXPECT_EQ(ring.try_push_n(second), 0u);
  EXPECT_EQ(ring.try_push_n(std::span<const int>()), 0u);
  EXPECT_EQ(ring.staged(), 8u);
  ring.publish();

  std::array<int, 8> out{};
  ASSERT_EQ(ring.pop_n(out), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], i);
}

TEST(SpscRingTest, PopNTakesOnlyWhatIsPublished) {
  SpscRing<int, 8> ring;
  const std::array<int, 3> in{7, 8, 9};
  ASSERT_EQ(ring.try_push_n(in), 3u);
  ring.publish();
  std::array<int, 8> out{};
  EXPECT_EQ(ring.pop_n(std::span<int>()), 0u);
  EXPECT_EQ(ring.pop_n(std::span<int>(out.data(), 2)), 2u);
  EXPECT_EQ(out[0], 7);
  EXPECT_EQ(out[1], 8);
  EXPECT_EQ(ring.pop_n(out), 1u);
  EXPECT_EQ(out[0], 9);
  EXPECT_EQ(ring.pop_n(out), 0u);
}

TEST(SpscRingTest, CarriesPointers) {
  SpscRing<int*, 4> ring;
  int a = 1, b = 2;
  ASSERT_TRUE(ring.try_push(&a));
  ASSERT_TRUE(ring.try_push(&b));
  ring.publish();
  int* p = nullptr;
  ASSERT_TRUE(ring.try_pop(p));
  EXPECT_EQ(p, &a);
  ASSERT_TRUE(ring.try_pop(p));
  EXPECT_EQ(p, &b);
}

TEST(SpscRingTest, HeapAllocatedRingIsCacheLineAligned) {
  auto ring = std::make_unique<SpscRing<uint64_t, 1024>>();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ring.get()) % 64, 0u);
  ASSERT_TRUE(ring->try_push(5));
  ring->publish();
  uint64_t v = 0;
  ASSERT_TRUE(ring->try_pop(v));
  EXPECT_EQ(v, 5u);
}

#if defined(__SANITIZE_THREAD__) || defined(CORONET_TSAN)
constexpr uint64_t kStressCount = 200'000;
#else
constexpr uint64_t kStressCount = 2'000'000;
#endif

TEST(SpscRingTest, TwoThreadStressDeliversExactSequence) {
  using Ring = SpscRing<uint64_t, 256>;
  auto ring = std::make_unique<Ring>();

  std::thread producer([&ring] {
    std::mt19937_64 rng(12345);
    std::uniform_int_distribution<size_t> batch_size(1, 100);
    std::vector<uint64_t> batch;
    uint64_t next = 0;
    while (next < kStressCount) {
      const size_t n = std::min<uint64_t>(batch_size(rng), kStressCount - next);
      batch.clear();
      for (size_t i = 0; i < n; ++i) batch.push_back(next + i);
      size_t done = 0;
      while (done < n) {
        size_t pushed;
        if (n - done == 1 || (rng() & 1) == 0) {
          pushed = ring->try_push_n(std::span<const uint64_t>(batch).subspan(done));
        } else {
          pushed = ring->try_push(batch[done]) ? 1 : 0;
        }
        done += pushed;
        if (pushed == 0) {
          // Ring full: what we staged must be published or the consumer can never free space.
          ring->publish();
          std::this_thread::yield();
        }
      }
      ring->publish();
      EXPECT_EQ(ring->staged(), 0u);
      EXPECT_LE(ring->size_approx(), Ring::capacity());
      next += n;
    }
  });

  // The consumer keeps draining after a mismatch (recording only the first one) so that the
  // producer can always finish and the test fails instead of hanging.
  std::mt19937_64 rng(54321);
  std::uniform_int_distribution<size_t> pop_size(1, 64);
  std::vector<uint64_t> out(64);
  uint64_t received = 0;
  uint64_t mismatches = 0;
  while (received < kStressCount) {
    size_t got;
    if ((rng() & 3) == 0) {
      got = ring->try_pop(out[0]) ? 1 : 0;
    } else {
      got = ring->pop_n(std::span<uint64_t>(out.data(), pop_size(rng)));
    }
    if (got == 0) {
      std::this_thread::yield();
      continue;
    }
    for (size_t i = 0; i < got; ++i, ++received) {
      if (out[i] != received && mismatches++ == 0) {
        ADD_FAILURE() << "expected " << received << " got " << out[i];
      }
    }
    if (ring->size_approx() > Ring::capacity()) ++mismatches;
  }
  producer.join();
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(received, kStressCount);
  uint64_t v = 0;
  EXPECT_FALSE(ring->try_pop(v));
  EXPECT_TRUE(ring->empty_approx());
}

}  // namespace
}  // namespace coronet::coro
