// The kv example: a memcached-protocol key-value server (protocol.h's subset) on coronet's
// socket API, on either TCP, one engine per core. Keys are sharded over the cores by hash: the
// core that accepted a connection serves its commands, running each key's operation on the key's
// owner core with coro::submit_to (a multi-get sends one message per owner core, not per key).
// Each core's Store is touched only on that core. Without a coro::Runtime (a single reactor, as
// in tests on the in-memory wire) every key is local.
//
//   coronet::kv::KvService kv(coronet::kv::KvConfig{});
//   return coronet::run(options, [&](coronet::Stack& s) { return kv.serve(s, 11211); });
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "coro/task.h"
#include "coronet/socket.h"
#include "examples/kv/store.h"

namespace coronet::kv {

struct KvConfig {
  std::size_t max_value = 1 << 20;          // larger values: SERVER_ERROR object too large
  std::size_t max_bytes_per_core = 256 << 20;  // keys + values held by one core
  unsigned max_cores = 64;
};

class KvService {
 public:
  explicit KvService(KvConfig config);
  ~KvService();
  KvService(const KvService&) = delete;
  KvService& operator=(const KvService&) = delete;

  // One core's server: listens on `port` and serves every accepted connection until cancelled.
  coro::Task<void> serve(Stack& stack, std::uint16_t port);
  // One client connection, until it closes, quits or breaks the protocol.
  coro::Task<void> session(Connection conn);

  // Items and bytes held by core `core`'s store; call on that core.
  Store& store_of(unsigned core);

 private:
  KvConfig config_;
  std::vector<std::unique_ptr<Store>> stores_;  // slot c is created and used on core c only
};

}  // namespace coronet::kv
