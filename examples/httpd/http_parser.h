// HTTP/1.1 message layer of the httpd example: an incremental request parser that works over the
// connection's own receive buffer, and a writer that formats responses into a fixed buffer.
//
// Built for the per-request hot path: no heap allocation, no virtual calls. A parsed Request is a
// set of string_views into the caller's buffer (valid until those bytes are changed or dropped);
// chunked bodies are decoded in place in that buffer so the body is one contiguous view.
//
// Typical use on a connection (one Parser and one Request per connection, reused):
//
//   Result r = parser.parse(std::span(buf).subspan(start, filled - start), req);
//   switch (r.status) {
//     case ParseStatus::kNeedMore: read more bytes, call again (same bytes, maybe moved)
//     case ParseStatus::kComplete: answer req; the next pipelined request starts at start+consumed
//     case ParseStatus::kError: answer r.http_status with Connection: close, then close
//   }
#ifndef CORONET_EXAMPLES_HTTPD_HTTP_PARSER_H_
#define CORONET_EXAMPLES_HTTPD_HTTP_PARSER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace coronet::http {

// Compile-time capacity of Request's header array; Limits::max_headers can only lower it.
inline constexpr std::size_t kMaxHeaders = 64;

// Resource limits applied while parsing one request.
struct Limits {
  // Header section (field lines plus the empty line that ends it, not the request line). Also the
  // budget of a chunked body's trailer section.
  std::size_t max_header_bytes = 8192;
  std::size_t max_headers = 64;    // field lines; values above kMaxHeaders act as kMaxHeaders
  std::size_t max_body = 1 << 20;  // decoded body bytes
  std::size_t max_target = 4096;   // request-target bytes
};

// Request methods the example server distinguishes (RFC 9110 §9.3); everything else is kOther,
// with the exact token in Request::method_name (methods are case-sensitive, RFC 9110 §9.1).
enum class Method : std::uint8_t { kGet, kHead, kPost, kPut, kDelete, kOptions, kOther };

// The protocol version of a request (RFC 9112 §2.3). HTTP/1.x with x > 1 is handled as 1.1
// (RFC 9110 §6.2: process as the highest minor version implemented).
enum class Version : std::uint8_t { kHttp10, kHttp11 };

// One field line as received (RFC 9112 §5): name without the colon, value without surrounding
// whitespace.
struct Header {
  std::string_view name;
  std::string_view value;
};

// A parsed request. Every view points into the buffer handed to Parser::parse.
struct Request {
  std::string_view method_name;  // the method token, e.g. "GET"
  Method method = Method::kOther;
  std::string_view target;  // request-target as sent (RFC 9112 §3.2)
  std::string_view path;    // target without the query; "/..." for origin/absolute form
  std::string_view query;   // after '?', without it; empty if none
  Version version = Version::kHttp11;
  std::array<Header, kMaxHeaders> header_storage;  // first header_count entries are valid
  std::size_t header_count = 0;
  std::uint64_t content_length = 0;  // body length: Content-Length, or decoded chunked size
  bool chunked = false;              // Transfer-Encoding: chunked was used
  bool keep_alive = true;            // connection persists after the response (RFC 9112 §9.3)
  bool expect_continue = false;      // "Expect: 100-continue" on an HTTP/1.1 request
  std::string_view body;             // complete (decoded) body; empty if none

  // The header fields in order of arrival.
  std::span<const Header> headers() const { return {header_storage.data(), header_count}; }
  // The first field named `name` (ASCII case-insensitive, RFC 9110 §5.1), or nullptr.
  const Header* find_header(std::string_view name) const;
};

// Outcome kinds of Parser::parse.
enum class ParseStatus : std::uint8_t { kNeedMore, kComplete, kError };

// What Parser::parse returns.
struct Result {
  ParseStatus status = ParseStatus::kNeedMore;
  std::size_t consumed = 0;  // kComplete: bytes of this request, body included
  int http_status = 0;       // kError: the status to answer (400, 413, 414, 431, 501, 505)
  std::string_view reason;   // kError: short static description, for logs or the error body

  bool complete() const { return status == ParseStatus::kComplete; }
  bool need_more() const { return status == ParseStatus::kNeedMore; }
  bool error() const { return status == ParseStatus::kError; }
};

// Incremental HTTP/1.1 request parser (RFC 9112). State persists between calls for one request,
// so each byte is examined about once however the request is split into reads; after kComplete
// or kError it resets itself for the next request.
//
// Contract for parse(buf, out) while a request is in progress (kNeedMore returned):
//  - buf starts at the request's first byte and holds every byte received so far; the bytes
//    passed before must come again unchanged (the parser may have rewritten them: chunked bodies
//    are decoded in place). The buffer may have moved: views in `out` are rebased.
//  - `out` is the same Request object each time.
// After kNeedMore, head_complete() tells whether `out` already holds the request head (e.g. to
// send "100 Continue", RFC 9110 §10.1.1); its views are valid for the buffer last passed.
class Parser {
 public:
  explicit Parser(Limits limits = {});

