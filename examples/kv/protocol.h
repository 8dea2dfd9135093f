// The memcached text protocol, the subset coronet's kv example serves (memcached's
// doc/protocol.txt): storage commands `set` and `add` with a data block, retrieval `get`/`gets`
// with any number of keys (multi-get), `delete`, `stats`, `version`, `quit`. Commands are parsed
// in place from the connection's receive buffer: no allocation, keys and data are views into it.
//
// Lines end in "\r\n" (a bare "\n" is accepted too, like memcached). Limits, as memcached's:
// keys of 1-250 bytes without control characters or spaces, a command line of at most
// kMaxLine bytes, at most kMaxKeys keys per retrieval; values up to a configured size.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace coronet::kv {

inline constexpr std::size_t kMaxKeyLength = 250;
inline constexpr std::size_t kMaxLine = 2048;
inline constexpr std::size_t kMaxKeys = 64;

enum class Op : std::uint8_t { kGet, kGets, kSet, kAdd, kDelete, kStats, kVersion, kQuit };

struct Command {
  Op op = Op::kGet;
  std::array<std::string_view, kMaxKeys> keys{};  // retrieval: keys[0..nkeys); others: keys[0]
  std::size_t nkeys = 0;
  std::uint32_t flags = 0;      // set/add: opaque client flags
  std::int64_t exptime = 0;     // set/add: 0 never; <= 30 days relative seconds; else Unix time
  std::string_view data;        // set/add: the data block (without its "\r\n")
  bool noreply = false;
};

enum class ParseStatus : std::uint8_t {
  kNeedMore,     // no complete command yet: read more and call again with the grown buffer
  kComplete,     // `command` is valid; `consumed` bytes belong to it
  kError,        // answer `error` ("ERROR" or "CLIENT_ERROR ...") and skip `consumed` bytes
  kTooLarge,     // set/add whose value exceeds max_value: answer "SERVER_ERROR object too large
                 // for cache", drop the `consumed` command line and discard `skip` more bytes
};

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  std::size_t consumed = 0;
  std::string_view error;  // for kError: the whole reply line without "\r\n"
  // kError after which the connection should be closed (the stream cannot be resynchronised,
  // e.g. a command line longer than kMaxLine).
  bool fatal = false;
  // kTooLarge: bytes still to discard after `consumed` (the refused data block and its "\r\n").
  std::uint64_t skip = 0;
};

// Parses the first command in `buf` into `out` (views into buf). `max_value` bounds set/add.
ParseResult parse_command(std::span<const char> buf, std::size_t max_value, Command& out);

// True for a key memcached accepts: 1-250 bytes, no control characters, no spaces.
bool valid_key(std::string_view key);

}  // namespace coronet::kv
