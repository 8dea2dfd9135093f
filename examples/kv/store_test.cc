// One core's store: memcached's expiry rules, add, the per-core memory bound.
#include "examples/kv/store.h"

#include <gtest/gtest.h>

namespace coronet::kv {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

TEST(KvStore, SetGetReplaceAndCasChanges) {
  Store s(1 << 20);
  EXPECT_EQ(s.store("k", 7, 0, "one", kNow, false), StoreResult::kStored);
  const Item* a = s.get("k", kNow);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->data, "one");
  EXPECT_EQ(a->flags, 7u);
  const std::uint64_t cas = a->cas;
  EXPECT_EQ(s.store("k", 8, 0, "two!", kNow, false), StoreResult::kStored);
  const Item* b = s.get("k", kNow);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->data, "two!");
  EXPECT_NE(b->cas, cas);
  EXPECT_EQ(s.items(), 1u);
  EXPECT_EQ(s.bytes(), 5u);
}

TEST(KvStore, AddOnlyWhenAbsentOrExpired) {
  Store s(1 << 20);
  EXPECT_EQ(s.store("k", 0, 10, "v", kNow, true), StoreResult::kStored);
  EXPECT_EQ(s.store("k", 0, 0, "w", kNow, true), StoreResult::kNotStored);
  EXPECT_EQ(s.store("k", 0, 0, "w", kNow + 10, true), StoreResult::kStored);  // expired
  EXPECT_EQ(s.get("k", kNow + 10)->data, "w");
}

TEST(KvStore, ExpiryRelativeAbsoluteNegative) {
  Store s(1 << 20);
  s.store("rel", 0, 60, "v", kNow, false);
  s.store("abs", 0, kNow + 5, "v", kNow, false);
  s.store("neg", 0, -1, "v", kNow, false);
  EXPECT_NE(s.get("rel", kNow + 59), nullptr);
  EXPECT_EQ(s.get("rel", kNow + 60), nullptr);
  EXPECT_NE(s.get("abs", kNow + 4), nullptr);
  EXPECT_EQ(s.get("abs", kNow + 5), nullptr);
  EXPECT_EQ(s.get("neg", kNow), nullptr);
  EXPECT_EQ(s.items(), 0u);  // expired items are dropped when looked at
  EXPECT_EQ(s.bytes(), 0u);
}

TEST(KvStore, DeleteSaysWhetherALiveItemWasThere) {
  Store s(1 << 20);
  s.store("k", 0, 0, "v", kNow, false);
  EXPECT_TRUE(s.erase("k", kNow));
  EXPECT_FALSE(s.erase("k", kNow));
  s.store("old", 0, 1, "v", kNow, false);
  EXPECT_FALSE(s.erase("old", kNow + 2));
}

TEST(KvStore, TheMemoryBoundRefusesWhatDoesNotFit) {
  Store s(10);
  EXPECT_EQ(s.store("a", 0, 0, "123456789", kNow, false), StoreResult::kStored);  // 10 bytes
  EXPECT_EQ(s.store("b", 0, 0, "x", kNow, false), StoreResult::kNoMemory);
  EXPECT_EQ(s.store("a", 0, 0, "12345678", kNow, false), StoreResult::kStored);  // replaces
  EXPECT_EQ(s.store("b", 0, 0, "", kNow, false), StoreResult::kStored);
  EXPECT_EQ(s.bytes(), 10u);
}

}  // namespace
}  // namespace coronet::kv
