// One core's share of the key-value data (the kv example shards keys over cores by hash; each
// core's Store is touched only on that core). Items expire lazily, when looked at, following
// memcached's exptime rules; the total size is bounded per core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace coronet::kv {

struct Item {
  std::uint32_t flags = 0;
  std::int64_t expires_at = 0;  // Unix seconds; 0 = never
  std::uint64_t cas = 0;        // unique per stored version (gets)
  std::string data;
};

enum class StoreResult : std::uint8_t { kStored, kNotStored, kNoMemory };

class Store {
 public:
  // `max_bytes`: keys and values held by this core, at most.
  explicit Store(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // The live item under `key` at Unix time `now` (an expired one is dropped), or null.
  const Item* get(std::string_view key, std::int64_t now);
  // set (or add: only when absent or expired). exptime: memcached's (0 never, negative already
  // expired, up to 30 days relative, else an absolute Unix time).
  StoreResult store(std::string_view key, std::uint32_t flags, std::int64_t exptime,
                    std::string_view data, std::int64_t now, bool add_only);
  // True when a live item was removed.
  bool erase(std::string_view key, std::int64_t now);

  std::size_t items() const { return map_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, Item, Hash, std::equal_to<>>;
  void drop(Map::iterator it);

  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::uint64_t next_cas_ = 1;
  Map map_;
};

// memcached's exptime as an absolute Unix time (0 = never, -1 = already expired).
std::int64_t expiry_time(std::int64_t exptime, std::int64_t now);

}  // namespace coronet::kv
