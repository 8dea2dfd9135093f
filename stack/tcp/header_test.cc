// The SACK option in the header codec, against RFC 2018 §3: kind 5, length 2 + 8n, n blocks of
// left/right edges in network byte order, at most four blocks in the 40 option bytes and three
// alongside timestamps. Malformed lists must stop parsing without reading past the header;
// every buffer below is exactly as long as the segment so that ASan sees any overread.
#include "stack/tcp/header.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

namespace coronet::stack::tcp {
namespace {

constexpr std::uint8_t kEnd = 0;
constexpr std::uint8_t kNop = 1;
constexpr std::uint8_t kMss = 2;
constexpr std::uint8_t kSackKind = 5;
constexpr std::uint8_t kTs = 8;
constexpr std::uint32_t kMaxOptions = kMaxHeader - kMinHeader;  // 40

std::vector<std::byte> encode(const TcpHeader& h) {
  std::vector<std::byte> out(kMinHeader + options_length(h.options));
  write_header(h, out);
  return out;
}

std::optional<TcpHeader> decode(const std::vector<std::byte>& seg, ParseError* err = nullptr) {
  return parse_header(std::span<const std::byte>(seg.data(), seg.size()), err);
}

std::uint32_t be32(const std::vector<std::byte>& v, std::size_t at) {
  return (std::uint32_t{static_cast<std::uint8_t>(v[at])} << 24) |
         (std::uint32_t{static_cast<std::uint8_t>(v[at + 1])} << 16) |
         (std::uint32_t{static_cast<std::uint8_t>(v[at + 2])} << 8) |
         std::uint32_t{static_cast<std::uint8_t>(v[at + 3])};
}

// A segment with a fixed 20-byte header and the given raw option bytes, padded with End of
// Option List to a multiple of four (the data offset counts words).
std::vector<std::byte> raw_segment(std::initializer_list<int> options) {
  std::vector<std::byte> seg(kMinHeader);
  seg[12] = std::byte{0x50};  // data offset 5 for now
  seg[13] = std::byte{0x10};  // ACK
  for (int b : options) seg.push_back(static_cast<std::byte>(b));
  while (seg.size() % 4 != 0) seg.push_back(std::byte{kEnd});
  seg[12] = static_cast<std::byte>((seg.size() / 4) << 4);
  return seg;
}

// Four bytes of a 32-bit value, most significant first, for raw option lists.
#define BE32(v) (((v) >> 24) & 0xff), (((v) >> 16) & 0xff), (((v) >> 8) & 0xff), ((v) & 0xff)

TcpHeader ack_header() {
  TcpHeader h;
  h.src_port = 80;
  h.dst_port = 40000;
  h.seq = SeqNum(1000);
  h.ack = SeqNum(0x12345678);
  h.flags = flag::kAck;
  h.window = 512;
  return h;
}

// Blocks whose edges include ones just below and above 2^32.
constexpr SackBlock kBlocks[kMaxSackBlocks] = {
    {SeqNum(0xFFFFFF00u), SeqNum(0x00000100u)},
    {SeqNum(0x00001000u), SeqNum(0x00002000u)},
    {SeqNum(0x80000000u), SeqNum(0x80000010u)},
    {SeqNum(0x7FFFFFF0u), SeqNum(0x7FFFFFFFu)},
};

class SackBlocks : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(Count, SackBlocks, ::testing::Range(1, 5));

TEST_P(SackBlocks, RoundTripAlone) {
  const auto n = static_cast<std::uint8_t>(GetParam());
  TcpHeader h = ack_header();
  h.options.sack_count = n;
  for (std::uint8_t i = 0; i < n; ++i) h.options.sack[i] = kBlocks[i];

  // 2 + 8n bytes of option, aligned with two NOPs: 4 + 8n, within the 40 option bytes.
  ASSERT_EQ(options_length(h.options), 4u + 8u * n);
  ASSERT_LE(options_length(h.options), kMaxOptions);
  const auto seg = encode(h);
  EXPECT_EQ(static_cast<std::size_t>(static_cast<std::uint8_t>(seg[12]) >> 4), seg.size() / 4);

  // The wire format: kind 5, length 2 + 8n, then the edges in network byte order.
  std::size_t at = kMinHeader;
  while (static_cast<std::uint8_t>(seg[at]) == kNop) ++at;
  ASSERT_EQ(static_cast<std::uint8_t>(seg[at]), kSackKind);
  ASSERT_EQ(static_cast<std::uint8_t>(seg[at + 1]), 2 + 8 * n);
  ASSERT_EQ(at + 2 + 8u * n, seg.size());
  for (std::uint8_t i = 0; i < n; ++i) {
    EXPECT_EQ(be32(seg, at + 2 + 8 * i), kBlocks[i].left.raw()) << "block " << int{i};
    EXPECT_EQ(be32(seg, at + 6 + 8 * i), kBlocks[i].right.raw()) << "block " << int{i};
  }

  ParseError err{};
  auto back = decode(seg, &err);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->header_len(), seg.size());
  EXPECT_EQ(back->seq, h.seq);
  EXPECT_EQ(back->ack, h.ack);
  EXPECT_EQ(back->flags, h.flags);
  EXPECT_EQ(back->window, h.window);
  ASSERT_EQ(back->options.sack_count, n);
  for (std::uint8_t i = 0; i < n; ++i) {
    EXPECT_EQ(back->options.sack[i].left, kBlocks[i].left) << "block " << int{i};
    EXPECT_EQ(back->options.sack[i].right, kBlocks[i].right) << "block " << int{i};
  }
  EXPECT_FALSE(back->options.ts_val.has_value());
  EXPECT_FALSE(back->options.mss.has_value());
}

TEST_P(SackBlocks, RoundTripWithTimestamps) {
  const auto n = static_cast<std::uint8_t>(GetParam());
  TcpHeader h = ack_header();
  h.options.ts_val = 0xDEADBEEFu;
  h.options.ts_ecr = 0x01020304u;
  h.options.sack_count = n;
  for (std::uint8_t i = 0; i < n; ++i) h.options.sack[i] = kBlocks[i];

  // Timestamps take 10 bytes (12 aligned), so only three blocks fit with them (RFC 2018 §3).
  const std::uint32_t len = options_length(h.options);
  EXPECT_EQ(len, 12u + 4u + 8u * n);
  if (n > 3) {
    EXPECT_GT(len, kMaxOptions) << "four blocks and timestamps do not fit a TCP header";
    return;
  }
  ASSERT_LE(len, kMaxOptions);

  const auto seg = encode(h);
  auto back = decode(seg);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->header_len(), kMinHeader + len);
  ASSERT_TRUE(back->options.ts_val.has_value());
  ASSERT_TRUE(back->options.ts_ecr.has_value());
  EXPECT_EQ(*back->options.ts_val, 0xDEADBEEFu);
  EXPECT_EQ(*back->options.ts_ecr, 0x01020304u);
  ASSERT_EQ(back->options.sack_count, n);
  for (std::uint8_t i = 0; i < n; ++i) {
    EXPECT_EQ(back->options.sack[i].left, kBlocks[i].left);
    EXPECT_EQ(back->options.sack[i].right, kBlocks[i].right);
  }
}

