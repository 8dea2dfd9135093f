#include "nic/packet_pool.h"

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
}

PacketPool::PacketPool(std::string name, std::uint32_t capacity, BackendOps ops)
    : name_(std::move(name)), ops_(ops), native_(false) {
  stats_.capacity = capacity;
}

PacketPool::~PacketPool() {
  if (stats_.in_use != 0) {
    log::warn("packet pool {}: destroyed with {} packets still in use", name_, stats_.in_use);
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
    if (c == nullptr || c->capacity() < s->headroom() + s->size()) {
      if (c != nullptr) free(c);
      free(head);
      return nullptr;
    }
    c->off_ = s->headroom();
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
