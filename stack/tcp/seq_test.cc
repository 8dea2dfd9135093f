// SeqNum: modular comparison across the 2^32 wrap (RFC 9293 §3.4).
#include "stack/tcp/seq.h"

#include <gtest/gtest.h>

namespace coronet::stack::tcp {
namespace {

TEST(SeqNum, ComparesModularlyAcrossTheWrap) {
  SeqNum near_end(0xfffffff0u);
  SeqNum wrapped = near_end + 0x20;
  EXPECT_EQ(wrapped.raw(), 0x10u);
  EXPECT_LT(near_end, wrapped);
  EXPECT_GT(wrapped, near_end);
  EXPECT_EQ(wrapped - near_end, 0x20);
  EXPECT_EQ(near_end - wrapped, -0x20);
}

TEST(SeqNum, HalfSpaceDecidesOrder) {
  SeqNum a(0);
  EXPECT_LT(a, a + 0x7fffffffu);
  EXPECT_GT(a, a + 0x80000001u);  // more than half the space ahead means behind
}

TEST(SeqNum, InRangeIsHalfOpen) {
  SeqNum lo(0xfffffffeu);
  SeqNum hi = lo + 4;
  EXPECT_TRUE(lo.in_range(lo, hi));
  EXPECT_TRUE((lo + 3).in_range(lo, hi));
  EXPECT_FALSE(hi.in_range(lo, hi));
  EXPECT_FALSE((lo - 1).in_range(lo, hi));
  EXPECT_FALSE(lo.in_range(lo, lo));  // empty window accepts nothing
}

TEST(SeqNum, MinMax) {
  SeqNum a(0xffffffffu);
  SeqNum b(1);
  EXPECT_EQ(seq_max(a, b), b);
  EXPECT_EQ(seq_min(a, b), a);
}

}  // namespace
}  // namespace coronet::stack::tcp