TEST(SackOption, NoBlocksWritesNoOption) {
  TcpHeader h = ack_header();
  EXPECT_EQ(options_length(h.options), 0u);
  const auto seg = encode(h);
  EXPECT_EQ(seg.size(), kMinHeader);
  auto back = decode(seg);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->options.sack_count, 0);
}

TEST(SackOption, ParsesUnpaddedListsFromOtherStacks) {
  // No NOP alignment at all: SACK straight after MSS, timestamps straight after SACK.
  auto seg = raw_segment({kMss, 4, 0x05, 0xb4,                                  //
                          kSackKind, 18, BE32(100u), BE32(200u), BE32(300u), BE32(400u),  //
                          kTs, 10, BE32(7u), BE32(9u)});
  auto h = decode(seg);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->options.mss, 1460);
  ASSERT_EQ(h->options.sack_count, 2);
  EXPECT_EQ(h->options.sack[0].left, SeqNum(100));
  EXPECT_EQ(h->options.sack[0].right, SeqNum(200));
  EXPECT_EQ(h->options.sack[1].left, SeqNum(300));
  EXPECT_EQ(h->options.sack[1].right, SeqNum(400));
  EXPECT_EQ(h->options.ts_val, 7u);
  EXPECT_EQ(h->options.ts_ecr, 9u);
}

