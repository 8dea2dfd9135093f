// Incremental HTTP/1.1 request parser (RFC 9112), see http_parser.h.
//
// The parser walks the buffer once, line by line, keeping its position between calls: a line that
// is still incomplete is re-read from its start on the next call, everything before it is done.
// Long runs of field-value and request-target bytes are checked eight at a time (SWAR), the
// common case being plain printable ASCII.
#include "examples/httpd/http_parser.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace coronet::http {
namespace {

// Longest method token accepted. RFC 9112 §3: a server receiving a method longer than any it
// implements SHOULD answer 501.
constexpr std::size_t kMaxMethod = 32;
// Empty lines tolerated before a request line (RFC 9112 §2.2), in bytes.
constexpr std::size_t kMaxLeadingBytes = 64;
// Longest chunk-size line (size plus ignored chunk extensions, RFC 9112 §7.1.1).
constexpr std::size_t kMaxChunkLine = 1024;

// Builds a 256-entry membership table from the characters of `chars` plus ASCII letters/digits.
constexpr std::array<bool, 256> make_table(std::string_view chars) {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : chars) t[static_cast<unsigned char>(c)] = true;
  return t;
}

// RFC 9110 §5.6.2: tchar, the characters of a token (method, field name, coding, option).
constexpr std::array<bool, 256> kTchar = make_table("!#$%&'*+-.^_`|~");
// RFC 9110 §7.2 with RFC 3986 §3.2.2: characters of Host = uri-host [ ":" port ], i.e.
// unreserved, pct-encoded, sub-delims, ':' and the brackets of an IP literal.
constexpr std::array<bool, 256> kHostChar = make_table("-._~%!$&'()*+,;=:[]");

// True if `c` may appear in a token.
inline bool is_tchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }

// True for optional whitespace, RFC 9110 §5.6.3 (OWS = *( SP / HTAB )).
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

// ASCII lower case of `c`; other bytes unchanged.
inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// ASCII case-insensitive equality (RFC 9110 §5.1 field names, §7.6.1 connection options).
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Equality of a token `tok` with the lower-case token literal `lit` (letters, digits, '-').
// `c | 0x20` folds case for letters and maps no other tchar onto a letter, digit or '-'.
inline bool token_is(std::string_view tok, std::string_view lit) {
  if (tok.size() != lit.size()) return false;
  for (std::size_t i = 0; i < lit.size(); ++i) {
    if (static_cast<char>(tok[i] | 0x20) != lit[i]) return false;
  }
  return true;
}

// Eight unaligned bytes from `p`.
inline std::uint64_t load8(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// Non-zero iff some byte of `x` is below `n` (n <= 128). Exact as a yes/no test.
inline std::uint64_t any_byte_below(std::uint64_t x, std::uint64_t n) {
  return (x - kOnes * n) & ~x & kHighs;
}

// Non-zero iff some byte of `x` equals 0x7f (DEL).
inline std::uint64_t any_del(std::uint64_t x) {
  std::uint64_t y = x ^ (kOnes * 0x7f);
  return (y - kOnes) & ~y & kHighs;
}

// Index of the lowest byte flagged in a mask from any_byte_below/any_del. Flags above a true
// one can be spurious (borrows move upwards), the lowest one never is.
inline std::size_t first_flagged(std::uint64_t mask) {
  return static_cast<std::size_t>(std::countr_zero(mask)) / 8;
}

// Index of the first byte in s[i, end) that cannot be part of a request-target: SP, a CTL or DEL
// (RFC 9112 §3.2 targets are URI characters; SP ends the target). Returns `end` if none.
std::size_t scan_target(const char* s, std::size_t i, std::size_t end) {
  while (i + 8 <= end) {
    const std::uint64_t x = load8(s + i);
    if (const std::uint64_t m = any_byte_below(x, 0x21) | any_del(x)) return i + first_flagged(m);
    i += 8;
  }
  for (; i < end; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c <= 0x20 || c == 0x7f) break;
  }
  return i;
}

