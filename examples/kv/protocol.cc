#include "examples/kv/protocol.h"

#include <charconv>
#include <limits>

namespace coronet::kv {
namespace {

constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
// Largest data block length accepted: the block and its "\r\n" must be countable in 64 bits (a
// refused block is skipped by that count). memcached likewise refuses lengths it cannot count.
constexpr std::uint64_t kMaxBlockLength = std::numeric_limits<std::uint64_t>::max() - 2;

// Splits `line` at runs of spaces into `out`; false when there are more tokens than fit.
bool tokenize(std::string_view line, std::span<std::string_view> out, std::size_t& n) {
  n = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i == line.size()) break;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (n == out.size()) return false;
    out[n++] = line.substr(i, j - i);
    i = j;
  }
  return true;
}

// A whole decimal token as T; false for anything else (sign only where T is signed).
template <typename T>
bool number(std::string_view s, T& v) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

ParseResult error(std::size_t consumed, std::string_view reply, bool fatal = false) {
  return ParseResult{ParseStatus::kError, consumed, reply, fatal};
}

}  // namespace

bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyLength) return false;
  for (char c : key) {
    if (static_cast<unsigned char>(c) <= 32 || c == 127) return false;
  }
  return true;
}

ParseResult parse_command(std::span<const char> buf, std::size_t max_value, Command& out) {
  const std::string_view b(buf.data(), buf.size());
  const std::size_t nl = b.find('\n');
  if (nl == std::string_view::npos) {
    // No end of line within the limit: the client is not speaking this protocol.
    if (b.size() > kMaxLine) return error(b.size(), "CLIENT_ERROR line too long", true);
    return {};
  }
  if (nl > kMaxLine) return error(nl + 1, "CLIENT_ERROR line too long", true);
  std::string_view line = b.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t line_end = nl + 1;

  std::array<std::string_view, kMaxKeys + 2> tok;
  std::size_t n = 0;
  const bool fits = tokenize(line, tok, n);
  if (n == 0) return error(line_end, "ERROR");
  out = Command{};
  const std::string_view name = tok[0];

  if (name == "get" || name == "gets") {
    if (!fits || n - 1 > kMaxKeys) return error(line_end, "CLIENT_ERROR too many keys");
    if (n < 2) return error(line_end, "ERROR");
    out.op = name == "get" ? Op::kGet : Op::kGets;
    for (std::size_t i = 1; i < n; ++i) {
      if (!valid_key(tok[i])) return error(line_end, kBadFormat);
      out.keys[out.nkeys++] = tok[i];
    }
    return {ParseStatus::kComplete, line_end, {}, false};
  }
  if (name == "set" || name == "add") {
    // <command> <key> <flags> <exptime> <bytes> [noreply]
    if (!fits || n < 5 || n > 6) return error(line_end, kBadFormat);
    std::uint64_t bytes = 0;
    if (!valid_key(tok[1]) || !number(tok[2], out.flags) || !number(tok[3], out.exptime) ||
        !number(tok[4], bytes) || bytes > kMaxBlockLength || (n == 6 && tok[5] != "noreply")) {
      return error(line_end, kBadFormat);
    }
    out.op = name == "set" ? Op::kSet : Op::kAdd;
    out.keys[0] = tok[1];
    out.nkeys = 1;
    out.noreply = n == 6;
    if (bytes > max_value) {
      // Refused, but the data block still follows on the wire: the caller skips it.
      ParseResult r{ParseStatus::kTooLarge, line_end, {}, false};
      r.skip = bytes + 2;
      return r;
    }
    // Compared as what is left after the line: line_end + bytes + 2 need not fit a size_t when
    // max_value is that large.
    if (b.size() - line_end < bytes + 2) return {};
    const std::size_t need = line_end + static_cast<std::size_t>(bytes) + 2;
    if (b[need - 2] != '\r' || b[need - 1] != '\n') {
      return error(need, "CLIENT_ERROR bad data chunk");
    }
    out.data = b.substr(line_end, static_cast<std::size_t>(bytes));
    return {ParseStatus::kComplete, need, {}, false};
  }
  if (name == "delete") {
    // delete <key> [noreply] (memcached also still accepts a legacy time of 0)
    if (!fits || n < 2 || n > 4 || !valid_key(tok[1])) return error(line_end, kBadFormat);
    std::size_t i = 2;
    if (i < n && tok[i] == "0") ++i;
    if (i < n && tok[i] == "noreply") {
      out.noreply = true;
      ++i;
    }
    if (i != n) return error(line_end, kBadFormat);
    out.op = Op::kDelete;
    out.keys[0] = tok[1];
    out.nkeys = 1;
    return {ParseStatus::kComplete, line_end, {}, false};
  }
  if (n == 1 && name == "stats") out.op = Op::kStats;
  else if (n == 1 && name == "version") out.op = Op::kVersion;
  else if (n == 1 && name == "quit") out.op = Op::kQuit;
  else return error(line_end, "ERROR");
  return {ParseStatus::kComplete, line_end, {}, false};
}

}  // namespace coronet::kv
