#include "examples/kv/store.h"

namespace coronet::kv {

std::int64_t expiry_time(std::int64_t exptime, std::int64_t now) {
  constexpr std::int64_t kRelativeLimit = 60 * 60 * 24 * 30;  // memcached: 30 days
  if (exptime == 0) return 0;
  if (exptime < 0) return -1;
  return exptime <= kRelativeLimit ? now + exptime : exptime;
}

void Store::drop(Map::iterator it) {
  bytes_ -= it->first.size() + it->second.data.size();
  map_.erase(it);
}

const Item* Store::get(std::string_view key, std::int64_t now) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  if (it->second.expires_at != 0 && it->second.expires_at <= now) {
    drop(it);
    return nullptr;
  }
  return &it->second;
}

StoreResult Store::store(std::string_view key, std::uint32_t flags, std::int64_t exptime,
                         std::string_view data, std::int64_t now, bool add_only) {
  const std::int64_t expires = expiry_time(exptime, now);
  auto it = map_.find(key);
  const bool live = it != map_.end() && (it->second.expires_at == 0 || it->second.expires_at > now);
  if (add_only && live) return StoreResult::kNotStored;
  const std::size_t old = it == map_.end() ? 0 : it->first.size() + it->second.data.size();
  if (bytes_ - old + key.size() + data.size() > max_bytes_) return StoreResult::kNoMemory;
  if (it == map_.end()) it = map_.emplace(std::string(key), Item{}).first;
  Item& item = it->second;
  item.flags = flags;
  item.expires_at = expires;
  item.cas = next_cas_++;
  item.data.assign(data);
  bytes_ = bytes_ - old + key.size() + data.size();
  if (expires < 0) drop(it);  // stored, and already expired (memcached's negative exptime)
  return StoreResult::kStored;
}

bool Store::erase(std::string_view key, std::int64_t now) {
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  const bool live = it->second.expires_at == 0 || it->second.expires_at > now;
  drop(it);
  return live;
}

}  // namespace coronet::kv