// Index of the first byte in s[i, end) that cannot be part of a field value: a CTL other than
// HTAB, or DEL (RFC 9110 §5.5: field-vchar / SP / HTAB; obs-text allowed). Returns `end` if none.
// A field line is scanned with it whole, so this also finds the line end.
std::size_t scan_value(const char* s, std::size_t i, std::size_t end) {
  while (i + 8 <= end) {
    const std::uint64_t x = load8(s + i);
    if (const std::uint64_t m = any_byte_below(x, 0x20) | any_del(x)) {
      i += first_flagged(m);
      if (s[i] != '\t') return i;
      ++i;  // HTAB is allowed: resume right after it
      continue;
    }
    i += 8;
  }
  for (; i < end; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) break;
  }
  return i;
}

// Calls fn(element) for each non-empty element of a comma-separated list, OWS trimmed
// (RFC 9110 §5.6.1: empty elements are ignored). Stops early when fn returns false.
template <typename Fn>
void for_each_element(std::string_view list, Fn&& fn) {
  std::size_t i = 0;
  while (i <= list.size()) {
    std::size_t comma = list.find(',', i);
    if (comma == std::string_view::npos) comma = list.size();
    std::size_t b = i, e = comma;
    while (b < e && is_ows(list[b])) ++b;
    while (e > b && is_ows(list[e - 1])) --e;
    if (e > b && !fn(list.substr(b, e - b))) return;
    i = comma + 1;
  }
}

// Value of a hexadecimal digit, or -1.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  char l = static_cast<char>(c | 0x20);
  if (l >= 'a' && l <= 'f') return l - 'a' + 10;
  return -1;
}

// The Method for a (case-sensitive, RFC 9110 §9.1) method token.
Method classify_method(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::kGet;
      if (m == "PUT") return Method::kPut;
      break;
    case 4:
      if (m == "HEAD") return Method::kHead;
      if (m == "POST") return Method::kPost;
      break;
    case 6:
      if (m == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (m == "OPTIONS") return Method::kOptions;
      break;
    default:
      break;
  }
  return Method::kOther;
}

// Sets out.path/out.query from out.target for the four target forms of RFC 9112 §3.2. Returns
// false if the form does not fit the method or the target is no valid form at all.
bool split_target(Request& out) {
  std::string_view t = out.target;
  auto split_query = [&out](std::string_view path_and_query) {
    std::size_t q = path_and_query.find('?');
    if (q == std::string_view::npos) {
      out.path = path_and_query;
    } else {
      out.path = path_and_query.substr(0, q);
      out.query = path_and_query.substr(q + 1);
    }
  };
  if (t[0] == '/') {  // §3.2.1 origin-form: absolute-path [ "?" query ]
    split_query(t);
    return true;
  }
  if (t == "*") {  // §3.2.4 asterisk-form, only for a server-wide OPTIONS
    out.path = t;
    return out.method == Method::kOptions;
  }
  if (out.method_name == "CONNECT") return true;  // §3.2.3 authority-form: no path
  // §3.2.2 absolute-form: scheme "://" authority path-abempty [ "?" query ]. RFC 3986 §3.1:
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
  std::size_t colon = t.find("://");
  if (colon == std::string_view::npos || colon == 0) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    char c = ascii_lower(t[i]);
    bool alpha = c >= 'a' && c <= 'z';
    if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))) {
      return false;
    }
  }
  std::size_t path = t.find_first_of("/?", colon + 3);
  if (path == std::string_view::npos || t[path] == '?') {
    // Empty path: the request is for "/" (RFC 9110 §4.2.3 normalisation). A static view; the
    // rebasing of views only moves those that point into the buffer.
    out.path = "/";
    if (path != std::string_view::npos) out.query = t.substr(path + 1);
    return true;
  }
  split_query(t.substr(path));
  return true;
}

}  // namespace

// Linear search: a request has few fields and this avoids any index structure.
const Header* Request::find_header(std::string_view name) const {
  for (std::size_t i = 0; i < header_count; ++i) {
    if (iequals(header_storage[i].name, name)) return &header_storage[i];
  }
  return nullptr;
}

