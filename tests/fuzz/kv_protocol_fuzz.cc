// libFuzzer target for the kv example's memcached text protocol parser (examples/kv/protocol.h).
//
// An input is the byte stream a client might send on one connection. It is served the way
// KvService::session serves it (pipelined commands parsed in place; a refused value's data block
// skipped as it arrives; a fatal error ends the stream) twice: handed over whole, and arriving in
// pieces of varied sizes with the pending bytes moved to a fresh exact-size allocation before
// every parse (so ASan sees any read past them, or of a view into a freed buffer). Every result
// is checked against the header's contract and an independent reading of the command line, both
// runs must produce the same sequence of outcomes, and the complete commands of the whole run
// drive a Store next to a reference model of it (a value read back is the value last stored).
//
// An input that starts with 0xff carries two configuration bytes after that marker: the value
// size limit and the seed of the piece sizes. Any other input runs with a 1 KiB limit and pieces
// seeded by its length, so the seed corpus stays plain protocol text.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "examples/kv/protocol.h"
#include "examples/kv/store.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using coronet::testing::fuzz::Pieces;

using coronet::kv::Command;
using coronet::kv::kMaxKeyLength;
using coronet::kv::kMaxKeys;
using coronet::kv::kMaxLine;
using coronet::kv::Op;
using coronet::kv::ParseResult;
using coronet::kv::ParseStatus;
using coronet::kv::Store;
using coronet::kv::StoreResult;

// --- configuration --------------------------------------------------------------------------

struct Config {
  std::size_t max_value = 1024;
  std::uint8_t piece_seed = 0;
};

Config take_config(std::span<const std::uint8_t>& data) {
  Config c;
  if (data.size() >= 3 && data[0] == 0xff) {
    static constexpr std::size_t kMaxValue[] = {0, 1, 2, 5, 16, 1024, 1 << 20, SIZE_MAX};
    c.max_value = kMaxValue[data[1] & 7];
    c.piece_seed = data[2];
    data = data.subspan(3);
  } else {
    c.piece_seed = static_cast<std::uint8_t>(data.size());
  }
  return c;
}

// --- outcomes -------------------------------------------------------------------------------

// A copy of one non-kNeedMore result (and its command), comparable across runs.
struct Outcome {
  ParseStatus status = ParseStatus::kNeedMore;
  std::size_t consumed = 0;  // not compared for a fatal error: it ends the stream anyway
  std::string error;
  bool fatal = false;
  std::uint64_t skip = 0;
  Op op = Op::kGet;
  std::vector<std::string> keys;
  std::uint32_t flags = 0;
  std::int64_t exptime = 0;
  std::string data;
  bool noreply = false;

  bool operator==(const Outcome&) const = default;
};

Outcome snapshot(const ParseResult& r, const Command& cmd) {
  Outcome o;
  o.status = r.status;
  o.consumed = r.fatal ? 0 : r.consumed;
  o.error = std::string(r.error);
  o.fatal = r.fatal;
  o.skip = r.skip;
  if (r.status != ParseStatus::kComplete && r.status != ParseStatus::kTooLarge) return o;
  o.op = cmd.op;
  for (std::size_t i = 0; i < cmd.nkeys; ++i) o.keys.emplace_back(cmd.keys[i]);
  o.flags = cmd.flags;
  o.exptime = cmd.exptime;
  o.data = std::string(cmd.data);
  o.noreply = cmd.noreply;
  return o;
}

struct Run {
  std::vector<Outcome> outcomes;
  std::uint64_t skip_left = 0;  // bytes of a refused data block the stream ended inside

  bool operator==(const Run&) const = default;
};

// --- invariants -----------------------------------------------------------------------------

bool inside(std::string_view v, const char* base, std::size_t size) {
  if (v.data() == nullptr) return v.empty();
  const auto p = reinterpret_cast<std::uintptr_t>(v.data());
  const auto b = reinterpret_cast<std::uintptr_t>(base);
  return p >= b && p - b <= size && v.size() <= size - (p - b);
}

