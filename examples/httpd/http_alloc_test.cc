// Proves the steady state of the HTTP message layer allocates nothing: parsing (plain, pipelined,
// chunked) and writing responses with every global operator new counted.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "examples/httpd/http_parser.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// Counting replacements of the global allocation functions (the sized/aligned variants of the
// standard library forward to these two).
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// Frees memory from the counting operator new.
void operator delete(void* p) noexcept { std::free(p); }
// Sized delete, forwarded.
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace coronet::http {
namespace {

TEST(HttpAlloc, ParseAndRespondAllocateNothing) {
  const std::string pipelined =
      "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\n"
      "Accept: */*\r\nConnection: keep-alive, Upgrade\r\n\r\n"
      "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"
      "PUT /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n";
  std::array<char, 1024> in;
  std::array<char, 2048> out;
  const Header extra[] = {{"Server", "coronet"}};
  Parser parser;
  Request req;

  const long before = g_allocations.load();
  for (int round = 0; round < 1000; ++round) {
    // Fresh bytes each round (chunked decoding rewrites them in place).
    std::copy(pipelined.begin(), pipelined.end(), in.begin());
    std::span<char> buf(in.data(), pipelined.size());
    ResponseWriter w(out);
    int requests = 0;
    while (!buf.empty()) {
      // Arrives in two reads: everything but the last byte, then all of it.
      Result r = parser.parse(buf.first(buf.size() - 1), req);
      if (!r.complete()) r = parser.parse(buf, req);
      ASSERT_TRUE(r.complete());
      ASSERT_TRUE(w.respond(req, 200, req.body, "text/plain", extra));
      buf = buf.subspan(r.consumed);
      ++requests;
    }
    ASSERT_EQ(requests, 3);
  }
  EXPECT_EQ(g_allocations.load() - before, 0);

  // The counter sees allocations at all (the replacement is in effect).
  auto* probe = new std::string(100, 'x');
  EXPECT_GT(g_allocations.load() - before, 0);
  delete probe;
}

}  // namespace
}  // namespace coronet::http
