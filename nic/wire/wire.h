// Wire: an in-memory Ethernet link between two WireDevice ends, for tests and simulations.
//
// Each end is a full Device: its own MAC, MTU, N rx/tx queues, one rx PacketPool per queue, queue
// counters and an administrative link state. A frame sent on one end travels through that end's
// outbound Impairer (loss, delay, bandwidth, ... see nic/impair/impairment.h; its queue_limit is
// the direction's in-flight capacity) and, once due, is copied into a packet from the receiving
// queue's pool, the way a NIC DMAs into its rx ring. Until then it occupies the sender's buffer,
// as a NIC's tx descriptor would. Frames move lazily: the receiving end pulls due frames on each
// rx_burst(), so time is whatever the shared Clock says (VirtualClock in tests), and
// next_rx_time() tells a virtual-time reactor when to look next.
//
// Receive steering: a pluggable function picks the rx queue (and may supply an RSS hash) for each
// arriving frame; without one everything lands on queue 0.
//
// Every loss is counted somewhere: impairments in tx_impairment_stats(), the rest in the queue
// counters (drops/errors) and, by cause, in wire_stats().
//
// Not thread-safe: both ends and the clock belong to one thread (simulation). ShmWire is the
// cross-thread/cross-process variant.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coro/clock.h"
#include "nic/device.h"
#include "nic/impair/bounded_fifo.h"
#include "nic/impair/impairment.h"
#include "nic/packet_pool.h"

namespace coronet::nic {

struct WireEndConfig {
  std::string name = "wire";
  MacAddress mac;
  std::uint16_t mtu = 1500;  // frames longer than mtu + 14 are refused on tx (counted as errors)
  std::uint16_t queues = 1;  // rx and tx queues
  PacketPoolConfig pool;     // each rx queue gets a pool like this one
  std::uint32_t rx_ring_size = 1024;  // frames waiting per rx queue; more are dropped
  // Impairments of the frames this end transmits. queue_limit bounds the frames in flight.
  ImpairmentConfig tx_impairment;
};

// Where an arriving frame goes: its rx queue (reduced modulo the queue count) and, optionally,
// the RSS hash a NIC would report with it.
struct Steering {
  std::uint16_t queue = 0;
  std::optional<std::uint32_t> rss_hash;
  // Deliver a copy to every queue (e.g. ARP, so that each shared-nothing engine learns its
  // neighbours; a NIC does this with a flow rule or by replicating to all queues).
  bool all_queues = false;
};
using SteeringFn = std::function<Steering(const Packet& frame, std::uint16_t queues)>;

struct WireEndStats {
  std::uint64_t tx_link_down = 0;       // frames sent while the link was down (dropped)
  std::uint64_t tx_oversize = 0;        // frames longer than mtu + 14 (dropped)
  std::uint64_t tx_in_flight_full = 0;  // in-flight capacity exceeded (dropped)
  std::uint64_t lost_link_down = 0;     // sent, still in flight when the link went down
  std::uint64_t rx_no_buffer = 0;       // arrived while the queue's pool was exhausted (dropped)
  std::uint64_t rx_ring_full = 0;       // arrived while the queue's rx ring was full (dropped)
};

class Wire;

class WireDevice final : public Device {
 public:
  ~WireDevice() override;
  WireDevice(const WireDevice&) = delete;
  WireDevice& operator=(const WireDevice&) = delete;

  const DeviceInfo& info() const override { return info_; }
  // Up when both ends are administratively up (a cable needs both ports).
  LinkState link() const override;
  std::size_t rx_burst(std::uint16_t queue, std::span<Packet*> out) override;
  // Takes every packet it is given on a valid queue: each is sent or dropped and counted.
  std::size_t tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) override;
  QueueStats rx_stats(std::uint16_t queue) const override;
  QueueStats tx_stats(std::uint16_t queue) const override;
  // Queue `queue`'s rx pool (queue 0's for a queue out of range); send from it too.
  PacketPool& pool(std::uint16_t queue) override;
  // "Now" while the queue has frames waiting, else the next due time of the peer's in-flight
  // frames (which may still be steered to another queue), nullopt when nothing is in flight.
  std::optional<coro::TimePoint> next_rx_time(std::uint16_t queue) const override;

  // This end's administrative state. Taking the link down loses every frame in flight in both
  // directions (counted in the sender's lost_link_down); frames already received stay queued.
  void set_link(LinkState state);
  LinkState admin_state() const { return admin_; }
  // Replaces the rx steering function; an empty function means "everything to queue 0".
  void set_steering(SteeringFn fn) { steer_ = std::move(fn); }

  const ImpairmentStats& tx_impairment_stats() const { return out_.stats(); }
  const WireEndStats& wire_stats() const { return stats_; }
  std::size_t in_flight() const { return out_.queued(); }
  WireDevice& peer() { return *peer_; }

 private:
  friend class Wire;
  WireDevice(coro::Clock& clock, WireEndConfig config);
  // Moves frames that have arrived by `now` from the peer's outbound queue into our rx rings.
  void pull_arrivals(coro::TimePoint now);
  void deliver(const Impairer::Delivery& d);
  void deliver_to(const Packet& frame, std::uint16_t q, std::optional<std::uint32_t> hash,
                  coro::TimePoint at);

  coro::Clock& clock_;
  WireEndConfig config_;
  DeviceInfo info_;
  LinkState admin_ = LinkState::kUp;
  WireDevice* peer_ = nullptr;
  SteeringFn steer_;
  std::vector<std::unique_ptr<PacketPool>> pools_;  // one per rx queue
  std::vector<BoundedFifo<Packet*>> rx_rings_;
  std::vector<QueueStats> rx_stats_;
  std::vector<QueueStats> tx_stats_;
  WireEndStats stats_;
  // Frames this end sent that have not arrived yet. Declared after the pools so it is destroyed
  // (freeing what it holds) while they still exist.
  Impairer out_;
};

class Wire {
 public:
  // Throws std::invalid_argument for an impossible configuration (zero queues, bad pool, ...).
  Wire(coro::Clock& clock, WireEndConfig a, WireEndConfig b);
  ~Wire();

  WireDevice& a() { return *a_; }
  WireDevice& b() { return *b_; }
  coro::Clock& clock() { return clock_; }

 private:
  coro::Clock& clock_;
  std::unique_ptr<WireDevice> a_;
  std::unique_ptr<WireDevice> b_;
};

}  // namespace coronet::nic
