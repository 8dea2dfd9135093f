// ShmWire: a lock-free link between two ends over shared memory, for benchmarks and multi-core or
// multi-process tests. The region is a memfd mapped MAP_SHARED, so the two ends may run on two
// threads, in a parent and a forked child (the mapping is inherited), or in two processes that
// share the fd (attach()). Per direction one SPSC ring of fixed slots (a length word and up to
// 2048 bytes, see shm_ring.h): tx_burst() copies a burst of frames into slots and publishes them
// with one release store; rx_burst() copies frames out into the end's own pool and frees the slots
// with one release store. No locks, no system calls, no allocation per packet.
//
// Unlike the in-memory Wire, ShmWire is lossless with back-pressure: a full ring makes tx_burst()
// take fewer packets (the rest stay the caller's; the refusals are counted in tx drops). A frame
// arriving while the rx pool is exhausted is dropped and counted, as on a NIC. No impairments,
// no clock: it measures the cost of moving frames, nothing else.
//
// Threading: each end is used by one thread at a time, and each direction has one producer (the
// sending end) and one consumer (the receiving end); a and b may be on different threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "coro/result.h"
#include "nic/device.h"
#include "nic/packet_pool.h"
#include "nic/wire/shm_ring.h"

namespace coronet::nic {

struct ShmWireConfig {
  std::string name = "shm";
  std::uint32_t slots = 1024;  // per direction; a power of two
  std::uint16_t mtu = 1500;    // frames up to mtu + 14 bytes; mtu + 14 must fit a 2048-byte slot
  MacAddress mac_a;
  MacAddress mac_b;
  PacketPoolConfig pool;  // each end's rx pool
};

class ShmWire;

// Cache-line aligned (and so padded): the two ends of a wire are usually driven by two threads,
// and their hot per-packet state (pool free list, ring cursors, counters) must not share a line.
class alignas(internal::kIndexSpacing) ShmWireDevice final : public Device {
 public:
  ShmWireDevice(const ShmWireDevice&) = delete;
  ShmWireDevice& operator=(const ShmWireDevice&) = delete;

  const DeviceInfo& info() const override { return info_; }
  LinkState link() const override { return LinkState::kUp; }
  std::size_t rx_burst(std::uint16_t queue, std::span<Packet*> out) override;
  std::size_t tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) override;
  QueueStats rx_stats(std::uint16_t queue) const override;
  QueueStats tx_stats(std::uint16_t queue) const override;
  PacketPool& pool(std::uint16_t) override { return pool_; }

 private:
  friend class ShmWire;
  ShmWireDevice(const ShmWireConfig& config, const std::string& side, const MacAddress& mac,
                internal::ShmRingProducer tx, internal::ShmRingConsumer rx);

  DeviceInfo info_;
  std::uint32_t max_frame_;
  PacketPool pool_;
  internal::ShmRingProducer tx_;
  internal::ShmRingConsumer rx_;
  // Each counter is written only by the thread using this end; read them from that thread or
  // after joining it.
  QueueStats rx_stats_;
  QueueStats tx_stats_;
};

class ShmWire {
 public:
  // A new zeroed region. Errors: kInvalidArgument for a bad configuration (slots not a power of
  // two, MTU too large), kResourceExhausted when memfd_create/ftruncate/mmap fail (with errno
  // text).
  static Result<std::unique_ptr<ShmWire>> create(const ShmWireConfig& config);
  // Maps the region behind `fd` (which stays the caller's; the wire keeps a duplicate). Takes the
  // slot count from the region; `config` supplies names, MACs, MTU and pools. kInvalidArgument
  // when the fd does not hold a ShmWire region.
  static Result<std::unique_ptr<ShmWire>> attach(int fd, const ShmWireConfig& config);
  ~ShmWire();  // unmaps and closes its fd; other mappings of the region are unaffected
  ShmWire(const ShmWire&) = delete;
  ShmWire& operator=(const ShmWire&) = delete;

  ShmWireDevice& a() { return *a_; }
  ShmWireDevice& b() { return *b_; }
  int fd() const { return fd_; }
  std::size_t region_size() const { return size_; }
  std::uint32_t slots() const { return slots_; }
  const void* region() const { return base_; }

 private:
  ShmWire(int fd, std::byte* base, std::size_t size, std::uint32_t slots,
          const ShmWireConfig& config);

  int fd_;
  std::byte* base_;
  std::size_t size_;
  std::uint32_t slots_;
  std::unique_ptr<ShmWireDevice> a_;  // sends on ring a->b, receives on ring b->a
  std::unique_ptr<ShmWireDevice> b_;
};

}  // namespace coronet::nic