// Caps the header count at the compile-time capacity of Request.
Parser::Parser(Limits limits)
    : limits_(limits), max_headers_(std::min(limits.max_headers, kMaxHeaders)) {}

// Returns to the state before a request's first byte.
void Parser::reset() {
  phase_ = Phase::kLeading;
  pos_ = 0;
  section_start_ = 0;
  section_fields_ = 0;
  body_start_ = 0;
  body_end_ = 0;
  chunk_left_ = 0;
  base_ = 0;
  host_count_ = 0;
  has_content_length_ = false;
  has_transfer_encoding_ = false;
  te_unknown_ = false;
  te_misordered_ = false;
  conn_close_ = false;
  conn_keep_alive_ = false;
}

// Error result; the parser is reset (the connection is expected to close after the answer).
Result Parser::fail(int http_status, std::string_view reason) {
  reset();
  return Result{ParseStatus::kError, 0, http_status, reason};
}

// Complete result for a request ending at `end`; sets the body view and resets for the next one.
Result Parser::complete(Request& out, const char* base, std::size_t end) {
  out.body = std::string_view(base + body_start_, body_end_ - body_start_);
  if (out.chunked) out.content_length = body_end_ - body_start_;
  reset();
  return Result{ParseStatus::kComplete, end, 0, {}};
}

// Moves every view of `out` that points into the previous buffer to the same offset in the
// buffer now starting at `new_base` (the caller may compact or grow its receive buffer).
void Parser::rebase(Request& out, const char* new_base) const {
  auto fix = [&](std::string_view& v) {
    auto p = reinterpret_cast<std::uintptr_t>(v.data());
    if (v.data() == nullptr || p < base_ || p > base_ + pos_) return;
    v = std::string_view(new_base + (p - base_), v.size());
  };
  fix(out.method_name);
  fix(out.target);
  fix(out.path);
  fix(out.query);
  for (std::size_t i = 0; i < out.header_count; ++i) {
    fix(out.header_storage[i].name);
    fix(out.header_storage[i].value);
  }
}

// Entry point: prepares `out` for a new request or rebases it to a moved buffer, then runs.
Result Parser::parse(std::span<char> buf, Request& out) {
  if (phase_ == Phase::kLeading) {
    // A new request: clear what the previous one left in `out` (the header array is not
    // touched, header_count bounds it).
    out.method_name = {};
    out.method = Method::kOther;
    out.target = out.path = out.query = {};
    out.version = Version::kHttp11;
    out.header_count = 0;
    out.content_length = 0;
    out.chunked = false;
    out.keep_alive = true;
    out.expect_continue = false;
    out.body = {};
  } else if (reinterpret_cast<std::uintptr_t>(buf.data()) != base_) {
    rebase(out, buf.data());
  }
  if (buf.size() < pos_) return fail(500, "parser misuse: buffer lost bytes");
  base_ = reinterpret_cast<std::uintptr_t>(buf.data());
  return run(buf, out);
}

// Runs the phase machine until it needs bytes that have not arrived, completes, or fails.
Result Parser::run(std::span<char> buf, Request& out) {
  const char* s = buf.data();
  const std::size_t n = buf.size();
  for (;;) {
    Phase before = phase_;
    Result r;
    switch (phase_) {
      case Phase::kLeading: {
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received prior to
        // the request-line (robustness for clients sending an extra CRLF after a body).
        std::size_t i = pos_;
        while (i < n) {
          if (s[i] == '\n') {  // bare LF, RFC 9112 §2.2
            ++i;
          } else if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
            i += 2;
          } else {
            break;
          }
        }
        if (i > kMaxLeadingBytes) return fail(400, "too many empty lines before request");
        pos_ = i;
        if (i == n || (s[i] == '\r' && i + 1 == n)) return r;  // need more
        if (s[i] == '\r') return fail(400, "bare CR before request line");
        phase_ = Phase::kRequestLine;
        break;
      }
      case Phase::kRequestLine:
        r = parse_request_line(buf, out);
        break;
      case Phase::kFields:
        r = parse_field_lines(buf, out, /*trailers=*/false);
        if (!r.complete()) return r;  // incomplete or invalid
        r = finish_head(out);         // the empty line ending the header section was read
        break;
      case Phase::kBody:
        // RFC 9112 §6.2: the body is exactly Content-Length bytes after the empty line.
        if (n - body_start_ < body_end_ - body_start_) return r;
        return complete(out, s, body_end_);
      case Phase::kChunkSize:
      case Phase::kChunkData:
      case Phase::kChunkDataEnd:
        r = parse_chunked(buf);
        break;
      case Phase::kTrailers:
        r = parse_field_lines(buf, out, /*trailers=*/true);
        if (!r.complete()) return r;
        return complete(out, s, pos_);
    }
    if (!r.need_more() || phase_ == before) return r;
  }
}

