#include "nic/packet_pool.h"

#include <algorithm>
#include <new>
#include <stdexcept>

#include "coro/log.h"

namespace coronet::nic {
namespace {
constexpr std::uint32_t kMinFrame = 64;  // a minimum Ethernet frame must fit after the headroom
constexpr std::size_t kAlign = 64;
}  // namespace

PacketPool::PacketPool(PacketPoolConfig config) : name_(config.name), config_(std::move(config)) {
  if (config_.count == 0) throw std::invalid_argument("PacketPool " + name_ + ": count is 0");
  if (config_.buffer_size < config_.headroom + kMinFrame) {
    throw std::invalid_argument("PacketPool " + name_ + ": buffer_size " +
                                std::to_string(config_.buffer_size) + " leaves less than " +
                                std::to_string(kMinFrame) + " bytes after headroom " +
                                std::to_string(config_.headroom));
  }
  descriptors_ = std::make_unique<Packet[]>(config_.count);
  region_ = static_cast<std::byte*>(::operator new(
      static_cast<std::size_t>(config_.count) * config_.buffer_size, std::align_val_t(kAlign)));
  free_list_.reserve(config_.count);
  for (std::uint32_t i = config_.count; i-- > 0;) {
    Packet& p = descriptors_[i];
    p.buf_ = region_ + static_cast<std::size_t>(i) * config_.buffer_size;
    p.cap_ = config_.buffer_size;
    p.pool_ = this;
    p.in_pool_ = true;
    free_list_.push_back(&p);
  }
  stats_.capacity = config_.count;
  if (config_.views > 0) {
    view_descriptors_ = std::make_unique<Packet[]>(config_.views);
    view_free_list_.reserve(config_.views);
    for (std::uint32_t i = config_.views; i-- > 0;) {
      Packet& v = view_descriptors_[i];
      v.pool_ = this;
      v.in_pool_ = true;
      view_free_list_.push_back(&v);
    }
  }
}

PacketPool::PacketPool(std::string name, std::uint32_t capacity, BackendOps ops)
    : name_(std::move(name)), ops_(ops), native_(false) {
  stats_.capacity = capacity;
}

PacketPool::~PacketPool() {
  if (stats_.in_use != 0) {
    log::warn("packet pool {}: destroyed with {} packets still in use", name_, stats_.in_use);
  }
  if (stats_.views_in_use != 0) {
    log::warn("packet pool {}: destroyed with {} views still in use", name_, stats_.views_in_use);
  }
  if (region_ != nullptr) ::operator delete(region_, std::align_val_t(kAlign));
}

void PacketPool::count_alloc() {
  ++stats_.allocs;
  ++stats_.in_use;
  if (stats_.in_use > stats_.high_watermark) stats_.high_watermark = stats_.in_use;
}

Packet* PacketPool::alloc() {
  Packet* p;
  if (native_) {
    if (free_list_.empty()) {
      ++stats_.exhausted;
      return nullptr;
    }
    p = free_list_.back();
    free_list_.pop_back();
    p->in_pool_ = false;
    p->refs_ = 1;
    p->reset(config_.headroom);
  } else {
    p = ops_.alloc(ops_.ctx);
    if (p == nullptr) {
      ++stats_.exhausted;
      return nullptr;
    }
  }
  count_alloc();
  return p;
}

std::size_t PacketPool::alloc_bulk(std::span<Packet*> out) {
  std::size_t n = 0;
  for (; n < out.size(); ++n) {
    Packet* p = alloc();
    if (p == nullptr) break;
    out[n] = p;
  }
  return n;
}

void PacketPool::release(Packet* p) {
  if (p->in_pool_) {
    ++stats_.double_frees;
    log::error("packet pool {}: double free of packet {} ignored", name_,
               static_cast<const void*>(p));
    return;
  }
  if (p->base_ != nullptr) {
    release_view(p);
    return;
  }
  if (p->refs_ > 1) {  // views still show these bytes: the last of them frees the buffer
    --p->refs_;
    return;
  }
  p->refs_ = 0;
  ++stats_.frees;
  --stats_.in_use;
  if (native_) {
    p->in_pool_ = true;
    p->next_ = nullptr;
    free_list_.push_back(p);
  } else {
    p->next_ = nullptr;
    p->in_pool_ = true;  // a second free is caught here too (attach() clears it on reuse)
    ops_.free(ops_.ctx, p);
  }
  maybe_self_destruct();
}

void PacketPool::release_view(Packet* v) {
  Packet* base = v->base_;
  v->base_ = nullptr;
  v->buf_ = nullptr;
  v->next_ = nullptr;
  v->in_pool_ = true;
  --stats_.views_in_use;
  view_free_list_.push_back(v);
  // The base may live in another pool, or in this one (which may then destroy itself): release it
  // last and touch nothing afterwards.
  if (base->pool_ != this) {
    base->pool_->release(base);
    maybe_self_destruct();
  } else {
    release(base);
  }
}

void PacketPool::maybe_self_destruct() {
  if (retired_ && stats_.in_use == 0 && stats_.views_in_use == 0) delete this;
}

void PacketPool::retire(std::unique_ptr<PacketPool> pool) {
  if (pool == nullptr) return;
  if (pool->stats_.in_use == 0 && pool->stats_.views_in_use == 0) return;  // destroyed here
  pool->retired_ = true;
  (void)pool.release();  // deleted by the last release
}

Packet* PacketPool::alloc_view(Packet& base, std::uint32_t offset, std::uint32_t length) {
  if (base.base_ != nullptr || base.backend_ != nullptr || base.in_pool_ ||
      !base.pool_->native_) {
    throw std::invalid_argument("PacketPool " + name_ +
                                ": alloc_view needs a live ordinary packet of a native pool");
  }
  if (std::uint64_t{offset} + length > base.len_) {
    throw std::invalid_argument("PacketPool " + name_ + ": view [" + std::to_string(offset) +
                                ", +" + std::to_string(length) + ") outside a packet of " +
                                std::to_string(base.len_) + " bytes");
  }
  if (view_free_list_.empty()) {
    ++stats_.views_exhausted;
    return nullptr;
  }
  Packet* v = view_free_list_.back();
  view_free_list_.pop_back();
  v->in_pool_ = false;
  v->buf_ = base.buf_;
  v->cap_ = base.off_ + base.len_;  // a view never grows into its base's tailroom
  v->off_ = base.off_ + offset;
  v->len_ = length;
  v->next_ = nullptr;
  v->base_ = &base;
  v->refs_ = 1;
  v->meta = {};
  ++base.refs_;
  ++stats_.views_in_use;
  return v;
}

void PacketPool::free(Packet* p) {
  while (p != nullptr) {
    Packet* next = p->next_;
    p->pool_->release(p);
    p = next;
  }
}

void PacketPool::free_bulk(std::span<Packet* const> packets) {
  for (Packet* p : packets) free(p);
}

Packet* PacketPool::clone(const Packet& src) {
  Packet* head = nullptr;
  Packet* tail = nullptr;
  for (const Packet* s = &src; s != nullptr; s = s->next()) {
    Packet* c = alloc();
    if (c == nullptr || c->capacity() < s->size()) {
      if (c != nullptr) free(c);
      free(head);
      return nullptr;
    }
    // The same headroom where it fits (a view's "headroom" is its offset into a larger buffer).
    c->off_ = std::min(s->headroom(), c->capacity() - s->size());
    c->len_ = 0;
    c->append_bytes(s->bytes());
    c->meta = s->meta;
    if (tail != nullptr) {
      tail->next_ = c;
    } else {
      head = c;
    }
    tail = c;
  }
  return head;
}

void PacketPool::adopt(Packet& p, std::byte* buf, std::uint32_t capacity,
                       std::uint32_t data_offset, std::uint32_t length, void* backend_cookie) {
  attach(p, buf, capacity, data_offset, length, backend_cookie);
  count_alloc();  // released through free() like any other packet of this pool
}

}  // namespace coronet::nic
