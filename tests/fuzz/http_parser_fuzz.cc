// libFuzzer target for the httpd example's request parser (examples/httpd/http_parser.h).
//
// An input is the byte stream a client might send on one connection. It is parsed the way the
// server parses it (pipelined requests, each in place in a mutable buffer, chunked bodies decoded
// where they lie) three times:
//   - handed over whole, in one buffer;
//   - one byte at a time, as growing prefixes of one buffer;
//   - in pieces of varied sizes, the pending bytes moved to a fresh exact-size allocation before
//     every call and the old one freed (a receive buffer being compacted or grown), so a view the
//     parser forgot to rebase reads freed memory under ASan.
// Every result is checked against the contract in the header, requests from the whole run also
// against the input bytes (an independent chunked decoder), and the three runs must produce the
// same sequence of outcomes: where a stream is cut into reads must not change what it means.
//
// An input that starts with 0xff carries three configuration bytes after that marker: two pick
// small Limits (to reach the limit paths), one seeds the piece sizes. Any other input runs with the
// default Limits and pieces seeded by its length, so the seed corpus stays plain HTTP.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "examples/httpd/http_parser.h"
#include "examples/httpd/http_snapshot.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using coronet::testing::fuzz::Pieces;

using coronet::http::Header;
using coronet::http::kMaxHeaders;
using coronet::http::Limits;
using coronet::http::Method;
using coronet::http::Parser;
using coronet::http::ParseStatus;
using coronet::http::Request;
using coronet::http::Result;
using coronet::http::Version;

// --- configuration --------------------------------------------------------------------------

struct Config {
  Limits limits;
  std::uint8_t piece_seed = 0;
};

// Takes the optional configuration prefix off `data` (see the file comment).
Config take_config(std::span<const std::uint8_t>& data) {
  Config c;
  if (data.size() >= 4 && data[0] == 0xff) {
    static constexpr std::size_t kHeaders[] = {0, 1, 2, 3, 5, 8, 64, 100};
    static constexpr std::size_t kBody[] = {0, 1, 2, 5, 16, 100, 1 << 20, SIZE_MAX};
    static constexpr std::size_t kTarget[] = {1, 4, 16, 4096};
    const std::uint8_t a = data[1];
    const std::uint8_t b = data[2];
    c.limits.max_header_bytes = a == 0 ? 8192 : a;
    c.limits.max_headers = kHeaders[b & 7];
    c.limits.max_body = kBody[(b >> 3) & 7];
    c.limits.max_target = kTarget[b >> 6];
    c.piece_seed = data[3];
    data = data.subspan(4);
  } else {
    c.piece_seed = static_cast<std::uint8_t>(data.size());
  }
  return c;
}

// --- outcomes -------------------------------------------------------------------------------

// One non-kNeedMore result, comparable across runs over different buffers.
using Outcome = coronet::http::Snapshot;
using coronet::http::snap;

// Everything a run over one input produced.
struct Run {
  std::vector<Outcome> outcomes;  // complete requests, then the error that ended the stream
  bool ended_in_head = false;     // the stream ended inside a body whose head was parsed

  bool operator==(const Run&) const = default;
};

// --- invariants -----------------------------------------------------------------------------

bool is_tchar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

// True if `v` lies within [base, base + size). A view without data (never set) is accepted.
bool inside(std::string_view v, const char* base, std::size_t size) {
  if (v.data() == nullptr) return v.empty();
  const auto p = reinterpret_cast<std::uintptr_t>(v.data());
  const auto b = reinterpret_cast<std::uintptr_t>(base);
  return p >= b && p - b <= size && v.size() <= size - (p - b);
}

// Offset of the view `v` (inside the buffer at `base`).
std::size_t offset_of(std::string_view v, const char* base) {
  return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(v.data()) -
                                  reinterpret_cast<std::uintptr_t>(base));
}

bool is_error_status(int s) {
  return s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505;
}

Method method_of(std::string_view m) {
  if (m == "GET") return Method::kGet;
  if (m == "HEAD") return Method::kHead;
  if (m == "POST") return Method::kPost;
  if (m == "PUT") return Method::kPut;
  if (m == "DELETE") return Method::kDelete;
  if (m == "OPTIONS") return Method::kOptions;
  return Method::kOther;
}