// RFC 9112 §3: request-line = method SP request-target SP HTTP-version, ended by CRLF or bare LF
// (§2.2). Single SPs only: §3 lets a server accept other whitespace but that invites ambiguity.
Result Parser::parse_request_line(std::span<char> buf, Request& out) {
  const char* s = buf.data();
  const std::size_t n = buf.size();
  const std::size_t start = pos_;

  std::size_t i = start;
  const std::size_t method_end = std::min(n, start + kMaxMethod + 1);
  while (i < method_end && is_tchar(s[i])) ++i;
  if (i - start > kMaxMethod) return fail(501, "method too long");
  if (i == n) return {};
  if (s[i] != ' ' || i == start) return fail(400, "malformed request line");
  std::string_view method(s + start, i - start);

  const std::size_t t = i + 1;
  i = scan_target(s, t, std::min(n, t + limits_.max_target + 1));
  // RFC 9112 §3: a request-target longer than the server wishes to parse gets 414. Decided as
  // soon as max_target + 1 target bytes are in, however slowly they arrive.
  if (i - t > limits_.max_target) return fail(414, "request target too long");
  if (i == n) return {};
  if (s[i] != ' ' || i == t) return fail(400, "malformed request target");
  std::string_view target(s + t, i - t);

  // RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT (case-sensitive).
  const std::size_t v = i + 1;
  if (n < v + 9) {
    // Fail early on a visibly wrong prefix, otherwise wait for the rest of the version.
    constexpr std::string_view kName = "HTTP/";
    for (std::size_t k = v; k < n && k < v + kName.size(); ++k) {
      if (s[k] != kName[k - v]) return fail(400, "malformed HTTP version");
    }
    return {};
  }
  if (std::memcmp(s + v, "HTTP/", 5) != 0 || s[v + 5] < '0' || s[v + 5] > '9' || s[v + 6] != '.' ||
      s[v + 7] < '0' || s[v + 7] > '9') {
    return fail(400, "malformed HTTP version");
  }
  std::size_t next;
  const std::size_t e = v + 8;
  if (s[e] == '\n') {
    next = e + 1;
  } else if (s[e] == '\r') {
    if (e + 1 == n) return {};
    if (s[e + 1] != '\n') return fail(400, "malformed request line ending");
    next = e + 2;
  } else {
    return fail(400, "malformed HTTP version");
  }
  // RFC 9110 §6.2 / §15.6.6: another major version is not supported; a higher 1.x minor is
  // processed as 1.1.
  if (s[v + 5] != '1') return fail(505, "HTTP version not supported");
  out.version = s[v + 7] == '0' ? Version::kHttp10 : Version::kHttp11;

  out.method_name = method;
  out.method = classify_method(method);
  out.target = target;
  if (!split_target(out)) return fail(400, "invalid request target form");

  pos_ = next;
  section_start_ = next;
  section_fields_ = 0;
  phase_ = Phase::kFields;
  return {};
}

