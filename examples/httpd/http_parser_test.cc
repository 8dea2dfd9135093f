// Tests of the HTTP/1.1 request parser and response writer (examples/httpd/http_parser.h).
#include "examples/httpd/http_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "examples/httpd/http_snapshot.h"

namespace coronet::http {
namespace {

// Parses `text` handed over in one piece.
Snapshot parse_whole(const std::string& text, Limits limits = {}) {
  std::vector<char> buf(text.begin(), text.end());
  Parser parser(limits);
  Request req;
  Result r = parser.parse(buf, req);
  return snap(r, req);
}

// Parses `text` delivered as two reads split at `split`; between the calls the bytes move to a
// new buffer (as when a receive buffer is compacted), so views must be rebased.
Snapshot parse_split(const std::string& text, std::size_t split, Limits limits = {}) {
  std::vector<char> first(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(split));
  Parser parser(limits);
  Request req;
  Result r = parser.parse(first, req);
  if (!r.need_more()) return snap(r, req);
  // Carry the (possibly rewritten) bytes received so far, then append the rest.
  std::vector<char> second(first);
  second.insert(second.end(), text.begin() + static_cast<std::ptrdiff_t>(split), text.end());
  r = parser.parse(second, req);
  std::fill(first.begin(), first.end(), '#');  // views left pointing at the old bytes would show
  return snap(r, req);
}

// Parses `text` arriving one byte at a time into one growing buffer. Every proper prefix must
// need more unless an error is found; returns the first non-kNeedMore result.
Snapshot parse_bytewise(const std::string& text, Limits limits = {}) {
  std::vector<char> buf(text.begin(), text.end());
  Parser parser(limits);
  Request req;
  for (std::size_t len = 0; len <= buf.size(); ++len) {
    Result r = parser.parse(std::span<char>(buf.data(), len), req);
    if (!r.need_more()) return snap(r, req);
  }
  return Snapshot{};
}

const std::vector<std::string>& valid_requests() {
  static const std::vector<std::string> requests = {
      "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
      "GET /search?q=coronet&lang=en HTTP/1.1\r\nHost: example.com:8080\r\n"
      "User-Agent:   curl/8.0  \r\nAccept:\t*/*\t\r\nX-Empty:\r\nX-Tab: a\tb\r\n\r\n",
      "GET /bare-lf HTTP/1.1\nHost: h\nAccept: */*\n\n",
      "\r\n\nGET /after-empty-lines HTTP/1.1\r\nHost: h\r\n\r\n",
      "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
      "Content-Length: 11\r\n\r\nhello world",
      "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value;x=\"quoted ext\"\r\nhello\r\n1 ; ext\r\n \r\nA\r\n0123456789\r\n"
      "0;last=1\r\nTrailer-One: 1\r\nTrailer-Two: two\r\n\r\n",
      "POST /chunked-lf HTTP/1.1\nHost: h\nTransfer-Encoding: Chunked\n\n3\nabc\n0\n\n",
      "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "GET /old-close HTTP/1.0\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET http://example.com/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
      "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
      "GET /minor HTTP/1.2\r\nHost: h\r\n\r\n",
      "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc",
      "DELETE /x HTTP/1.1\r\nHost: h\r\nX-Obs-Text: caf\xc3\xa9\r\nConnection: close\r\n\r\n",
      "PATCH /x HTTP/1.1\r\nHost: [::1]:80\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
      "POST /empty-chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  };
  return requests;
}

TEST(HttpParser, ValidRequestsParseTheSameAtEverySplit) {
  for (const std::string& text : valid_requests()) {
    SCOPED_TRACE(text);
    const Snapshot whole = parse_whole(text);
    ASSERT_EQ(whole.status, ParseStatus::kComplete);
    EXPECT_EQ(whole.consumed, text.size());
    for (std::size_t split = 0; split <= text.size(); ++split) {
      ASSERT_EQ(parse_split(text, split), whole) << "split at " << split;
    }
    ASSERT_EQ(parse_bytewise(text), whole);
  }
}

TEST(HttpParser, SimpleGetFields) {
  std::string text = "GET /search?q=1&r=2 HTTP/1.1\r\nHost: example.com\r\nAccept:  */* \r\n\r\n";
  Parser parser;
  Request req;
  Result r = parser.parse(std::span<char>(text.data(), text.size()), req);
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(r.consumed, text.size());
  EXPECT_EQ(req.method, Method::kGet);
  EXPECT_EQ(req.method_name, "GET");
  EXPECT_EQ(req.target, "/search?q=1&r=2");
  EXPECT_EQ(req.path, "/search");
  EXPECT_EQ(req.query, "q=1&r=2");
  EXPECT_EQ(req.version, Version::kHttp11);
  ASSERT_EQ(req.header_count, 2u);
  EXPECT_EQ(req.headers()[1].value, "*/*");
  ASSERT_NE(req.find_header("HOST"), nullptr);
  EXPECT_EQ(req.find_header("host")->value, "example.com");
  EXPECT_EQ(req.find_header("aCCePt")->value, "*/*");
  EXPECT_EQ(req.find_header("Accept-Encoding"), nullptr);
  EXPECT_TRUE(req.keep_alive);
  EXPECT_TRUE(req.body.empty());
  // Views point into the caller's buffer: no copies.
  EXPECT_EQ(req.path.data(), text.data() + 4);
}

TEST(HttpParser, MethodsAndTargetForms) {
  struct Case {
    std::string text;
    Method method;
    std::string path, query;
  };
  const std::vector<Case> cases = {
      {"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n", Method::kHead, "/h", ""},
      {"POST /p HTTP/1.1\r\nHost: h\r\n\r\n", Method::kPost, "/p", ""},
      {"PUT /u HTTP/1.1\r\nHost: h\r\n\r\n", Method::kPut, "/u", ""},
      {"DELETE /d HTTP/1.1\r\nHost: h\r\n\r\n", Method::kDelete, "/d", ""},
      {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", Method::kOptions, "*", ""},
      {"get / HTTP/1.1\r\nHost: h\r\n\r\n", Method::kOther, "/", ""},  // case-sensitive
      {"GET http://h/a?b HTTP/1.1\r\nHost: h\r\n\r\n", Method::kGet, "/a", "b"},
      {"GET https://h?b HTTP/1.1\r\nHost: h\r\n\r\n", Method::kGet, "/", "b"},
      {"GET /? HTTP/1.1\r\nHost: h\r\n\r\n", Method::kGet, "/", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    Snapshot s = parse_whole(c.text);
    ASSERT_EQ(s.status, ParseStatus::kComplete);
    EXPECT_EQ(s.method, c.method);
    EXPECT_EQ(s.path, c.path);
    EXPECT_EQ(s.query, c.query);
  }
}

TEST(HttpParser, Http10DoesNotNeedHost) {
  Snapshot s = parse_whole("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(s.status, ParseStatus::kComplete);
  EXPECT_EQ(s.version, Version::kHttp10);
  EXPECT_FALSE(s.keep_alive);
}

TEST(HttpParser, PipelinedRequestsInOneBuffer) {
  const std::string a = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string b =
      "POST /two HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nwiki\r\n5;e=1\r\npedia\r\n0\r\nT: x\r\n\r\n";
  const std::string c = "PUT /three HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nthree";
  const std::string d = "GET /four HTTP/1.1\r\nHost: h\r\n\r\n";
  for (const std::string& third : {c, d}) {
    std::string text = a + b + third;
    std::span<char> buf(text.data(), text.size());
    Parser parser;
    Request req;

    Result r = parser.parse(buf, req);
    ASSERT_TRUE(r.complete());
    EXPECT_EQ(r.consumed, a.size());
    EXPECT_EQ(req.path, "/one");
    EXPECT_TRUE(req.body.empty());
    buf = buf.subspan(r.consumed);

    r = parser.parse(buf, req);
    ASSERT_TRUE(r.complete());
    EXPECT_EQ(r.consumed, b.size());
    EXPECT_EQ(req.path, "/two");
    EXPECT_EQ(req.body, "wikipedia");
    EXPECT_TRUE(req.chunked);
    buf = buf.subspan(r.consumed);

    // The third request only partly arrived, then completely.
    r = parser.parse(buf.first(third.size() - 1), req);
    EXPECT_TRUE(r.need_more());
    r = parser.parse(buf, req);
    ASSERT_TRUE(r.complete());
    EXPECT_EQ(r.consumed, third.size());
    EXPECT_EQ(req.body, third == c ? "three" : "");
    EXPECT_EQ(req.header_count, third == c ? 2u : 1u);
  }
}

TEST(HttpParser, ChunkedBodyIsDecodedInPlace) {
  const std::string real_head = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunks =
      "3;a=b;c\r\nabc\r\n"
      "00000010\r\n0123456789abcdef\r\n"
      "1;x=\"y;z\"\r\nZ\r\n"
      "0\r\nExpires: never\r\nX-Checksum: 1234\r\n\r\n";
  std::string text = real_head + chunks + "NEXT";
  Parser parser;
  Request req;
  Result r = parser.parse(std::span<char>(text.data(), text.size()), req);
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(r.consumed, real_head.size() + chunks.size());
  EXPECT_EQ(req.body, "abc0123456789abcdefZ");
  EXPECT_EQ(req.content_length, 20u);
  // Contiguous, right after the head, inside the caller's buffer.
  EXPECT_EQ(req.body.data(), text.data() + real_head.size());
  // Trailers are discarded, not added to the header fields.
  EXPECT_EQ(req.header_count, 2u);
  EXPECT_EQ(req.find_header("Expires"), nullptr);
  // The bytes after the request are untouched.
  EXPECT_EQ(text.substr(r.consumed), "NEXT");
}

TEST(HttpParser, HeadCompleteAllowsContinueBeforeBody) {
  std::string text =
      "PUT /big HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  Parser parser;
  Request req;
  Result r = parser.parse(std::span<char>(text.data(), text.size()), req);
  ASSERT_TRUE(r.need_more());
  EXPECT_TRUE(parser.head_complete());
  EXPECT_TRUE(req.expect_continue);
  EXPECT_EQ(req.content_length, 4u);
  text += "data";
  r = parser.parse(std::span<char>(text.data(), text.size()), req);
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(req.body, "data");
  EXPECT_FALSE(parser.head_complete());
}

TEST(HttpParser, ExpectContinueIgnoredForHttp10) {
  Snapshot s = parse_whole("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(s.status, ParseStatus::kComplete);
  EXPECT_FALSE(s.expect_continue);
}

TEST(HttpParser, KeepAliveRules) {
  struct Case {
    std::string version, connection;
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1", "", true},
      {"HTTP/1.1", "close", false},
      {"HTTP/1.1", "Close", false},
      {"HTTP/1.1", "keep-alive, Upgrade", true},
      {"HTTP/1.1", "Upgrade, close", false},
      {"HTTP/1.1", " , ,close, ", false},
      {"HTTP/1.1", "closed", true},
      {"HTTP/1.0", "", false},
      {"HTTP/1.0", "keep-alive", true},
      {"HTTP/1.0", "Keep-Alive, Upgrade", true},
      {"HTTP/1.0", "Upgrade,keep-alive", true},
      {"HTTP/1.0", "keep-alive, close", false},
      {"HTTP/1.0", "keep-alives", false},
  };
  for (const Case& c : cases) {
    std::string text = "GET / " + c.version + "\r\nHost: h\r\n";
    if (!c.connection.empty()) text += "Connection: " + c.connection + "\r\n";
    text += "\r\n";
    SCOPED_TRACE(text);
    Snapshot s = parse_whole(text);
    ASSERT_EQ(s.status, ParseStatus::kComplete);
    EXPECT_EQ(s.keep_alive, c.keep_alive);
  }
  // Options spread over two Connection lines combine.
  Snapshot s =
      parse_whole("GET / HTTP/1.0\r\nConnection: Upgrade\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_TRUE(s.keep_alive);
}

// Every rejected request, with its status. Each is also checked byte by byte.
TEST(HttpParser, ErrorsCarryTheirStatus) {
  const std::string long_method(40, 'M');
  struct Case {
    std::string text;
    int status;
  };
  const std::vector<Case> cases = {
      // RFC 9112 §6.3: Content-Length with Transfer-Encoding.
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
       400},
      // Differing duplicate / invalid Content-Length.
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12a\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400},
      // RFC 9112 §5.2 obs-fold, §2.2 whitespace before the first field.
      {"GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n  continued\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400},
      // RFC 9112 §5.1 whitespace between name and colon; other field-name errors.
      {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\r\nNo-Colon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\r\nBad(Name): x\r\n\r\n", 400},
      // RFC 9110 §5.5 control characters in values; bare CR (RFC 9112 §2.2).
      {"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\r\nX: a" + std::string(1, '\0') + "b\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400},
      {"GET / HTTP/1.1\rHost: h\r\n\r\n", 400},
      {"\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\r\n\rX\r\n", 400},
      // RFC 9112 §3.2 Host: missing in 1.1, duplicated, invalid.
      {"GET / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: user@h\r\n\r\n", 400},
      // RFC 9112 §7.1: bad chunk size, overflow, missing CRLF, bad extension.
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
       400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
       400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x01\r\nabc\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n",
       400},
      // RFC 9112 §6.1 transfer codings.
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"
       "\r\n",
       400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", 400},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      // Request line.
      {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
      {"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400},
      {"GET / HTTP/1\r\nHost: h\r\n\r\n", 400},
      {"GET / XTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {long_method + " / HTTP/1.1\r\nHost: h\r\n\r\n", 501},
      {"GET /" + std::string(5000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414},
      // RFC 9110 §6.2: other major versions.
      {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
      {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      // Limits (defaults).
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", 413},
      {"GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(9000, 'v') + "\r\n\r\n", 431},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text.substr(0, 200));
    Snapshot whole = parse_whole(c.text);
    EXPECT_EQ(whole.status, ParseStatus::kError);
    EXPECT_EQ(whole.http_status, c.status);
    Snapshot bytewise = parse_bytewise(c.text);
    EXPECT_EQ(bytewise.status, ParseStatus::kError);
    EXPECT_EQ(bytewise.http_status, c.status);
  }
}

TEST(HttpParser, ErrorHasReasonAndParserIsReusable) {
  std::string bad = "GET / HTTP/1.1\r\nHost : h\r\n\r\n";
  std::string good = "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n";
  Parser parser;
  Request req;
  Result r = parser.parse(std::span<char>(bad.data(), bad.size()), req);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.http_status, 400);
  EXPECT_FALSE(r.reason.empty());
  r = parser.parse(std::span<char>(good.data(), good.size()), req);
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(req.path, "/ok");
  EXPECT_EQ(req.header_count, 1u);
}

// Builds "GET <target> HTTP/1.1" with a Host field and `extra` header lines.
std::string request_with(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: h\r\n" + extra + "\r\n";
}

TEST(HttpParserLimits, TargetAtAndPastLimit) {
  Limits limits;
  limits.max_target = 64;
  const std::string at = "/" + std::string(63, 't');
  EXPECT_EQ(parse_whole(request_with(at), limits).status, ParseStatus::kComplete);
  Snapshot past = parse_whole(request_with(at + "t"), limits);
  EXPECT_EQ(past.http_status, 414);
  // Decided as soon as max_target + 1 target bytes arrived, before the line ends.
  std::string partial = "GET " + at + "t";
  EXPECT_EQ(parse_whole(partial, limits).http_status, 414);
  EXPECT_EQ(parse_whole("GET " + at, limits).status, ParseStatus::kNeedMore);
}

TEST(HttpParserLimits, HeaderCountAtAndPastLimit) {
  Limits limits;
  limits.max_headers = 8;
  std::string seven;  // plus Host = 8
  for (int i = 0; i < 7; ++i) seven += "X-" + std::to_string(i) + ": v\r\n";
  Snapshot at = parse_whole(request_with("/", seven), limits);
  ASSERT_EQ(at.status, ParseStatus::kComplete);
  EXPECT_EQ(at.headers.size(), 8u);
  Snapshot past = parse_whole(request_with("/", seven + "X-7: v\r\n"), limits);
  EXPECT_EQ(past.http_status, 431);
}

TEST(HttpParserLimits, MaxHeadersIsCappedByCapacity) {
  Limits limits;
  limits.max_headers = 1000;
  limits.max_header_bytes = 1 << 16;
  std::string fields;
  for (std::size_t i = 1; i < kMaxHeaders; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
  Snapshot at = parse_whole(request_with("/", fields), limits);
  ASSERT_EQ(at.status, ParseStatus::kComplete);
  EXPECT_EQ(at.headers.size(), kMaxHeaders);
  EXPECT_EQ(parse_whole(request_with("/", fields + "X-last: v\r\n"), limits).http_status, 431);
}

// A request whose header section (fields + final CRLF) is exactly `section` bytes.
std::string request_with_section(std::size_t section) {
  const std::string host = "Host: h\r\n";                    // 9 bytes
  const std::size_t filler = section - host.size() - 2 - 5;  // "X: " + value + CRLF
  return "GET / HTTP/1.1\r\n" + host + "X: " + std::string(filler, 'v') + "\r\n\r\n";
}

TEST(HttpParserLimits, HeaderBytesAtAndPastLimit) {
  Limits limits;
  limits.max_header_bytes = 256;
  const std::string at = request_with_section(256);
  ASSERT_EQ(at.size(), 16u + 256u);
  EXPECT_EQ(parse_whole(at, limits).status, ParseStatus::kComplete);
  EXPECT_EQ(parse_bytewise(at, limits).status, ParseStatus::kComplete);
  const std::string past = request_with_section(257);
  EXPECT_EQ(parse_whole(past, limits).http_status, 431);
  // Slowloris: 431 as soon as 256 section bytes are in without the end, not later.
  EXPECT_EQ(parse_whole(past.substr(0, 16 + 255), limits).status, ParseStatus::kNeedMore);
  EXPECT_EQ(parse_whole(past.substr(0, 16 + 256), limits).http_status, 431);
  // A never-ending stream of small fields is cut at the same point.
  std::string endless = "GET / HTTP/1.1\r\nHost: h\r\n";
  while (endless.size() < 16 + 256) endless += "A: b\r\n";
  EXPECT_EQ(parse_whole(endless.substr(0, 16 + 255), limits).status, ParseStatus::kNeedMore);
  EXPECT_EQ(parse_whole(endless.substr(0, 16 + 256), limits).http_status, 431);
  // Bare-LF terminators count as the bytes they are.
  std::string lf = "GET / HTTP/1.1\nHost: h\nX: " + std::string(256 - 8 - 4 - 1, 'v') + "\n\n";
  EXPECT_EQ(parse_whole(lf, limits).status, ParseStatus::kComplete);
}

// Found by tests/fuzz/http_parser_fuzz: a faulty line still open when the header section reached
// its budget got 431 when it arrived byte by byte but 400 when read whole. Every split must give
// the same status; a line that closes within the budget keeps its own error.
TEST(HttpParserLimits, HeaderBudgetStatusDoesNotDependOnReads) {
  Limits limits;
  limits.max_header_bytes = 32;
  const std::string head = "GET / HTTP/1.1\r\nHost: h\r\n";  // the section starts at "Host"
  const std::vector<std::pair<std::string, int>> cases = {
      {"Bad Name: " + std::string(40, 'v') + "\r\n\r\n", 431},  // open past the budget
      {"X: " + std::string(19, 'v') + "\rZ\r\n\r\n", 431},      // bare CR at offset 31
      {"X: " + std::string(17, 'v') + "\r\n\rZ", 431},          // bare CR of the empty line
      {"Bad Name: " + std::string(12, 'v') + "\n\n", 400},      // LF at offset 31: closed
      {"X: " + std::string(18, 'v') + "\rZ\r\n\r\n", 400},      // CR at 30, decided at 31
  };
  for (const auto& [section, status] : cases) {
    const std::string text = head + section;
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_whole(text, limits).http_status, status);
    EXPECT_EQ(parse_bytewise(text, limits).http_status, status);
    for (std::size_t split = 0; split <= text.size(); ++split) {
      ASSERT_EQ(parse_split(text, split, limits).http_status, status) << "split at " << split;
    }
  }
}

TEST(HttpParserLimits, ContentLengthAtAndPastLimit) {
  Limits limits;
  limits.max_body = 100;
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ";
  Snapshot at = parse_whole(head + "100\r\n\r\n" + std::string(100, 'b'), limits);
  ASSERT_EQ(at.status, ParseStatus::kComplete);
  EXPECT_EQ(at.body.size(), 100u);
  // 413 right after the head, before any body byte.
  EXPECT_EQ(parse_whole(head + "101\r\n\r\n", limits).http_status, 413);
}

TEST(HttpParserLimits, ChunkedBodyAtAndPastLimit) {
  Limits limits;
  limits.max_body = 100;
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  Snapshot at = parse_whole(head + "32\r\n" + std::string(50, 'a') + "\r\n32\r\n" +
                                std::string(50, 'b') + "\r\n0\r\n\r\n",
                            limits);
  ASSERT_EQ(at.status, ParseStatus::kComplete);
  EXPECT_EQ(at.body, std::string(50, 'a') + std::string(50, 'b'));
  EXPECT_EQ(at.content_length, 100u);
  Snapshot past = parse_whole(head + "32\r\n" + std::string(50, 'a') + "\r\n33\r\n", limits);
  EXPECT_EQ(past.http_status, 413);
}

TEST(HttpParserLimits, TrailerSectionIsBounded) {
  Limits limits;
  limits.max_header_bytes = 64;
  limits.max_headers = 2;
  const std::string head =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n";
  // Two trailers are fine, a third is too many; a 64-byte trailer section is too large.
  EXPECT_EQ(parse_whole(head + "A: 1\r\nB: 2\r\n\r\n", limits).status, ParseStatus::kComplete);
  EXPECT_EQ(parse_whole(head + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits).http_status, 431);
  const std::string at = "T: " + std::string(64 - 7, 'v') + "\r\n\r\n";
  ASSERT_EQ(at.size(), 64u);
  EXPECT_EQ(parse_whole(head + at, limits).status, ParseStatus::kComplete);
  EXPECT_EQ(parse_whole(head + "T: v" + at.substr(3), limits).http_status, 431);
}

TEST(HttpParserLimits, LeadingEmptyLinesAreBounded) {
  EXPECT_EQ(parse_whole(std::string(32, '\n') + request_with("/")).status, ParseStatus::kComplete);
  EXPECT_EQ(parse_whole(std::string(100, '\n') + request_with("/")).http_status, 400);
}

TEST(HttpParser, RelocatedBufferDuringChunkedBody) {
  // Body arrives in pieces and the buffer moves between every call.
  const std::string text =
      "POST /m HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\nmoving\r\n7\r\n buffer\r\n0\r\n\r\n";
  Parser parser;
  Request req;
  std::vector<char> held;
  Result r;
  std::size_t len = 0;
  while (len < text.size()) {
    len = std::min(len + 3, text.size());
    std::vector<char> moved(held);  // fresh allocation: a new address
    moved.insert(moved.end(), text.begin() + static_cast<std::ptrdiff_t>(held.size()),
                 text.begin() + static_cast<std::ptrdiff_t>(len));
    held.swap(moved);
    r = parser.parse(held, req);
    if (!r.need_more()) break;
    if (parser.head_complete()) {
      ASSERT_EQ(req.path, "/m");
      ASSERT_EQ(req.headers()[1].value, "chunked");
    }
  }
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(req.body, "moving buffer");
  EXPECT_EQ(req.path, "/m");
}

// ---- ResponseWriter ----

std::string written(const ResponseWriter& w) {
  return std::string(w.data().begin(), w.data().end());
}

TEST(ResponseWriter, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reason_phrase(299), "");
}

TEST(ResponseWriter, FullResponse) {
  std::array<char, 256> buf;
  ResponseWriter w(buf);
  const Header extra[] = {{"Server", "coronet"}, {"Cache-Control", "no-store"}};
  ResponseHead head;
  head.status = 200;
  head.content_type = "text/plain";
  head.headers = extra;
  ASSERT_TRUE(w.write(head, "hello"));
  EXPECT_EQ(written(w),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n"
            "Server: coronet\r\nCache-Control: no-store\r\n\r\nhello");
}

TEST(ResponseWriter, RespondFollowsTheRequest) {
  auto respond_to = [](const std::string& request, int status, std::string_view body) {
    std::string text = request;
    Parser parser;
    Request req;
    EXPECT_TRUE(parser.parse(std::span<char>(text.data(), text.size()), req).complete());
    std::array<char, 512> buf;
    ResponseWriter w(buf);
    EXPECT_TRUE(w.respond(req, status, body));
    return written(w);
  };
  EXPECT_EQ(respond_to("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 200, "hi"),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
  // HEAD: the GET's Content-Length, no body.
  EXPECT_EQ(respond_to("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", 200, "hello"),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(respond_to("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 404, ""),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(respond_to("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, "x"),
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx");
  EXPECT_EQ(respond_to("GET / HTTP/1.0\r\n\r\n", 200, "x"),
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
  // 204 carries neither Content-Length nor content.
  EXPECT_EQ(respond_to("DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", 204, "ignored"),
            "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(ResponseWriter, HeadersOnlyAndContinueAndError) {
  std::array<char, 512> buf;
  ResponseWriter w(buf);
  ASSERT_TRUE(w.write_continue());
  ResponseHead head;
  head.content_type = "application/octet-stream";
  ASSERT_TRUE(w.write_head(head, 123456789012ULL));
  ASSERT_TRUE(w.error(431, "too many header fields"));
  EXPECT_EQ(written(w),
            "HTTP/1.1 100 Continue\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 123456789012\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 22\r\n"
            "Content-Type: text/plain\r\nConnection: close\r\n\r\ntoo many header fields");
  w.clear();
  EXPECT_EQ(w.size(), 0u);
  // Unknown codes get an empty reason, the SP stays (RFC 9112 §4).
  ASSERT_TRUE(w.write(ResponseHead{.status = 299}, ""));
  EXPECT_EQ(written(w), "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(w.write(ResponseHead{.status = 42}, ""));
}

TEST(ResponseWriter, OverflowIsReportedNotTruncated) {
  const std::string expected = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
  std::vector<char> small(expected.size() - 1);
  ResponseWriter w(small);
  EXPECT_FALSE(w.write(ResponseHead{}, "0123456789"));
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.needed(), expected.size());

  std::vector<char> exact(expected.size());
  ResponseWriter fits(exact);
  ASSERT_TRUE(fits.write(ResponseHead{}, "0123456789"));
  EXPECT_EQ(written(fits), expected);
  EXPECT_EQ(fits.needed(), 0u);
  // A second response no longer fits: the first stays intact, needed() counts both.
  EXPECT_FALSE(fits.write(ResponseHead{}, "0123456789"));
  EXPECT_EQ(written(fits), expected);
  EXPECT_EQ(fits.needed(), 2 * expected.size());
  EXPECT_FALSE(fits.write_continue());
  EXPECT_EQ(fits.needed(), expected.size() + 25);
}

TEST(ResponseWriter, PipelinedResponsesShareOneBuffer) {
  std::string text =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  std::span<char> in(text.data(), text.size());
  std::array<char, 512> out;
  ResponseWriter w(out);
  Parser parser;
  Request req;
  int count = 0;
  while (!in.empty()) {
    Result r = parser.parse(in, req);
    ASSERT_TRUE(r.complete());
    ASSERT_TRUE(w.respond(req, 200, req.path));
    in = in.subspan(r.consumed);
    ++count;
  }
  EXPECT_EQ(count, 3);
  EXPECT_EQ(written(w),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n/a"
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n/c");
}

}  // namespace
}  // namespace coronet::http