// Checks a parsed request head against the bytes [base, base + size) it was parsed from.
// Returns the offset just past the last byte of the head that a view covers.
std::size_t check_head(const Request& req, const char* base, std::size_t size,
                       const Limits& limits) {
  // Request line: method SP target SP "HTTP/1.x".
  FUZZ_CHECK(inside(req.method_name, base, size));
  FUZZ_CHECK(!req.method_name.empty() && req.method_name.size() <= 32);
  FUZZ_CHECK(std::all_of(req.method_name.begin(), req.method_name.end(), is_tchar));
  FUZZ_CHECK(req.method == method_of(req.method_name));
  FUZZ_CHECK(inside(req.target, base, size));
  FUZZ_CHECK(!req.target.empty() && req.target.size() <= limits.max_target);
  FUZZ_CHECK(std::all_of(req.target.begin(), req.target.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  }));
  const std::size_t method_at = offset_of(req.method_name, base);
  const std::size_t target_at = offset_of(req.target, base);
  FUZZ_CHECK(target_at == method_at + req.method_name.size() + 1);
  FUZZ_CHECK(base[target_at - 1] == ' ');
  const std::size_t version_at = target_at + req.target.size() + 1;
  FUZZ_CHECK(version_at + 8 <= size);
  FUZZ_CHECK(std::string_view(base + version_at - 1, 8) == " HTTP/1.");
  const char minor = base[version_at + 7];
  FUZZ_CHECK(minor >= '0' && minor <= '9');
  FUZZ_CHECK((req.version == Version::kHttp10) == (minor == '0'));
  std::size_t end = version_at + 8;

  // Path and query: parts of the target (an absolute-form target with an empty path is "/").
  const std::string_view t = req.target;
  const bool static_root = req.path == "/" && !inside(req.path, t.data(), t.size());
  FUZZ_CHECK(static_root || inside(req.path, t.data(), t.size()));
  // Only the authority-form (CONNECT) has no path.
  FUZZ_CHECK(static_root || !req.path.empty() || req.method_name == "CONNECT");
  if (t[0] == '/') FUZZ_CHECK(req.path.data() == t.data());
  if (t == "*") FUZZ_CHECK(req.method == Method::kOptions);
  if (!req.query.empty()) {
    FUZZ_CHECK(inside(req.query, t.data(), t.size()));
    FUZZ_CHECK(req.query.data() > t.data() && req.query.data()[-1] == '?');
    FUZZ_CHECK(req.query.data() + req.query.size() == t.data() + t.size());
  }

  // Header fields: in order after the request line, tokens and clean values, within the limits.
  FUZZ_CHECK(req.header_count <= std::min(limits.max_headers, kMaxHeaders));
  std::size_t hosts = 0, transfer_encodings = 0, content_lengths = 0, connections = 0;
  std::size_t first_field = 0;
  for (const Header& h : req.headers()) {
    FUZZ_CHECK(inside(h.name, base, size) && inside(h.value, base, size));
    FUZZ_CHECK(!h.name.empty() && std::all_of(h.name.begin(), h.name.end(), is_tchar));
    const std::size_t name_at = offset_of(h.name, base);
    FUZZ_CHECK(name_at >= end);
    if (first_field == 0) first_field = name_at;
    FUZZ_CHECK(base[name_at + h.name.size()] == ':');
    if (!h.value.empty()) {
      FUZZ_CHECK(offset_of(h.value, base) > name_at + h.name.size());
      FUZZ_CHECK(!is_ows(h.value.front()) && !is_ows(h.value.back()));
      end = offset_of(h.value, base) + h.value.size();
    } else {
      end = name_at + h.name.size() + 1;
    }
    FUZZ_CHECK(std::none_of(h.value.begin(), h.value.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return (u < 0x20 && c != '\t') || u == 0x7f;
    }));
    hosts += iequals(h.name, "host");
    transfer_encodings += iequals(h.name, "transfer-encoding");
    content_lengths += iequals(h.name, "content-length");
    connections += iequals(h.name, "connection");
  }
  // The section, with its line ends and final empty line, fits the budget.
  if (req.header_count > 0) FUZZ_CHECK(end - first_field < limits.max_header_bytes);

  // Framing and persistence facts the head must justify.
  FUZZ_CHECK(hosts <= 1);
  if (req.version == Version::kHttp11) FUZZ_CHECK(hosts == 1);
  if (req.chunked) {
    FUZZ_CHECK(req.version == Version::kHttp11);
    FUZZ_CHECK(transfer_encodings > 0 && content_lengths == 0);
  } else {
    FUZZ_CHECK(transfer_encodings == 0);
  }
  if (req.expect_continue) FUZZ_CHECK(req.version == Version::kHttp11);
  if (req.version == Version::kHttp10 && connections == 0) FUZZ_CHECK(!req.keep_alive);
  if (req.version == Version::kHttp11 && connections == 0) FUZZ_CHECK(req.keep_alive);
  return end;
}

