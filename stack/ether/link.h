// Link: one engine's view of its device queue pair. It allocates transmit buffers from the
// queue's pool and gathers outgoing frames into one batch that flush() hands to the device in a
// single tx_burst (mTCP's batched I/O). Frames the device refuses are freed and counted: nothing
// leaks, nothing is retried behind the caller's back.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "nic/device.h"
#include "nic/packet.h"
#include "nic/packet_pool.h"

namespace coronet::stack::ether {

struct LinkStats {
  std::uint64_t rx_frames = 0;
  std::uint64_t rx_runt = 0;          // shorter than an Ethernet header
  std::uint64_t rx_unknown_type = 0;  // EtherType we do not handle
  std::uint64_t rx_not_for_us = 0;    // unicast to another station, unjoined multicast
  std::uint64_t rx_bad_source = 0;    // group address as source
  std::uint64_t tx_frames = 0;        // accepted by the device
  std::uint64_t tx_no_buffer = 0;     // alloc() found the pool empty
  std::uint64_t tx_device_full = 0;   // refused by tx_burst (freed)
};

class Link {
 public:
  // Frames gathered before a flush is forced.
  static constexpr std::size_t kTxBatch = 64;

  Link(nic::Device& device, std::uint16_t queue);
  // Frees frames still waiting for a flush.
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  nic::Device& device() { return device_; }
  std::uint16_t queue() const { return queue_; }
  // Copied from Device::info() at construction: reading them per packet must not be a virtual
  // call.
  const nic::MacAddress& mac() const { return mac_; }
  std::uint16_t mtu() const { return mtu_; }
  const nic::Offloads& offloads() const { return offloads_; }
  nic::PacketPool& pool() { return pool_; }

  // An empty packet with at least `headroom` bytes in front; null (counted) when the pool is empty.
  nic::Packet* alloc(std::uint32_t headroom);

  // Adds a complete frame to the batch (flushing first when the batch is full). Takes ownership.
  void send(nic::Packet* frame);
  // Hands the batch to the device in one tx_burst; returns how many frames it took. The rest are
  // freed and counted in tx_device_full.
  std::size_t flush();
  std::size_t pending() const { return count_; }

  LinkStats& stats() { return stats_; }
  const LinkStats& stats() const { return stats_; }

 private:
  nic::Device& device_;
  nic::PacketPool& pool_;
  std::uint16_t queue_;
  nic::MacAddress mac_;
  std::uint16_t mtu_;
  nic::Offloads offloads_;
  std::array<nic::Packet*, kTxBatch> batch_{};
  std::size_t count_ = 0;
  LinkStats stats_;
};

}  // namespace coronet::stack::ether
