// The memcached text protocol subset: commands parsed in place, limits, errors.
#include "examples/kv/protocol.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace coronet::kv {
namespace {

ParseResult parse(const std::string& s, Command& c, std::size_t max_value = 1024) {
  return parse_command(std::span<const char>(s.data(), s.size()), max_value, c);
}

TEST(KvProtocol, MultiGetKeepsTheKeysInOrder) {
  Command c;
  const std::string s = "get a bb ccc\r\nget next\r\n";
  auto r = parse(s, c);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, 14u);
  EXPECT_EQ(c.op, Op::kGet);
  ASSERT_EQ(c.nkeys, 3u);
  EXPECT_EQ(c.keys[0], "a");
  EXPECT_EQ(c.keys[2], "ccc");
  const std::string bare = "gets  k\n";  // bare LF and doubled spaces, as memcached allows
  auto g = parse(bare, c);  // (the keys are views into the buffer: it must outlive them)
  ASSERT_EQ(g.status, ParseStatus::kComplete);
  EXPECT_EQ(c.op, Op::kGets);
  EXPECT_EQ(c.keys[0], "k");
}

TEST(KvProtocol, SetWaitsForItsWholeDataBlock) {
  const std::string s = "set key 42 100 5 noreply\r\nhello\r\nversion\r\n";
  Command c;
  for (std::size_t n = 0; n < 33; ++n) {
    EXPECT_EQ(parse(s.substr(0, n), c).status, ParseStatus::kNeedMore) << n;
  }
  auto r = parse(s, c);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, 33u);
  EXPECT_EQ(c.op, Op::kSet);
  EXPECT_EQ(c.keys[0], "key");
  EXPECT_EQ(c.flags, 42u);
  EXPECT_EQ(c.exptime, 100);
  EXPECT_EQ(c.data, "hello");
  EXPECT_TRUE(c.noreply);
  auto v = parse(s.substr(r.consumed), c);
  ASSERT_EQ(v.status, ParseStatus::kComplete);
  EXPECT_EQ(c.op, Op::kVersion);
}

TEST(KvProtocol, DataMayContainLineEndsAndBinaryBytes) {
  const std::string s("add k 0 0 6\r\na\r\n\0b\n\r\n", 21);
  Command c;
  auto r = parse(s, c);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(c.op, Op::kAdd);
  EXPECT_EQ(c.data.size(), 6u);
  EXPECT_EQ(c.data[3], '\0');
}

TEST(KvProtocol, ABadDataChunkIsAClientError) {
  Command c;
  auto r = parse("set k 0 0 2\r\nabcd\r\n", c);
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error, "CLIENT_ERROR bad data chunk");
  EXPECT_FALSE(r.fatal);
}

TEST(KvProtocol, AValueTooLargeIsSkippedWithoutBufferingIt) {
  Command c;
  auto r = parse("set k 0 0 5000\r\n", c, 1024);
  ASSERT_EQ(r.status, ParseStatus::kTooLarge);
  EXPECT_EQ(r.consumed, 16u);
  EXPECT_EQ(r.skip, 5002u);
}

// Found by tests/fuzz/kv_protocol_fuzz: a length whose block and "\r\n" do not fit 64 bits wrapped
// the count of bytes to skip (to 1 or 0: the block would be read as commands) and, with a
// max_value that large, the end of the block (a "consumed" inside the command line).
TEST(KvProtocol, LengthsThatCannotBeCountedAreBadFormat) {
  Command c;
  for (const std::string bytes : {"18446744073709551615", "18446744073709551614"}) {
    const std::string s = "set k 0 0 " + bytes + "\r\n";
    auto r = parse(s, c);
    ASSERT_EQ(r.status, ParseStatus::kError) << bytes;
    EXPECT_EQ(r.error, "CLIENT_ERROR bad command line format");
    EXPECT_FALSE(r.fatal);
    EXPECT_EQ(r.consumed, s.size());
  }
  // The largest countable length is too large, and all of its block is skipped.
  auto r = parse("set k 0 0 18446744073709551613\r\n", c);
  ASSERT_EQ(r.status, ParseStatus::kTooLarge);
  EXPECT_EQ(r.skip, std::numeric_limits<std::uint64_t>::max());
  // Without a practical value limit a huge block is awaited, not mistaken for a short one.
  const std::string s = "set k 0 0 18446744073709551612\r\nabc\r\n";
  EXPECT_EQ(parse(s, c, std::numeric_limits<std::size_t>::max()).status, ParseStatus::kNeedMore);
}

TEST(KvProtocol, MalformedCommandsAreErrorsThatConsumeTheLine) {
  Command c;
  struct Case {
    const char* in;
    const char* reply;
  };
  for (const Case& k : {Case{"bogus\r\n", "ERROR"}, Case{"\r\n", "ERROR"}, Case{"get\r\n", "ERROR"},
                        Case{"set k 0 0\r\n", "CLIENT_ERROR bad command line format"},
                        Case{"set k x 0 1\r\n", "CLIENT_ERROR bad command line format"},
                        Case{"set k 0 0 -1\r\n", "CLIENT_ERROR bad command line format"},
                        Case{"set k 0 0 1 yes\r\n", "CLIENT_ERROR bad command line format"},
                        Case{"delete\r\n", "CLIENT_ERROR bad command line format"},
                        Case{"delete k 5\r\n", "CLIENT_ERROR bad command line format"},
                        Case{"stats x\r\n", "ERROR"}}) {
    const std::string s = k.in;
    auto r = parse(s, c);
    ASSERT_EQ(r.status, ParseStatus::kError) << k.in;
    EXPECT_EQ(r.error, k.reply) << k.in;
    EXPECT_EQ(r.consumed, s.size()) << k.in;
  }
}

TEST(KvProtocol, KeyAndLineLimits) {
  Command c;
  const std::string longest(kMaxKeyLength, 'k');
  EXPECT_EQ(parse("get " + longest + "\r\n", c).status, ParseStatus::kComplete);
  EXPECT_EQ(parse("get " + longest + "k\r\n", c).error, "CLIENT_ERROR bad command line format");
  EXPECT_FALSE(valid_key("a\x01"));
  EXPECT_FALSE(valid_key(""));
  std::string many = "get";
  for (std::size_t i = 0; i < kMaxKeys; ++i) many += " k" + std::to_string(i);
  EXPECT_EQ(parse(many + "\r\n", c).status, ParseStatus::kComplete);
  EXPECT_EQ(c.nkeys, kMaxKeys);
  EXPECT_EQ(parse(many + " one-more\r\n", c).error, "CLIENT_ERROR too many keys");
  // No line end within the limit: fatal (the stream cannot be resynchronised).
  const std::string junk(kMaxLine + 1, 'x');
  auto r = parse(junk, c);
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_TRUE(r.fatal);
  EXPECT_EQ(parse(std::string(kMaxLine, 'x'), c).status, ParseStatus::kNeedMore);
}

TEST(KvProtocol, DeleteForms) {
  Command c;
  ASSERT_EQ(parse("delete k\r\n", c).status, ParseStatus::kComplete);
  EXPECT_FALSE(c.noreply);
  ASSERT_EQ(parse("delete k noreply\r\n", c).status, ParseStatus::kComplete);
  EXPECT_TRUE(c.noreply);
  ASSERT_EQ(parse("delete k 0 noreply\r\n", c).status, ParseStatus::kComplete);
  EXPECT_TRUE(c.noreply);
  EXPECT_EQ(c.op, Op::kDelete);
}

}  // namespace
}  // namespace coronet::kv