// Parses field lines from pos_ up to the empty line that ends the section (RFC 9112 §5; §7.1.2
// for trailers). Returns kNeedMore while the section is incomplete (pos_ at the first unfinished
// line), kComplete (internal) with pos_ past the empty line, or kError. Header fields are stored
// in `out`; trailer fields are only validated, counted and discarded.
Result Parser::parse_field_lines(std::span<char> buf, Request& out, bool trailers) {
  const char* s = buf.data();
  const std::size_t n = buf.size();
  const std::size_t budget = limits_.max_header_bytes;
  std::size_t i = pos_;
  while (i < n) {
    const char c = s[i];
    if (c == '\r' || c == '\n') {
      // The empty line: end of the section (bare LF accepted, RFC 9112 §2.2).
      std::size_t end;
      if (c == '\n') {
        end = i + 1;
      } else {
        if (i + 1 == n) break;
        // Judge the size first, as a read ending right after the CR would (see below).
        if (i + 2 - section_start_ > budget) return fail(431, "header section too large");
        if (s[i + 1] != '\n') return fail(400, "bare CR in header section");
        end = i + 2;
      }
      if (end - section_start_ > budget) return fail(431, "header section too large");
      pos_ = end;
      return Result{ParseStatus::kComplete, end, 0, {}};  // section done (internal signal)
    }
    // RFC 9112 §5.2: a server MUST reject obs-fold (or replace it); §2.2: whitespace between the
    // start-line and the first field MUST be rejected or the line ignored. Both are 400 here.
    if (is_ows(c)) return fail(400, "obsolete line folding");

    // Find the end of the line first (one word-at-a-time pass); the control character there
    // then bounds the name and whitespace loops below without further length checks.
    const std::size_t e = scan_value(s, i, n);
    if (e == n) break;
    // A line still open when the section reaches its budget fails 431 as soon as that many bytes
    // are in (below); so that the answer does not depend on how the bytes were split into reads,
    // that is judged first here too. The line is open up to its terminator, and a CR terminator
    // until the next byte shows whether it starts CRLF.
    const std::size_t open_end = s[e] == '\r' ? e + 1 : e;
    if (open_end - section_start_ >= budget) return fail(431, "header section too large");
    std::size_t name_end = i;
    while (is_tchar(s[name_end])) ++name_end;
    if (s[name_end] != ':') {
      // RFC 9112 §5.1: no whitespace allowed between field name and colon; a server MUST
      // reject such a message with 400.
      if (is_ows(s[name_end])) return fail(400, "whitespace before colon in field");
      return fail(400, "invalid field name");
    }
    if (name_end == i) return fail(400, "empty field name");
    std::size_t v = name_end + 1;
    while (is_ows(s[v])) ++v;  // OWS before the value (RFC 9112 §5.1)

    std::size_t next;
    if (s[e] == '\n') {
      next = e + 1;
    } else if (s[e] == '\r') {
      if (e + 1 == n) break;
      // RFC 9110 §5.5: CR, LF and NUL in a field value are invalid; reject.
      if (s[e + 1] != '\n') return fail(400, "bare CR in field value");
      next = e + 2;
    } else {
      return fail(400, "invalid character in field value");
    }
    // The section also needs its empty line, so a field ending at the budget already exceeds it.
    if (next - section_start_ >= budget) return fail(431, "header section too large");
    if (section_fields_ == max_headers_) return fail(431, "too many header fields");
    ++section_fields_;

    std::size_t ve = e;
    while (ve > v && is_ows(s[ve - 1])) --ve;  // trailing OWS is not part of the value
    if (!trailers) {
      std::string_view name(s + i, name_end - i);
      std::string_view value(s + v, ve - v);
      out.header_storage[out.header_count++] = Header{name, value};
      Result err;
      if (!apply_field(name, value, out, err)) return err;
    }
    i = next;
    pos_ = next;
  }
  // Incomplete line at pos_. A section that cannot end within the budget fails now, so a slow
  // sender cannot make the buffer grow past it.
  if (n - section_start_ >= budget) return fail(431, "header section too large");
  return {};
}

