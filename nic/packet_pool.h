// PacketPool: a fixed set of packet buffers for one core. Allocation and free are a pointer pop and
// push on a free list; nothing is allocated after construction. Exhaustion is an explicit, counted
// failure (alloc() returns null), never a crash; a double free is detected and counted.
//
// Pools are core-local like everything else: allocate, free and clone on the owning core only.
// Backends whose buffers live elsewhere (DPDK mbufs) plug in through BackendOps; their packets
// carry the same descriptor, so the stack never knows the difference.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nic/packet.h"

namespace coronet::nic {

struct PacketPoolConfig {
  std::string name = "pool";
  std::uint32_t count = 4096;        // buffers
  std::uint32_t buffer_size = 2048;  // bytes per buffer, headroom included
  std::uint32_t headroom = 128;      // reserved in front of the data for headers
  std::uint32_t views = 0;           // buffer-less descriptors for alloc_view()
};

struct PacketPoolStats {
  std::uint64_t allocs = 0;
  std::uint64_t frees = 0;
  std::uint64_t exhausted = 0;     // allocations refused because the pool was empty
  std::uint64_t double_frees = 0;  // frees of a packet already in the pool (ignored)
  std::uint32_t in_use = 0;
  std::uint32_t high_watermark = 0;
  std::uint32_t capacity = 0;
  std::uint32_t views_in_use = 0;
  std::uint64_t views_exhausted = 0;  // alloc_view() refused: no view descriptor left
};

class PacketPool {
 public:
  // A native pool: `count` descriptors and one contiguous, cache-line-aligned buffer region.
  // Throws std::invalid_argument for an impossible configuration (zero count, headroom that
  // leaves no room for a minimum Ethernet frame, ...).
  explicit PacketPool(PacketPoolConfig config);

  // A pool whose buffers belong to a backend (DPDK): alloc/free go through `ops`.
  struct BackendOps {
    Packet* (*alloc)(void* ctx) = nullptr;
    void (*free)(void* ctx, Packet* p) = nullptr;
    void* ctx = nullptr;
  };
  PacketPool(std::string name, std::uint32_t capacity, BackendOps ops);

  ~PacketPool();
  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  // One empty packet with the configured headroom, or null when exhausted (counted).
  Packet* alloc();
  // Fills `out` with as many packets as are available; returns how many.
  std::size_t alloc_bulk(std::span<Packet*> out);
  // Returns every segment of the chain to its own pool.
  static void free(Packet* p);
  static void free_bulk(std::span<Packet* const> packets);
  // A deep copy of the whole chain from this pool; null (nothing leaked) when exhausted.
  Packet* clone(const Packet& p);
  // A view of `length` bytes of `base` starting `offset` bytes into base.data(): a descriptor from
  // this pool's views that shares base's buffer and keeps it alive until the view is freed.
  // `base` must be an ordinary packet of a native pool (this one or another on the same core).
  // Null (counted) when no view descriptor is left; throws std::invalid_argument for a range
  // outside base or a base that cannot be viewed.
  Packet* alloc_view(Packet& base, std::uint32_t offset, std::uint32_t length);

  // Destroys the pool now if nothing is out, else when the last packet or view comes back (a
  // device may still hold views of its buffers when their owner goes away).
  static void retire(std::unique_ptr<PacketPool> pool);

  const std::string& name() const { return name_; }
  std::uint32_t headroom() const { return config_.headroom; }
  std::uint32_t buffer_size() const { return config_.buffer_size; }
  const PacketPoolStats& stats() const { return stats_; }
  std::uint32_t available() const { return stats_.capacity - stats_.in_use; }
  std::uint32_t views_available() const {
    return static_cast<std::uint32_t>(view_free_list_.size());
  }
  bool native() const { return native_; }

  // For backends: fills a descriptor that points at a foreign buffer and belongs to this pool
  // (counted as an allocation; free() hands it back through BackendOps::free).
  void adopt(Packet& p, std::byte* buf, std::uint32_t capacity, std::uint32_t data_offset,
             std::uint32_t length, void* backend_cookie);

  // For backends, uncounted counterparts of adopt()/free():
  // attach() points a descriptor at a foreign buffer like adopt() but counts nothing: it is what
  // BackendOps::alloc uses, since alloc() counts the packet BackendOps::alloc returns.
  void attach(Packet& p, std::byte* buf, std::uint32_t capacity, std::uint32_t data_offset,
              std::uint32_t length, void* backend_cookie) {
    p.buf_ = buf;
    p.cap_ = capacity;
    p.off_ = data_offset;
    p.len_ = length;
    p.next_ = nullptr;
    p.pool_ = this;
    p.backend_ = backend_cookie;
    p.in_pool_ = false;
    p.base_ = nullptr;
    p.refs_ = 1;
    p.meta = {};
  }
  // note_backend_frees() counts `n` of this pool's packets as freed without calling
  // BackendOps::free: the backend took their buffers for good (a NIC frees the mbufs it sent).
  void note_backend_frees(std::uint32_t n) {
    stats_.frees += n;
    stats_.in_use -= n;
  }

 private:
  void release(Packet* p);
  void release_view(Packet* v);
  void maybe_self_destruct();
  void count_alloc();

  std::string name_;
  PacketPoolConfig config_;
  BackendOps ops_;
  bool native_ = true;
  std::unique_ptr<Packet[]> descriptors_;
  std::byte* region_ = nullptr;
  std::vector<Packet*> free_list_;
  std::unique_ptr<Packet[]> view_descriptors_;
  std::vector<Packet*> view_free_list_;
  bool retired_ = false;
  PacketPoolStats stats_;
};

}  // namespace coronet::nic