// The protocol's key rule (protocol.h), restated: 1-250 bytes, no control bytes, no spaces.
bool key_ok(std::string_view k) {
  return !k.empty() && k.size() <= kMaxKeyLength && std::none_of(k.begin(), k.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

// An unsigned decimal token, or nothing (also when it does not fit 64 bits).
std::optional<std::uint64_t> decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// The first line of `b` split at spaces, without its "\r\n" or "\n" (the caller found the LF).
std::vector<std::string_view> tokens_of_line(std::string_view b, std::size_t lf) {
  std::string_view line = b.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    const std::size_t j = std::min(line.find(' ', i), line.size());
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Checks one parse of `buf` against the contract and against an independent reading of the line.
void check_result(const ParseResult& r, const Command& cmd, std::span<const char> buf,
                  std::size_t max_value) {
  const std::string_view b(buf.data(), buf.size());
  const std::size_t lf = b.find('\n');
  if (r.status == ParseStatus::kNeedMore) {
    FUZZ_CHECK(r.consumed == 0 && r.error.empty() && !r.fatal);
    // Waiting is right only for an unfinished line within the limit, or a data block to come.
    if (lf == std::string_view::npos) {
      FUZZ_CHECK(b.size() <= kMaxLine);
    } else {
      const std::vector<std::string_view> tok = tokens_of_line(b, lf);
      FUZZ_CHECK(tok.size() >= 5 && (tok[0] == "set" || tok[0] == "add"));
      const auto bytes = decimal(tok[4]);
      FUZZ_CHECK(bytes.has_value() && *bytes <= max_value);
      const std::size_t available = b.size() - (lf + 1);  // block bytes in, "\r\n" included
      FUZZ_CHECK(available <= *bytes || available - *bytes < 2);
    }
    return;
  }
  // Every other outcome consumes something (the server loop must advance) within the buffer.
  FUZZ_CHECK(r.consumed > 0 && r.consumed <= b.size());
  if (r.status == ParseStatus::kError) {
    FUZZ_CHECK(r.error == "ERROR" || r.error.starts_with("CLIENT_ERROR "));
    FUZZ_CHECK(r.error.find_first_of("\r\n") == std::string_view::npos);
    if (lf == std::string_view::npos || lf > kMaxLine) {
      FUZZ_CHECK(r.fatal);  // no resynchronising after a line that is too long
    } else {
      FUZZ_CHECK(!r.fatal);
      FUZZ_CHECK(r.consumed >= lf + 1);
    }
    return;
  }
  FUZZ_CHECK(r.error.empty() && !r.fatal);
  FUZZ_CHECK(lf != std::string_view::npos && lf <= kMaxLine);
  const std::vector<std::string_view> tok = tokens_of_line(b, lf);
  FUZZ_CHECK(!tok.empty());
  const std::string_view name = tok[0];
  FUZZ_CHECK(cmd.nkeys <= kMaxKeys);
  for (std::size_t i = 0; i < cmd.nkeys; ++i) {
    FUZZ_CHECK(inside(cmd.keys[i], buf.data(), lf));
    FUZZ_CHECK(key_ok(cmd.keys[i]));
    FUZZ_CHECK(coronet::kv::valid_key(cmd.keys[i]));
  }
  if (r.status == ParseStatus::kTooLarge) {
    FUZZ_CHECK(name == "set" || name == "add");
    FUZZ_CHECK(r.consumed == lf + 1);
    FUZZ_CHECK(tok.size() >= 5);
    const auto bytes = decimal(tok[4]);
    // The whole refused block and its "\r\n" are skipped (stated without overflowing).
    FUZZ_CHECK(bytes.has_value() && *bytes > max_value && r.skip >= 2 && r.skip - 2 == *bytes);
    return;
  }
  FUZZ_CHECK(r.skip == 0);
  switch (cmd.op) {
    case Op::kGet:
    case Op::kGets:
      FUZZ_CHECK(name == (cmd.op == Op::kGet ? "get" : "gets"));
      FUZZ_CHECK(cmd.nkeys >= 1 && cmd.nkeys == tok.size() - 1);
      for (std::size_t i = 0; i < cmd.nkeys; ++i) FUZZ_CHECK(cmd.keys[i] == tok[i + 1]);
      FUZZ_CHECK(cmd.data.empty() && !cmd.noreply && r.consumed == lf + 1);
      return;
    case Op::kSet:
    case Op::kAdd: {
      FUZZ_CHECK(name == (cmd.op == Op::kSet ? "set" : "add"));
      FUZZ_CHECK(tok.size() == 5 || tok.size() == 6);
      FUZZ_CHECK(cmd.nkeys == 1 && cmd.keys[0] == tok[1]);
      FUZZ_CHECK(decimal(tok[2]) == std::optional<std::uint64_t>(cmd.flags));
      const bool negative = tok[3].starts_with('-');
      const auto magnitude = decimal(tok[3].substr(negative ? 1 : 0));
      FUZZ_CHECK(magnitude.has_value());
      FUZZ_CHECK(static_cast<std::uint64_t>(cmd.exptime) ==
                 (negative ? 0 - *magnitude : *magnitude));
      FUZZ_CHECK(cmd.noreply == (tok.size() == 6));
      if (cmd.noreply) FUZZ_CHECK(tok[5] == "noreply");
      // The data block: exactly <bytes> bytes right after the line, then "\r\n".
      const auto bytes = decimal(tok[4]);
      FUZZ_CHECK(bytes.has_value() && *bytes <= max_value && cmd.data.size() == *bytes);
      FUZZ_CHECK(cmd.data.data() == buf.data() + lf + 1);
      FUZZ_CHECK(inside(cmd.data, buf.data(), b.size()));
      FUZZ_CHECK(r.consumed == lf + 1 + cmd.data.size() + 2);
      FUZZ_CHECK(b.substr(r.consumed - 2, 2) == "\r\n");
      return;
    }
    case Op::kDelete:
      FUZZ_CHECK(name == "delete");
      FUZZ_CHECK(cmd.nkeys == 1 && cmd.keys[0] == tok[1]);
      FUZZ_CHECK(cmd.noreply == (tok.back() == "noreply" && tok.size() > 2));
      FUZZ_CHECK(cmd.data.empty() && r.consumed == lf + 1);
      return;
    case Op::kStats:
    case Op::kVersion:
    case Op::kQuit:
      FUZZ_CHECK(tok.size() == 1);
      FUZZ_CHECK(name == (cmd.op == Op::kStats     ? "stats"
                          : cmd.op == Op::kVersion ? "version"
                                                   : "quit"));
      FUZZ_CHECK(cmd.nkeys == 0 && cmd.data.empty() && r.consumed == lf + 1);
      return;
  }
  coronet::testing::fuzz::violated("unknown Op", __FILE__, __LINE__);
}

// --- serving: the session loop of kv.cc, over given buffers ---------------------------------

// Serves the bytes in `buf` from `pos` as far as they go (as KvService::session does), appending
// outcomes to `run`. Returns false once the stream has ended (quit or a fatal error). `on_command`
// sees every complete command while its views are valid.
template <typename OnCommand>
bool serve(std::span<const char> buf, std::size_t& pos, Run& run, std::size_t max_value,
           OnCommand&& on_command) {
  Command cmd;
  for (;;) {
    if (run.skip_left > 0) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(run.skip_left, buf.size() - pos));
      pos += n;
      run.skip_left -= n;
      if (run.skip_left > 0) return true;
    }
    const std::span<const char> rest = buf.subspan(pos);
    const ParseResult r = coronet::kv::parse_command(rest, max_value, cmd);
    check_result(r, cmd, rest, max_value);
    if (r.status == ParseStatus::kNeedMore) return true;
    run.outcomes.push_back(snapshot(r, cmd));
    pos += r.consumed;
    if (r.status == ParseStatus::kError && r.fatal) return false;
    if (r.status == ParseStatus::kTooLarge) run.skip_left = r.skip;
    if (r.status == ParseStatus::kComplete) {
      on_command(cmd);
      if (cmd.op == Op::kQuit) return false;
    }
  }
}

// --- the store next to a reference model ----------------------------------------------------

constexpr std::size_t kStoreBytes = 4096;  // small, so that a full store is reached too

class StoreCheck {
 public:
  void apply(const Command& cmd) {
    ++now_;  // a second passes per command: short relative expiry times run out
    switch (cmd.op) {
      case Op::kGet:
      case Op::kGets:
        for (std::size_t i = 0; i < cmd.nkeys; ++i) check_get(cmd.keys[i]);
        return;
      case Op::kSet:
      case Op::kAdd: {
        const StoreResult got =
            store_.store(cmd.keys[0], cmd.flags, cmd.exptime, cmd.data, now_, cmd.op == Op::kAdd);
        FUZZ_CHECK(got == model_store(cmd));
        check_get(cmd.keys[0]);
        return;
      }
      case Op::kDelete: {
        const std::string key(cmd.keys[0]);
        auto it = model_.find(key);
        const bool live = it != model_.end() && alive(it->second);
        if (it != model_.end()) {
          bytes_ -= key.size() + it->second.data.size();
          model_.erase(it);
        }
        FUZZ_CHECK(store_.erase(cmd.keys[0], now_) == live);
        check_get(cmd.keys[0]);
        return;
      }
      case Op::kStats:
      case Op::kVersion:
      case Op::kQuit:
        FUZZ_CHECK(store_.bytes() == bytes_);
        return;
    }
  }

 private:
  struct Value {
    std::uint32_t flags = 0;
    std::int64_t expires_at = 0;
    std::string data;
  };

  bool alive(const Value& v) const { return v.expires_at == 0 || v.expires_at > now_; }

  // memcached's rules for exptime (store.h), restated.
  std::int64_t expires(std::int64_t exptime) const {
    if (exptime == 0) return 0;
    if (exptime < 0) return -1;
    return exptime <= 60 * 60 * 24 * 30 ? now_ + exptime : exptime;
  }

  StoreResult model_store(const Command& cmd) {
    const std::string key(cmd.keys[0]);
    auto it = model_.find(key);
    if (cmd.op == Op::kAdd && it != model_.end() && alive(it->second)) {
      return StoreResult::kNotStored;
    }
    const std::size_t old = it == model_.end() ? 0 : key.size() + it->second.data.size();
    const std::size_t added = key.size() + cmd.data.size();
    if (bytes_ - old + added > kStoreBytes) return StoreResult::kNoMemory;
    bytes_ = bytes_ - old + added;
    Value& v = model_[key];
    v = Value{cmd.flags, expires(cmd.exptime), std::string(cmd.data)};
    if (v.expires_at < 0) {
      bytes_ -= added;
      model_.erase(key);
    }
    return StoreResult::kStored;
  }

  // A read returns what the model holds, and drops what expired.
  void check_get(std::string_view key) {
    auto it = model_.find(std::string(key));
    const coronet::kv::Item* item = store_.get(key, now_);
    if (it != model_.end() && !alive(it->second)) {
      bytes_ -= key.size() + it->second.data.size();
      model_.erase(it);
      it = model_.end();
    }
    if (it == model_.end()) {
      FUZZ_CHECK(item == nullptr);
    } else {
      FUZZ_CHECK(item != nullptr);
      FUZZ_CHECK(item->data == it->second.data && item->flags == it->second.flags);
      FUZZ_CHECK(item->cas > 0);
    }
    FUZZ_CHECK(store_.bytes() == bytes_ && store_.items() == model_.size());
  }

  Store store_{kStoreBytes};
  std::map<std::string, Value> model_;
  std::size_t bytes_ = 0;
  std::int64_t now_ = 1'700'000'000;
};

// --- the two runs ---------------------------------------------------------------------------

Run serve_whole(std::string_view input, std::size_t max_value) {
  Run run;
  StoreCheck store;
  std::size_t pos = 0;
  serve(std::span<const char>(input.data(), input.size()), pos, run, max_value,
        [&store](const Command& cmd) { store.apply(cmd); });
  return run;
}

std::unique_ptr<char[]> allocate(std::size_t size) {
  return std::unique_ptr<char[]>(new char[size == 0 ? 1 : size]);
}

Run serve_moving(std::string_view input, std::size_t max_value, Pieces pieces) {
  Run run;
  std::unique_ptr<char[]> held = allocate(0);
  std::size_t held_size = 0;
  std::size_t fed = 0;
  while (fed < input.size()) {
    const std::size_t piece = std::min(pieces.next(), input.size() - fed);
    std::unique_ptr<char[]> grown = allocate(held_size + piece);
    if (held_size > 0) std::memcpy(grown.get(), held.get(), held_size);
    std::memcpy(grown.get() + held_size, input.data() + fed, piece);
    held = std::move(grown);
    held_size += piece;
    fed += piece;
    std::size_t pos = 0;
    if (!serve(std::span<const char>(held.get(), held_size), pos, run, max_value,
               [](const Command&) {})) {
      return run;
    }
    std::unique_ptr<char[]> compacted = allocate(held_size - pos);
    if (held_size > pos) std::memcpy(compacted.get(), held.get() + pos, held_size - pos);
    held = std::move(compacted);
    held_size -= pos;
  }
  return run;
}

void check_same(const Run& a, const Run& b) {
  if (a == b) return;
  std::fprintf(stderr, "outcomes differ: %zu vs %zu outcomes, skip left %llu vs %llu\n",
               a.outcomes.size(), b.outcomes.size(), static_cast<unsigned long long>(a.skip_left),
               static_cast<unsigned long long>(b.skip_left));
  for (std::size_t i = 0; i < std::max(a.outcomes.size(), b.outcomes.size()); ++i) {
    auto show = [](const std::vector<Outcome>& v, std::size_t k) {
      if (k >= v.size()) return std::string("-");
      const Outcome& o = v[k];
      return std::to_string(static_cast<int>(o.status)) + " consumed " +
             std::to_string(o.consumed) + " op " + std::to_string(static_cast<int>(o.op)) + " " +
             o.error + " data " + std::to_string(o.data.size());
    };
    std::fprintf(stderr, "  #%zu: %s | %s\n", i, show(a.outcomes, i).c_str(),
                 show(b.outcomes, i).c_str());
  }
  coronet::testing::fuzz::violated("whole vs moving pieces", __FILE__, __LINE__);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  const Config config = take_config(bytes);
  const std::string_view input(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const Run whole = serve_whole(input, config.max_value);
  check_same(whole, serve_moving(input, config.max_value, Pieces(config.piece_seed, 512)));
  return 0;
}
