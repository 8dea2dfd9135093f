#include "tools/loadgen/http_response.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace coronet::loadgen {
namespace {

using Status = HttpResponseParser::Status;

struct Parsed {
  int status;
  bool keep_alive;
};

// Feeds `stream` in pieces of `piece` bytes and collects every complete response; `error` is set
// if the parser failed; with `at_eof` the stream then ends (finish()).
std::vector<Parsed> parse_all(std::string_view stream, std::size_t piece, bool* error = nullptr,
                              bool at_eof = false) {
  HttpResponseParser p;
  std::vector<Parsed> out;
  if (error != nullptr) *error = false;
  for (std::size_t off = 0; off < stream.size(); off += piece) {
    std::string_view chunk = stream.substr(off, piece);
    while (!chunk.empty()) {
      std::size_t used = 0;
      const Status st = p.feed(std::span(chunk.data(), chunk.size()), used);
      chunk.remove_prefix(used);
      if (st == Status::kError) {
        if (error != nullptr) *error = true;
        return out;
      }
      if (st == Status::kNeedMore) break;
      out.push_back({p.status(), p.keep_alive()});
      p.reset();
    }
  }
  if (at_eof) {
    const Status st = p.finish();
    if (st == Status::kComplete) out.push_back({p.status(), p.keep_alive()});
    if (st == Status::kError && error != nullptr) *error = true;
  }
  return out;
}

// Every split size from 1 byte to the whole stream gives `want` responses.
void expect_same_for_every_split(std::string_view stream, std::size_t want, bool at_eof = false) {
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    bool error = false;
    auto got = parse_all(stream, piece, &error, at_eof);
    ASSERT_FALSE(error) << "piece " << piece;
    ASSERT_EQ(got.size(), want) << "piece " << piece;
  }
}

TEST(HttpResponseParser, ContentLengthBodyEndsTheResponse) {
  const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
  auto got = parse_all(r, r.size());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 200);
  EXPECT_TRUE(got[0].keep_alive);
  expect_same_for_every_split(r, 1);
}

TEST(HttpResponseParser, PipelinedResponsesAreCountedOneByOne) {
  std::string r;
  for (int i = 0; i < 3; ++i) r += "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
  r += "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  auto got = parse_all(r, r.size());
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].status, 404);
  expect_same_for_every_split(r, 4);
}

TEST(HttpResponseParser, ChunkedBodyWithExtensionsAndTrailers) {
  const std::string r =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";
  auto got = parse_all(r, r.size());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].status, 200);
  EXPECT_EQ(got[1].status, 204);
  expect_same_for_every_split(r, 2);
}

TEST(HttpResponseParser, ChunkedWinsOverContentLength) {
  const std::string r =
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n";
  EXPECT_EQ(parse_all(r, r.size()).size(), 1u);
}

TEST(HttpResponseParser, NoBodyFor204And304AndInterim1xxIsSkipped) {
  const std::string r =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";
  auto got = parse_all(r, r.size());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].status, 304);
  EXPECT_EQ(got[1].status, 204);
}

TEST(HttpResponseParser, ConnectionCloseAndHttp10EndPersistence) {
  auto got = parse_all(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", 1000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].keep_alive);
  got = parse_all("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 1000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].keep_alive);
  got = parse_all("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 1000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].keep_alive);
}

TEST(HttpResponseParser, BodyWithoutLengthRunsUntilTheClose) {
  const std::string r = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nsome body bytes";
  EXPECT_TRUE(parse_all(r, r.size()).empty());  // not complete before the close
  auto got = parse_all(r, r.size(), nullptr, /*at_eof=*/true);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].keep_alive);
  expect_same_for_every_split(r, 1, /*at_eof=*/true);
}

TEST(HttpResponseParser, BareLineFeedsAreTolerated) {
  EXPECT_EQ(parse_all("HTTP/1.1 200 OK\nContent-Length: 1\n\nx", 1000).size(), 1u);
}

TEST(HttpResponseParser, CloseMidResponseIsAnErrorAndCloseBetweenResponsesIsNot) {
  HttpResponseParser p;
  EXPECT_EQ(p.finish(), Status::kNeedMore);  // nothing started
  const std::string part = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  std::size_t used = 0;
  EXPECT_EQ(p.feed(std::span(part.data(), part.size()), used), Status::kNeedMore);
  EXPECT_TRUE(p.started());
  EXPECT_EQ(p.finish(), Status::kError);
}

TEST(HttpResponseParser, MalformedInputIsAnError) {
  for (const char* bad :
       {"HTTX/1.1 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"}) {
    bool error = false;
    parse_all(bad, 1000, &error);
    EXPECT_TRUE(error) << bad;
  }
}

TEST(HttpResponseParser, OverlongLinesAreRefused) {
  std::string r = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n";
  bool error = false;
  parse_all(r, 100, &error);
  EXPECT_TRUE(error);
}

TEST(HttpResponseParser, FeedStopsAtTheEndOfEachResponse) {
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA";
  const std::string two = first + "HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\nB";
  HttpResponseParser p;
  std::size_t used = 0;
  ASSERT_EQ(p.feed(std::span(two.data(), two.size()), used), Status::kComplete);
  EXPECT_EQ(used, first.size());
  p.reset();
  std::size_t used2 = 0;
  ASSERT_EQ(p.feed(std::span(two.data() + used, two.size() - used), used2), Status::kComplete);
  EXPECT_EQ(p.status(), 500);
  EXPECT_EQ(used + used2, two.size());
}

}  // namespace
}  // namespace coronet::loadgen