// Checks one parse result and, for a complete request, everything it describes.
void check_result(const Result& r, const Request& req, const Parser& parser,
                  std::span<const char> buf, const Limits& limits) {
  switch (r.status) {
    case ParseStatus::kNeedMore:
      FUZZ_CHECK(r.consumed == 0 && r.http_status == 0);
      // The head, once parsed, is usable (e.g. to answer 100-continue) before the body is in.
      if (parser.head_complete()) check_head(req, buf.data(), buf.size(), limits);
      return;
    case ParseStatus::kError:
      FUZZ_CHECK(r.consumed == 0);
      FUZZ_CHECK(is_error_status(r.http_status));
      FUZZ_CHECK(!r.reason.empty());
      return;
    case ParseStatus::kComplete: {
      FUZZ_CHECK(r.http_status == 0);
      FUZZ_CHECK(r.consumed > 0 && r.consumed <= buf.size());
      const std::size_t head_end = check_head(req, buf.data(), r.consumed, limits);
      FUZZ_CHECK(inside(req.body, buf.data(), r.consumed));
      FUZZ_CHECK(req.body.size() <= limits.max_body);
      FUZZ_CHECK(req.content_length == req.body.size());
      if (!req.body.empty()) FUZZ_CHECK(offset_of(req.body, buf.data()) >= head_end);
      if (!req.chunked) {
        // A Content-Length body is the request's last bytes, untouched.
        if (req.body.data() != nullptr) {
          FUZZ_CHECK(offset_of(req.body, buf.data()) + req.body.size() == r.consumed);
        }
        if (req.find_header("content-length") == nullptr) FUZZ_CHECK(req.body.empty());
      }
      return;
    }
  }
  coronet::testing::fuzz::violated("unknown ParseStatus", __FILE__, __LINE__);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Independent decoder of a chunked body the parser accepted: `src` holds the original bytes
// from the body's start. Returns the decoded body; `end` is set past the final empty line.
std::string decode_chunked(std::string_view src, std::size_t& end) {
  std::string out;
  std::size_t i = 0;
  for (;;) {
    std::uint64_t size = 0;
    const std::size_t digits_at = i;
    for (int d; i < src.size() && (d = hex_digit(src[i])) >= 0; ++i) {
      FUZZ_CHECK(size >> 60 == 0);
      size = size * 16 + static_cast<std::uint64_t>(d);
    }
    FUZZ_CHECK(i > digits_at);
    const std::size_t lf = src.find('\n', i);
    FUZZ_CHECK(lf != std::string_view::npos);
    i = lf + 1;
    if (size == 0) break;
    FUZZ_CHECK(size <= src.size() - i);
    out.append(src.substr(i, static_cast<std::size_t>(size)));
    i += static_cast<std::size_t>(size);
    if (i < src.size() && src[i] == '\r') ++i;
    FUZZ_CHECK(i < src.size() && src[i] == '\n');
    ++i;
  }
  for (;;) {  // trailer section: field lines up to an empty line
    const std::size_t lf = src.find('\n', i);
    FUZZ_CHECK(lf != std::string_view::npos);
    const bool empty = lf == i || (lf == i + 1 && src[i] == '\r');
    i = lf + 1;
    if (empty) break;
  }
  end = i;
  return out;
}

// Checks a request completed in the whole run against the original input: the head and what
// follows the request are unchanged, and the body is what the framing says.
void check_against_input(const Request& req, std::size_t consumed, std::span<const char> buf,
                         std::string_view original) {
  const std::size_t body_at =
      req.body.data() == nullptr ? consumed : offset_of(req.body, buf.data());
  FUZZ_CHECK(std::memcmp(buf.data(), original.data(), body_at) == 0);
  FUZZ_CHECK(std::memcmp(buf.data() + consumed, original.data() + consumed,
                         original.size() - consumed) == 0);
  if (req.chunked) {
    std::size_t end = 0;
    FUZZ_CHECK(decode_chunked(original.substr(body_at), end) == req.body);
    FUZZ_CHECK(body_at + end == consumed);
  } else {
    FUZZ_CHECK(original.substr(consumed - req.body.size(), req.body.size()) == req.body);
  }
}

// --- the three runs -------------------------------------------------------------------------

// The stream handed over whole.
Run parse_whole(std::string_view input, const Limits& limits) {
  std::vector<char> buf(input.begin(), input.end());
  Parser parser(limits);
  Request req;
  Run run;
  std::size_t start = 0;
  for (;;) {
    const std::span<char> rest(buf.data() + start, buf.size() - start);
    const Result r = parser.parse(rest, req);
    check_result(r, req, parser, rest, limits);
    if (r.need_more()) {
      run.ended_in_head = parser.head_complete();
      // Called again with the same bytes, the parser still waits (and has nothing new to say).
      const Result again = parser.parse(rest, req);
      FUZZ_CHECK(again.need_more());
      FUZZ_CHECK(parser.head_complete() == run.ended_in_head);
      check_result(again, req, parser, rest, limits);
      break;
    }
    if (r.complete()) check_against_input(req, r.consumed, rest, input.substr(start));
    run.outcomes.push_back(snap(r, req));
    if (r.error()) break;
    start += r.consumed;
  }
  return run;
}

// Parses every request complete in buf[*start, end) as the server would after a read, checking
// and recording each outcome and moving *start past it; false once an error ended the stream.
bool parse_available(Parser& parser, Request& req, const Limits& limits, char* buf,
                     std::size_t end, std::size_t* start, Run& run) {
  for (;;) {
    const std::span<char> rest(buf + *start, end - *start);
    const Result r = parser.parse(rest, req);
    check_result(r, req, parser, rest, limits);
    if (r.need_more()) return true;
    run.outcomes.push_back(snap(r, req));
    if (r.error()) return false;
    *start += r.consumed;
  }
}

// The stream arriving one byte at a time into one buffer, parsed after every byte.
Run parse_bytewise(std::string_view input, const Limits& limits) {
  std::vector<char> buf(input.begin(), input.end());
  Parser parser(limits);
  Request req;
  Run run;
  std::size_t start = 0;
  for (std::size_t filled = 0; filled <= buf.size(); ++filled) {
    if (!parse_available(parser, req, limits, buf.data(), filled, &start, run)) return run;
  }
  run.ended_in_head = parser.head_complete();
  return run;
}

// A fresh allocation of exactly `size` bytes (ASan sees any access past it).
std::unique_ptr<char[]> allocate(std::size_t size) {
  return std::unique_ptr<char[]>(new char[size == 0 ? 1 : size]);
}

// The stream arriving in pieces; before every call the pending bytes (as the parser left them)
// move to a new allocation and the old one is freed.
Run parse_moving(std::string_view input, const Limits& limits, Pieces pieces) {
  Parser parser(limits);
  Request req;
  Run run;
  std::unique_ptr<char[]> held = allocate(0);
  std::size_t held_size = 0;  // bytes of the request in progress (and any after it)
  std::size_t fed = 0;
  while (fed < input.size()) {
    const std::size_t piece = std::min(pieces.next(), input.size() - fed);
    std::unique_ptr<char[]> grown = allocate(held_size + piece);
    if (held_size > 0) std::memcpy(grown.get(), held.get(), held_size);
    std::memcpy(grown.get() + held_size, input.data() + fed, piece);
    held = std::move(grown);
    held_size += piece;
    fed += piece;
    std::size_t start = 0;
    if (!parse_available(parser, req, limits, held.get(), held_size, &start, run)) return run;
    // Compact: the unfinished request moves to the front of a new buffer.
    std::unique_ptr<char[]> compacted = allocate(held_size - start);
    if (held_size > start) std::memcpy(compacted.get(), held.get() + start, held_size - start);
    held = std::move(compacted);
    held_size -= start;
  }
  run.ended_in_head = parser.head_complete();
  return run;
}

void check_same(const Run& a, const Run& b, const char* what) {
  if (a == b) return;
  std::fprintf(stderr, "outcomes differ (%s): %zu vs %zu outcomes, ended in head %d vs %d\n", what,
               a.outcomes.size(), b.outcomes.size(), a.ended_in_head, b.ended_in_head);
  for (std::size_t i = 0; i < std::max(a.outcomes.size(), b.outcomes.size()); ++i) {
    auto show = [](const std::vector<Outcome>& v, std::size_t k) {
      if (k >= v.size()) return std::string("-");
      const Outcome& o = v[k];
      return std::to_string(static_cast<int>(o.status)) + "/" + std::to_string(o.http_status) +
             " consumed " + std::to_string(o.consumed) + " " + o.method_name + " " + o.target +
             " body " + std::to_string(o.body.size());
    };
    std::fprintf(stderr, "  #%zu: %s | %s\n", i, show(a.outcomes, i).c_str(),
                 show(b.outcomes, i).c_str());
  }
  coronet::testing::fuzz::violated(what, __FILE__, __LINE__);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  const Config config = take_config(bytes);
  const std::string_view input(reinterpret_cast<const char*>(bytes.data()), bytes.size());

  const Run whole = parse_whole(input, config.limits);
  check_same(whole, parse_bytewise(input, config.limits), "whole vs byte by byte");
  check_same(whole, parse_moving(input, config.limits, Pieces(config.piece_seed, 256)),
             "whole vs moving pieces");
  return 0;
}