// ---- Bogus SACK lengths: the option is ignored, the options after it still parse ---------------

TEST(SackOption, ZeroBlocksIsIgnored) {
  auto seg = raw_segment({kSackKind, 2, kNop, kNop, kTs, 10, BE32(11u), BE32(22u)});
  auto h = decode(seg);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->options.sack_count, 0);
  EXPECT_EQ(h->options.ts_val, 11u);
  EXPECT_EQ(h->options.ts_ecr, 22u);
}

TEST(SackOption, LengthNotTwoPlusEightNIsIgnored) {
  for (int len : {3, 9, 11, 17, 19, 25}) {
    // The bogus option is followed by exactly (len - 2) value bytes, then MSS and timestamps.
    std::vector<int> opts = {kSackKind, len};
    for (int i = 0; i < len - 2; ++i) opts.push_back(0xAA);
    for (int b : std::initializer_list<int>{kMss, 4, 0x02, 0x18, kTs, 10, BE32(5u), BE32(6u)}) {
      opts.push_back(b);
    }
    std::vector<std::byte> seg(kMinHeader);
    for (int b : opts) seg.push_back(static_cast<std::byte>(b));
    while (seg.size() % 4 != 0) seg.push_back(std::byte{kEnd});
    ASSERT_LE(seg.size(), kMaxHeader);
    seg[12] = static_cast<std::byte>((seg.size() / 4) << 4);

    auto h = decode(seg);
    ASSERT_TRUE(h.has_value()) << "len " << len;
    EXPECT_EQ(h->options.sack_count, 0) << "len " << len;
    EXPECT_EQ(h->options.mss, 536) << "len " << len;
    EXPECT_EQ(h->options.ts_val, 5u) << "len " << len;
    EXPECT_EQ(h->options.ts_ecr, 6u) << "len " << len;
  }
}

TEST(SackOption, MoreThanFourBlocksIsIgnored) {
  // Five blocks (length 42) cannot fit the 40 option bytes, so such an option always runs past
  // the header: what came before it stays parsed, no SACK is taken, nothing past the header is
  // read.
  std::vector<int> opts = {kMss, 4, 0x05, 0xb4, kSackKind, 42};
  for (int i = 0; i < 34; ++i) opts.push_back(0x11);  // fills the header to 60 bytes
  std::vector<std::byte> seg(kMinHeader);
  for (int b : opts) seg.push_back(static_cast<std::byte>(b));
  ASSERT_EQ(seg.size(), kMaxHeader);
  seg[12] = std::byte{0xF0};
  auto h = decode(seg);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->options.mss, 1460);
  EXPECT_EQ(h->options.sack_count, 0);

  // The same bytes followed by payload that happens to look like the rest of the option: the
  // option still may not reach into the payload.
  std::vector<std::byte> with_payload = seg;
  for (int i = 0; i < 16; ++i) with_payload.push_back(std::byte{0x22});
  h = decode(with_payload);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->options.sack_count, 0);
}

TEST(SackOption, ALaterBogusSackDoesNotEraseAnEarlierGoodOne) {
  // Two SACK options, the second malformed (length 11): the first one's blocks stand.
  std::vector<int> opts = {kSackKind, 10, BE32(100u), BE32(200u), kSackKind, 11};
  for (int i = 0; i < 9; ++i) opts.push_back(0);
  std::vector<std::byte> seg(kMinHeader);
  for (int b : opts) seg.push_back(static_cast<std::byte>(b));
  while (seg.size() % 4 != 0) seg.push_back(std::byte{kEnd});
  seg[12] = static_cast<std::byte>((seg.size() / 4) << 4);
  auto h = decode(seg);
  ASSERT_TRUE(h.has_value());
  ASSERT_EQ(h->options.sack_count, 1);
  EXPECT_EQ(h->options.sack[0].left, SeqNum(100));
  EXPECT_EQ(h->options.sack[0].right, SeqNum(200));
}