  // Parses as much of the request in `buf` as available; see the class comment.
  Result parse(std::span<char> buf, Request& out);
  // Forgets a partly parsed request (e.g. the connection was reset).
  void reset();
  // True once the request head has been parsed (only meaningful after kNeedMore).
  bool head_complete() const { return phase_ >= Phase::kBody; }
  const Limits& limits() const { return limits_; }

 private:
  enum class Phase : std::uint8_t {
    kLeading,       // optional empty lines before the request line (RFC 9112 §2.2)
    kRequestLine,   // RFC 9112 §3
    kFields,        // header section (RFC 9112 §5)
    kBody,          // Content-Length body (RFC 9112 §6.2)
    kChunkSize,     // chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1)
    kChunkData,     // chunk-data
    kChunkDataEnd,  // CRLF after chunk-data
    kTrailers,      // trailer section (RFC 9112 §7.1.2)
  };

  Result run(std::span<char> buf, Request& out);
  Result parse_request_line(std::span<char> buf, Request& out);
  Result parse_field_lines(std::span<char> buf, Request& out, bool trailers);
  Result finish_head(Request& out);
  Result parse_chunked(std::span<char> buf);
  Result complete(Request& out, const char* base, std::size_t end);
  Result fail(int http_status, std::string_view reason);
  bool apply_field(std::string_view name, std::string_view value, Request& out, Result& err);
  void rebase(Request& out, const char* new_base) const;

  Limits limits_;
  std::size_t max_headers_;  // min(limits_.max_headers, kMaxHeaders)
  Phase phase_ = Phase::kLeading;
  std::size_t pos_ = 0;  // next unparsed byte (start of an incomplete line in text phases)
  std::size_t section_start_ = 0;   // first byte of the header or trailer section
  std::size_t section_fields_ = 0;  // field lines seen in the current section
  std::size_t body_start_ = 0;      // first body byte (decoded chunked bytes are moved here)
  std::size_t body_end_ = 0;        // end of the decoded body so far
  std::uint64_t chunk_left_ = 0;    // bytes of the current chunk still to come
  std::uintptr_t base_ = 0;         // address of buf[0] in the previous call, to rebase views
  // Framing facts gathered from the fields and judged once the head is complete.
  std::uint8_t host_count_ = 0;
  bool has_content_length_ = false;
  bool has_transfer_encoding_ = false;
  bool te_unknown_ = false;       // a transfer coding other than chunked
  bool te_misordered_ = false;    // chunked not last, or applied twice (RFC 9112 §6.3, §7)
  bool conn_close_ = false;       // "close" connection option (RFC 9112 §9.6)
  bool conn_keep_alive_ = false;  // "keep-alive" connection option (HTTP/1.0 persistence)
};

// The reason phrase registered for `status` (RFC 9110 §15; 431 from RFC 6585 §5), or "" if the
// code is unknown (a status line may carry an empty reason, RFC 9112 §4).
std::string_view reason_phrase(int status);

// The shape of one response, without its body.
struct ResponseHead {
  int status = 200;
  std::string_view content_type = {};    // omitted when empty
  std::span<const Header> headers = {};  // extra fields; values must not contain CR or LF
  bool keep_alive = true;                // false: "Connection: close"
  bool http10_peer = false;              // peer spoke HTTP/1.0: persistence must be announced
  bool head_request = false;             // answering HEAD: no body, Content-Length of the GET body
};

// Appends responses into a caller-provided fixed buffer (pipelined responses can share one
// buffer and one write). A response that does not fit is not written at all: the call returns
// false and needed() tells the buffer size it would take. Never allocates.
class ResponseWriter {
 public:
  explicit ResponseWriter(std::span<char> buf) : buf_(buf) {}

  // Appends a complete response with `body` (RFC 9112 §4, §6). Content-Length is always sent
  // except for 1xx and 204 (RFC 9110 §8.6), which never carry a body.
  bool write(const ResponseHead& head, std::string_view body);
  // Appends only the head, announcing `content_length` body bytes the caller sends itself.
  bool write_head(const ResponseHead& head, std::uint64_t content_length);
  // Appends a response to `req`, taking persistence, version and HEAD from it.
  bool respond(const Request& req, int status, std::string_view body,
               std::string_view content_type = {}, std::span<const Header> headers = {});
  // Appends the answer to a parse error: `status`, the reason as a text body, Connection: close.
  bool error(int status, std::string_view reason);
  // Appends "HTTP/1.1 100 Continue" (RFC 9110 §10.1.1, §15.2.1).
  bool write_continue();

  std::span<const char> data() const { return buf_.first(size_); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return buf_.size(); }
  // Buffer size the last refused write needed (all earlier responses included); 0 if none.
  std::size_t needed() const { return needed_; }
  // Drops everything written (after the bytes were sent).
  void clear() {
    size_ = 0;
    needed_ = 0;
  }

 private:
  bool append_head(const ResponseHead& head, std::uint64_t content_length, std::string_view body);

  std::span<char> buf_;
  std::size_t size_ = 0;
  std::size_t needed_ = 0;
};

}  // namespace coronet::http

#endif  // CORONET_EXAMPLES_HTTPD_HTTP_PARSER_H_