// Records what the framing and connection logic need from one header field. Returns false with
// `err` set if the field makes the request invalid.
bool Parser::apply_field(std::string_view name, std::string_view value, Request& out, Result& err) {
  switch (name.size()) {
    case 4:  // Host (RFC 9110 §7.2, RFC 9112 §3.2)
      if (!token_is(name, "host")) return true;
      if (host_count_ < 2) ++host_count_;
      for (char c : value) {
        if (!kHostChar[static_cast<unsigned char>(c)]) {
          err = fail(400, "invalid Host");
          return false;
        }
      }
      return true;
    case 6:  // Expect (RFC 9110 §10.1.1); unknown expectations are ignored.
      if (!token_is(name, "expect")) return true;
      for_each_element(value, [&out](std::string_view e) {
        if (iequals(e, "100-continue")) out.expect_continue = true;
        return true;
      });
      return true;
    case 10:  // Connection options (RFC 9110 §7.6.1), a case-insensitive token list.
      if (!token_is(name, "connection")) return true;
      for_each_element(value, [this](std::string_view e) {
        if (iequals(e, "close")) conn_close_ = true;
        if (iequals(e, "keep-alive")) conn_keep_alive_ = true;
        return true;
      });
      return true;
    case 14: {  // Content-Length (RFC 9110 §8.6, RFC 9112 §6.3)
      if (!token_is(name, "content-length")) return true;
      // RFC 9112 §6.3 item 5: an invalid Content-Length is an unrecoverable framing error (400).
      // RFC 9110 §8.6 lets a recipient accept a list of one repeated value ("42, 42"); so are
      // repeated identical field lines, while differing values are rejected.
      bool ok = true, any = false;
      for_each_element(value, [&](std::string_view e) {
        std::uint64_t len = 0;
        for (char c : e) {
          if (c < '0' || c > '9') return ok = false;
          const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
          // Saturate: anything this large is over max_body and answered 413.
          len = len > (std::numeric_limits<std::uint64_t>::max() - d) / 10
                    ? std::numeric_limits<std::uint64_t>::max()
                    : len * 10 + d;
        }
        if (has_content_length_ && len != out.content_length) return ok = false;
        has_content_length_ = any = true;
        out.content_length = len;
        return true;
      });
      if (!ok || !any) {
        err = fail(400, "invalid Content-Length");
        return false;
      }
      return true;
    }
    case 17:  // Transfer-Encoding (RFC 9112 §6.1); lines combine into one list in order.
      if (!token_is(name, "transfer-encoding")) return true;
      has_transfer_encoding_ = true;
      for_each_element(value, [&](std::string_view e) {
        // RFC 9112 §7: chunked must be applied once and be the final coding.
        if (out.chunked) te_misordered_ = true;
        if (iequals(e, "chunked")) {
          out.chunked = true;
        } else {
          te_unknown_ = true;
        }
        return true;
      });
      return true;
    default:
      return true;
  }
}

// Judges the complete head: Host, message framing and persistence; moves to the body phase.
// Returns kNeedMore to continue, kComplete for a request without body, or kError.
Result Parser::finish_head(Request& out) {
  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, or any request with several.
  if (out.version == Version::kHttp11 && host_count_ == 0) return fail(400, "missing Host");
  if (host_count_ > 1) return fail(400, "duplicate Host");
  if (has_transfer_encoding_) {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
    if (out.version == Version::kHttp10) return fail(400, "Transfer-Encoding in HTTP/1.0");
    // RFC 9112 §6.3 item 3 / §6.1: both Content-Length and Transfer-Encoding is a smuggling
    // signature; a server MAY reject it.
    if (has_content_length_) return fail(400, "Content-Length with Transfer-Encoding");
    // RFC 9112 §6.3 item 4: chunked not final in a request: 400.
    if (te_misordered_) return fail(400, "chunked is not the final transfer coding");
    // RFC 9112 §6.1: a transfer coding the server does not understand: 501.
    if (te_unknown_) return fail(501, "unsupported transfer coding");
    if (!out.chunked) return fail(400, "empty Transfer-Encoding");
  }
  // RFC 9112 §9.3: HTTP/1.1 persists unless "close" is sent; HTTP/1.0 only with "keep-alive".
  out.keep_alive = !conn_close_ && (out.version == Version::kHttp11 || conn_keep_alive_);
  // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
  if (out.version == Version::kHttp10) out.expect_continue = false;

  body_start_ = body_end_ = pos_;
  if (out.chunked) {
    phase_ = Phase::kChunkSize;
    return {};
  }
  if (!has_content_length_) {
    // RFC 9112 §6.3 item 7: a request with neither field has no body.
    out.content_length = 0;
  }
  // Reject an oversized body before any of it arrives (RFC 9110 §15.5.14).
  if (out.content_length > limits_.max_body) return fail(413, "body too large");
  body_end_ = body_start_ + static_cast<std::size_t>(out.content_length);
  phase_ = Phase::kBody;
  return {};
}

