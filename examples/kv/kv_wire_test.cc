// The kv service end to end on coronet's own TCP over the in-memory wire (one reactor, virtual
// time, so every key is local): scripted memcached exchanges checked byte for byte.
#include <gtest/gtest.h>

#include <string>

#include "coro/timeout.h"
#include "coronet/socket.h"
#include "examples/kv/kv.h"
#include "examples/kv/protocol.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::kv {
namespace {

using namespace std::chrono_literals;
using testing::SimPair;

struct KvWire {
  KvWire() : kv(KvConfig{.max_value = 4096}) {
    server = Stack::user(s.b->tcp);
    client = Stack::user(s.a->tcp);
    s.v.reactor.spawn(kv.serve(*server, 11211));
    auto c = s.v.reactor.block_on(client->connect({SimPair::kAddrB, 11211}));
    EXPECT_TRUE(c.has_value()) << c.error().message();
    if (c) conn = std::move(*c);
  }
  // Sends `request` (in pieces of `chunk` bytes) and reads exactly reply.size() bytes back.
  std::string exchange(const std::string& request, std::size_t reply_size, std::size_t chunk = 0) {
    return s.v.reactor.block_on([&]() -> coro::Task<std::string> {
      const std::size_t step = chunk == 0 ? request.size() : chunk;
      for (std::size_t i = 0; i < request.size(); i += step) {
        auto piece = std::string_view(request).substr(i, step);
        if (!co_await conn.write(std::as_bytes(std::span(piece)))) co_return "write failed";
      }
      std::string got(reply_size, '\0');
      auto r = co_await coro::with_timeout(conn.read_exactly(std::as_writable_bytes(std::span(got))), 5s);
      if (!r) co_return "read failed (" + r.error().message() + "): " + got;
      co_return got;
    }());
  }
  std::string expect(const std::string& request, const std::string& reply, std::size_t chunk = 0) {
    return exchange(request, reply.size(), chunk);
  }

  SimPair s;
  KvService kv;
  std::optional<Stack> server, client;
  Connection conn;
};

TEST(KvWire, SetGetDeleteRoundTrip) {
  KvWire w;
  const std::string stored = "STORED\r\n";
  EXPECT_EQ(w.expect("set greeting 5 0 5\r\nhello\r\n", stored), stored);
  const std::string value = "VALUE greeting 5 5\r\nhello\r\nEND\r\n";
  EXPECT_EQ(w.expect("get greeting\r\n", value), value);
  const std::string miss = "END\r\n";
  EXPECT_EQ(w.expect("get nothing\r\n", miss), miss);
  EXPECT_EQ(w.expect("delete greeting\r\n", "DELETED\r\n"), "DELETED\r\n");
  EXPECT_EQ(w.expect("delete greeting\r\n", "NOT_FOUND\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(w.expect("get greeting\r\n", miss), miss);
}

TEST(KvWire, PipelinedCommandsSplitIntoSingleBytesGetEveryReplyInOrder) {
  KvWire w;
  const std::string req =
      "set a 1 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\nadd b 2 0 3\r\nbee\r\nset q 0 0 1 noreply\r\nz\r\n"
      "get a b missing q\r\nversion\r\n";
  const std::string reply =
      "STORED\r\nNOT_STORED\r\nSTORED\r\n"
      "VALUE a 1 1\r\nx\r\nVALUE b 2 3\r\nbee\r\nVALUE q 0 1\r\nz\r\nEND\r\n"
      "VERSION coronet-kv 1.0\r\n";
  EXPECT_EQ(w.expect(req, reply, 1), reply);
}

TEST(KvWire, GetsCarriesACasThatChangesOnEveryStore) {
  KvWire w;
  w.expect("set k 0 0 1\r\na\r\n", "STORED\r\n");
  const std::string first = w.exchange("gets k\r\n", std::string("VALUE k 0 1 1\r\na\r\nEND\r\n").size());
  EXPECT_EQ(first, "VALUE k 0 1 1\r\na\r\nEND\r\n");
  w.expect("set k 0 0 1\r\nb\r\n", "STORED\r\n");
  EXPECT_EQ(w.exchange("gets k\r\n", first.size()), "VALUE k 0 1 2\r\nb\r\nEND\r\n");
}

TEST(KvWire, ATooLargeValueIsRefusedAndItsDataSkipped) {
  KvWire w;
  const std::string big(10000, 'x');
  const std::string reply = "SERVER_ERROR object too large for cache\r\nVERSION coronet-kv 1.0\r\n";
  EXPECT_EQ(w.expect("set big 0 0 10000\r\n" + big + "\r\nversion\r\n", reply, 1500), reply);
  EXPECT_EQ(w.expect("get big\r\n", "END\r\n"), "END\r\n");
  // The largest accepted value arrives in many segments and comes back whole.
  const std::string most(4096, 'y');
  EXPECT_EQ(w.expect("set most 0 0 4096\r\n" + most + "\r\n", "STORED\r\n"), "STORED\r\n");
  const std::string value = "VALUE most 0 4096\r\n" + most + "\r\nEND\r\n";
  EXPECT_EQ(w.expect("get most\r\n", value), value);
}

TEST(KvWire, ErrorsAreAnsweredAndTheSessionGoesOn) {
  KvWire w;
  const std::string reply =
      "ERROR\r\nCLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad data chunk\r\n"
      "ERROR\r\nVERSION coronet-kv 1.0\r\n";  // the 1-byte block "a" + "bc": the stray line end
                                               // after "abc" is an empty command
  EXPECT_EQ(w.expect("bogus\r\nset k x 0 1\r\nset k 0 0 1\r\nabc\r\nversion\r\n", reply), reply);
}

TEST(KvWire, StatsCountItemsAndQuitCloses) {
  KvWire w;
  w.expect("set a 0 0 2\r\nxy\r\n", "STORED\r\n");
  w.expect("set b 0 0 3\r\nxyz\r\n", "STORED\r\n");
  const std::string stats =
      "STAT core0_items 2\r\nSTAT core0_bytes 7\r\nSTAT threads 1\r\nSTAT curr_items 2\r\n"
      "STAT bytes 7\r\nEND\r\n";
  EXPECT_EQ(w.expect("stats\r\n", stats), stats);
  const std::string q = "quit\r\n";
  auto eof = w.s.v.reactor.block_on([&]() -> coro::Task<Result<std::size_t>> {
    (void)co_await w.conn.write(std::as_bytes(std::span(q)));
    std::byte b[8];
    co_return co_await coro::with_timeout(w.conn.read(b), 5s);
  }());
  ASSERT_TRUE(eof.has_value());
  EXPECT_EQ(*eof, 0u);  // the server closed
}

TEST(KvWire, AnEndlessLineClosesTheConnection) {
  KvWire w;
  const std::string junk(kMaxLine + 100, 'j');
  const std::string reply = "CLIENT_ERROR line too long\r\n";
  EXPECT_EQ(w.expect(junk, reply), reply);
}

}  // namespace
}  // namespace coronet::kv
