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
// Queues: with `queues` = N, each end has N rx/tx queue pairs and each direction N x N rings, one
// per (sending tx queue, receiving rx queue), so every ring still has one producer and one
// consumer: the thread of an engine owning queue i sends on rings (i, *) and receives from rings
// (*, i). Which rx queue a frame reaches is the receiving end's steering (its "NIC's RSS"): a
// SteeringFn as for the in-memory Wire (queue, or a copy to every queue for ARP), or, without
// one, the queue with the sending queue's index.
//
// Threading: each queue of an end is used by one thread at a time; different queues of one end
// may be used by different threads. a and b may be on different threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "coro/result.h"
#include "nic/device.h"
#include "nic/packet_pool.h"
#include "nic/wire/shm_ring.h"
#include "nic/wire/wire.h"

namespace coronet::nic {

struct ShmWireConfig {
  std::string name = "shm";
  std::uint32_t slots = 1024;  // per ring (one ring per direction and queue pair); a power of two
  std::uint16_t mtu = 1500;    // frames up to mtu + 14 bytes; mtu + 14 must fit a 2048-byte slot
  MacAddress mac_a;
  MacAddress mac_b;
  PacketPoolConfig pool;  // each rx queue's pool
  std::uint16_t queues = 1;  // rx/tx queue pairs per end
  SteeringFn steer_a;        // spreads frames arriving at a over a's rx queues (null: same index)
  SteeringFn steer_b;        // ... at b
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
  PacketPool& pool(std::uint16_t queue) override { return *queues_[queue < n_ ? queue : 0].pool; }

 private:
  friend class ShmWire;
  ShmWireDevice(const ShmWireConfig& config, const std::string& side, const MacAddress& mac,
                std::vector<internal::ShmRingProducer> tx,
                std::vector<internal::ShmRingConsumer> rx, SteeringFn peer_steer);
  std::size_t tx_one_ring(std::uint16_t queue, std::span<Packet* const> pkts);

  // One queue pair's state, on its own cache lines (different queues run on different threads).
  // Each counter is written only by the thread using the queue; read it from that thread or
  // after joining it.
  struct alignas(internal::kIndexSpacing) Queue {
    std::unique_ptr<PacketPool> pool;
    std::vector<internal::ShmRingProducer> tx;  // [dst]: into the peer's rx queue dst
    std::vector<internal::ShmRingConsumer> rx;  // [src]: from the peer's tx queue src
    std::uint16_t rx_next = 0;                  // ring to look at first (round robin)
    QueueStats rx_stats;
    QueueStats tx_stats;
  };

  DeviceInfo info_;
  std::uint32_t max_frame_;
  std::uint16_t n_;
  SteeringFn peer_steer_;  // how the other end spreads what we send over its rx queues
  std::vector<Queue> queues_;
  std::vector<std::function<void()>> peer_notify_;  // [peer rx queue]: frames were published
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
  // `fn` runs (on the sending thread) after a burst was published to `receiver`'s rx `queue`:
  // e.g. the receiving reactor's wake(), so that its engine may sleep instead of busy-polling
  // (the wire has no file descriptor). Set before traffic starts.
  void set_rx_notify(ShmWireDevice& receiver, std::uint16_t queue, std::function<void()> fn);
  int fd() const { return fd_; }
  std::size_t region_size() const { return size_; }
  std::uint32_t slots() const { return slots_; }
  std::uint16_t queues() const { return queues_; }
  const void* region() const { return base_; }

 private:
  ShmWire(int fd, std::byte* base, std::size_t size, std::uint32_t slots, std::uint16_t queues,
          const ShmWireConfig& config);

  int fd_;
  std::byte* base_;
  std::size_t size_;
  std::uint32_t slots_;
  std::uint16_t queues_;
  std::unique_ptr<ShmWireDevice> a_;  // sends on ring a->b, receives on ring b->a
  std::unique_ptr<ShmWireDevice> b_;
};

}  // namespace coronet::nic