// RFC 9112 §7.1: chunked-body = *chunk last-chunk trailer-section CRLF. Chunk data is moved down
// to body_end_ as it arrives, so the decoded body ends up contiguous right after the head.
Result Parser::parse_chunked(std::span<char> buf) {
  char* s = buf.data();
  const std::size_t n = buf.size();
  switch (phase_) {
    case Phase::kChunkSize: {
      // chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; chunk-size = 1*HEXDIG.
      const std::size_t start = pos_;
      std::size_t i = start;
      std::uint64_t size = 0;
      int d;
      while (i < n && (d = hex_value(s[i])) >= 0) {
        // RFC 9112 §7.1: anticipate large numerals and prevent integer overflow.
        if (size >> 60) return fail(400, "chunk size overflow");
        size = size * 16 + static_cast<std::uint64_t>(d);
        ++i;
      }
      std::size_t j = i;
      if (i > start) {
        // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ignored;
        // only scanned for forbidden control characters up to the line end.
        while (j < n && is_ows(s[j])) ++j;
        if (j < n && j > i && s[j] != ';') return fail(400, "invalid chunk extension");
        if (j < n && s[j] == ';') j = scan_value(s, j, n);
      }
      if (j == n || (s[j] == '\r' && j + 1 == n)) {
        if (n - start > kMaxChunkLine) return fail(400, "chunk size line too long");
        return {};
      }
      if (i == start) return fail(400, "invalid chunk size");
      std::size_t next;
      if (s[j] == '\n') {
        next = j + 1;
      } else if (s[j] == '\r' && s[j + 1] == '\n') {
        next = j + 2;
      } else {
        return fail(400, "invalid chunk size line");
      }
      if (next - start > kMaxChunkLine) return fail(400, "chunk size line too long");
      pos_ = next;
      if (size == 0) {  // last-chunk: the trailer section follows (RFC 9112 §7.1.2)
        section_start_ = next;
        section_fields_ = 0;
        phase_ = Phase::kTrailers;
        return {};
      }
      if (size > limits_.max_body - (body_end_ - body_start_)) return fail(413, "body too large");
      chunk_left_ = size;
      phase_ = Phase::kChunkData;
      return {};
    }
    case Phase::kChunkData: {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(n - pos_, chunk_left_));
      if (take > 0) {
        if (body_end_ != pos_) std::memmove(s + body_end_, s + pos_, take);
        body_end_ += take;
        pos_ += take;
        chunk_left_ -= take;
      }
      if (chunk_left_ == 0) phase_ = Phase::kChunkDataEnd;
      return {};
    }
    case Phase::kChunkDataEnd:
      if (pos_ == n) return {};
      if (s[pos_] == '\n') {
        pos_ += 1;
      } else if (s[pos_] == '\r') {
        if (pos_ + 1 == n) return {};
        if (s[pos_ + 1] != '\n') return fail(400, "missing CRLF after chunk data");
        pos_ += 2;
      } else {
        return fail(400, "missing CRLF after chunk data");
      }
      phase_ = Phase::kChunkSize;
      return {};
    default:
      return {};
  }
}

}  // namespace coronet::http