// ---- Truncated option lists stop safely --------------------------------------------------------

TEST(SackOption, KindWithoutLengthAtTheEnd) {
  // MSS, then NOPs, then a SACK kind in the very last option byte.
  auto seg = raw_segment({kMss, 4, 0x05, 0xb4, kNop, kNop, kNop, kSackKind});
  ASSERT_EQ(seg.size(), 28u);
  auto h = decode(seg);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->options.mss, 1460);
  EXPECT_EQ(h->options.sack_count, 0);
}

TEST(SackOption, BlocksCutOffByTheEndOfTheHeader) {
  // Claims two blocks (18 bytes) with room for one: nothing is taken from it.
  auto seg = raw_segment({kTs, 10, BE32(1u), BE32(2u), kSackKind, 18, BE32(100u), BE32(200u)});
  ASSERT_EQ(seg.size(), 40u);
  auto h = decode(seg);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->options.ts_val, 1u);
  EXPECT_EQ(h->options.sack_count, 0);
}

TEST(SackOption, LengthBelowTwoStops) {
  for (int len : {0, 1}) {
    auto seg = raw_segment({kSackKind, len, kTs, 10, BE32(1u), BE32(2u)});
    auto h = decode(seg);
    ASSERT_TRUE(h.has_value()) << "len " << len;
    EXPECT_EQ(h->options.sack_count, 0) << "len " << len;
    EXPECT_FALSE(h->options.ts_val.has_value()) << "len " << len;  // nothing after it is trusted
  }
}

TEST(SackOption, EndOfListStopsBeforeASackOption) {
  auto seg = raw_segment({kNop, kNop, kEnd, kNop, kSackKind, 10, BE32(100u), BE32(200u)});
  auto h = decode(seg);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->options.sack_count, 0);
}

TEST(SackOption, HeaderLengthsOutsideTheSegment) {
  // A data offset past the bytes present, or under 5, or a segment under 20 bytes.
  auto seg = raw_segment({kNop, kNop, kSackKind, 10, BE32(100u), BE32(200u)});
  ParseError err{};
  std::vector<std::byte> cut(seg.begin(), seg.end() - 4);  // data offset still says 32 bytes
  EXPECT_FALSE(decode(cut, &err).has_value());
  EXPECT_EQ(err, ParseError::kBadDataOffset);

  std::vector<std::byte> low = seg;
  low[12] = std::byte{0x40};
  EXPECT_FALSE(decode(low, &err).has_value());
  EXPECT_EQ(err, ParseError::kBadDataOffset);

  std::vector<std::byte> tiny(seg.begin(), seg.begin() + 19);
  EXPECT_FALSE(decode(tiny, &err).has_value());
  EXPECT_EQ(err, ParseError::kTruncated);
}

TEST(SackOption, EveryTruncationOfAFullHeaderIsSafe) {
  // Timestamps and three blocks: a full 60-byte header. Cut it at every length and also claim
  // every data offset: parsing either fails cleanly or returns only whole options.
  TcpHeader h = ack_header();
  h.options.ts_val = 42;
  h.options.ts_ecr = 43;
  h.options.sack_count = 3;
  for (std::uint8_t i = 0; i < 3; ++i) h.options.sack[i] = kBlocks[i];
  const auto full = encode(h);
  ASSERT_EQ(full.size(), kMaxHeader);
  for (std::size_t size = 0; size <= full.size(); ++size) {
    for (std::uint8_t off = 0; off < 16; ++off) {
      std::vector<std::byte> seg(full.begin(), full.begin() + static_cast<long>(size));
      if (size > 12) seg[12] = static_cast<std::byte>(off << 4);
      auto back = decode(seg);
      if (!back) continue;
      ASSERT_GE(off, 5);
      ASSERT_LE(back->header_len(), size);
      if (back->options.sack_count != 0) {
        EXPECT_EQ(back->options.sack_count, 3);  // whole, or not at all
        EXPECT_EQ(back->header_len(), kMaxHeader);
      }
    }
  }
}

}  // namespace
}  // namespace coronet::stack::tcp
