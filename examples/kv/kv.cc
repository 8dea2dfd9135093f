#include "examples/kv/kv.h"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <ctime>
#include <functional>

#include "coro/log.h"
#include "coro/runtime.h"
#include "examples/kv/protocol.h"

namespace coronet::kv {
namespace {

// The cores the keys are spread over, and the calling core (1 and 0 outside a Runtime).
unsigned core_count() {
  auto* rt = coro::Runtime::current();
  return rt != nullptr ? rt->cores() : 1;
}
unsigned this_core() {
  const int c = coro::Runtime::current_core();
  return c < 0 ? 0 : static_cast<unsigned>(c);
}
unsigned owner_of(std::string_view key, unsigned cores) {
  return static_cast<unsigned>(std::hash<std::string_view>{}(key) % cores);
}
std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n" for a hit, nothing for a miss.
void append_value(std::string& out, std::string_view key, const Item* item, bool with_cas) {
  if (item == nullptr) return;
  if (with_cas) {
    fmt::format_to(std::back_inserter(out), "VALUE {} {} {} {}\r\n", key, item->flags,
                   item->data.size(), item->cas);
  } else {
    fmt::format_to(std::back_inserter(out), "VALUE {} {} {}\r\n", key, item->flags,
                   item->data.size());
  }
  out += item->data;
  out += "\r\n";
}

const char* store_reply(StoreResult r) {
  switch (r) {
    case StoreResult::kStored: return "STORED\r\n";
    case StoreResult::kNotStored: return "NOT_STORED\r\n";
    case StoreResult::kNoMemory: return "SERVER_ERROR out of memory storing object\r\n";
  }
  return "SERVER_ERROR\r\n";
}

}  // namespace

KvService::KvService(KvConfig config) : config_(config), stores_(config.max_cores) {}
KvService::~KvService() = default;

Store& KvService::store_of(unsigned core) {
  auto& slot = stores_.at(core);
  if (!slot) slot = std::make_unique<Store>(config_.max_bytes_per_core);
  return *slot;
}

coro::Task<void> KvService::serve(Stack& stack, std::uint16_t port) {
  if (core_count() > stores_.size()) {
    log::error("kv: {} cores, at most {} supported", core_count(), stores_.size());
    co_return;
  }
  auto listener = stack.listen(port, ListenOptions{.backlog = 1024});
  if (!listener) {
    log::error("kv: listen on port {}: {}", port, listener.error().message());
    co_return;
  }
  for (;;) {
    auto conn = co_await listener->accept();
    if (!conn) {
      log::warn("kv: accept: {}", conn.error().message());
      continue;
    }
    (void)conn->set_no_delay(true);
    coro::spawn(session(std::move(*conn)));
  }
}

coro::Task<void> KvService::session(Connection conn) {
  const unsigned cores = core_count();
  const unsigned me = this_core();
  // The receive buffer holds at least one whole command with its data block.
  const std::size_t max_buffer = config_.max_value + kMaxLine + 2;
  std::vector<char> in(16 * 1024);
  std::size_t have = 0;
  std::uint64_t skip = 0;  // bytes of a refused data block still to discard
  std::string out;
  Command cmd;
  std::array<std::string, kMaxKeys> remote;  // VALUE blocks fetched from other cores
  bool done = false;
  while (!done) {
    std::size_t pos = 0;
    while (!done) {
      if (skip > 0) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(skip, have - pos));
        pos += n;
        skip -= n;
        if (skip > 0) break;
      }
      const ParseResult r =
          parse_command(std::span<const char>(in.data() + pos, have - pos), config_.max_value, cmd);
      if (r.status == ParseStatus::kNeedMore) break;
      pos += r.consumed;
      if (r.status == ParseStatus::kError) {
        out += r.error;
        out += "\r\n";
        done = r.fatal;
        continue;
      }
      if (r.status == ParseStatus::kTooLarge) {
        out += "SERVER_ERROR object too large for cache\r\n";
        skip = r.skip;
        continue;
      }
      const std::int64_t now = unix_now();
      switch (cmd.op) {
        case Op::kGet:
        case Op::kGets: {
          const bool cas = cmd.op == Op::kGets;
          // One message per other core that owns some of the keys.
          for (unsigned c = 0; c < cores; ++c) {
            if (c == me) continue;
            bool any = false;
            for (std::size_t i = 0; i < cmd.nkeys && !any; ++i) any = owner_of(cmd.keys[i], cores) == c;
            if (!any) continue;
            (void)co_await coro::submit_to(c, [&, c] {
              Store& s = store_of(c);
              for (std::size_t i = 0; i < cmd.nkeys; ++i) {
                if (owner_of(cmd.keys[i], cores) != c) continue;
                remote[i].clear();
                append_value(remote[i], cmd.keys[i], s.get(cmd.keys[i], now), cas);
              }
            });
          }
          for (std::size_t i = 0; i < cmd.nkeys; ++i) {
            if (owner_of(cmd.keys[i], cores) == me) {
              append_value(out, cmd.keys[i], store_of(me).get(cmd.keys[i], now), cas);
            } else {
              out += remote[i];
            }
          }
          out += "END\r\n";
          break;
        }
        case Op::kSet:
        case Op::kAdd: {
          const unsigned owner = owner_of(cmd.keys[0], cores);
          auto op = [&, owner] {
            return store_of(owner).store(cmd.keys[0], cmd.flags, cmd.exptime, cmd.data, now,
                                         cmd.op == Op::kAdd);
          };
          StoreResult res = StoreResult::kNoMemory;
          if (owner == me) {
            res = op();
          } else {
            auto r2 = co_await coro::submit_to(owner, op);
            if (r2) res = *r2;
          }
          if (!cmd.noreply) out += store_reply(res);
          break;
        }
        case Op::kDelete: {
          const unsigned owner = owner_of(cmd.keys[0], cores);
          auto op = [&, owner] { return store_of(owner).erase(cmd.keys[0], now); };
          bool erased = false;
          if (owner == me) {
            erased = op();
          } else {
            auto r2 = co_await coro::submit_to(owner, op);
            if (r2) erased = *r2;
          }
          if (!cmd.noreply) out += erased ? "DELETED\r\n" : "NOT_FOUND\r\n";
          break;
        }
        case Op::kStats: {
          std::uint64_t items = 0, bytes = 0;
          for (unsigned c = 0; c < cores; ++c) {
            auto count = [&, c] {
              return std::pair<std::uint64_t, std::uint64_t>{store_of(c).items(),
                                                             store_of(c).bytes()};
            };
            std::pair<std::uint64_t, std::uint64_t> got{0, 0};
            if (c == me) {
              got = count();
            } else {
              auto r2 = co_await coro::submit_to(c, count);
              if (r2) got = *r2;
            }
            fmt::format_to(std::back_inserter(out), "STAT core{}_items {}\r\nSTAT core{}_bytes {}\r\n",
                           c, got.first, c, got.second);
            items += got.first;
            bytes += got.second;
          }
          fmt::format_to(std::back_inserter(out),
                         "STAT threads {}\r\nSTAT curr_items {}\r\nSTAT bytes {}\r\nEND\r\n", cores,
                         items, bytes);
          break;
        }
        case Op::kVersion:
          out += "VERSION coronet-kv 1.0\r\n";
          break;
        case Op::kQuit:
          done = true;
          break;
      }
    }
    // What is left is the start of the next command: move it to the front.
    if (pos > 0) {
      std::memmove(in.data(), in.data() + pos, have - pos);
      have -= pos;
    }
    if (!out.empty()) {
      if (!co_await conn.write(std::as_bytes(std::span(out)))) co_return;
      out.clear();
    }
    if (done) break;
    if (have == in.size()) {
      if (in.size() >= max_buffer) break;  // cannot happen: the parser refuses longer commands
      in.resize(std::min(in.size() * 2, max_buffer));
    }
    auto n = co_await conn.read(std::as_writable_bytes(std::span(in.data() + have, in.size() - have)));
    if (!n || *n == 0) co_return;  // closed, reset or a read error: nothing more to answer
    have += *n;
  }
  (void)co_await conn.close();
}

}  // namespace coronet::kv
