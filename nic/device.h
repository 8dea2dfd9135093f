// Device: the batched packet I/O interface every backend implements (in-memory wire, TAP, DPDK).
// Dispatch is per burst, never per packet: rx_burst/tx_burst move up to a span of packets per
// (virtual) call, and everything per packet inside a backend is non-virtual.
//
// Ownership: rx_burst() hands the caller packets it now owns (allocated from the queue's pool).
// tx_burst() takes ownership of the first n packets it returns and frees or transmits them; the
// rest stay owned by the caller, who may retry or free them. A packet handed to tx_burst must not
// be touched again by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "coro/clock.h"
#include "coro/result.h"
#include "nic/ether_addr.h"
#include "nic/packet.h"
#include "nic/packet_pool.h"

namespace coronet::nic {

struct Offloads {
  bool rx_ipv4_checksum = false;  // rx packets carry kRxIpv4Csum{Good,Bad}
  bool rx_l4_checksum = false;    // rx packets carry kRxL4Csum{Good,Bad}
  bool tx_ipv4_checksum = false;  // honours kTxIpv4Csum
  bool tx_l4_checksum = false;    // honours kTxTcpCsum / kTxUdpCsum
  bool rss = false;               // rx packets carry an RSS hash; queues are steered by it
  bool tso = false;
  bool lro = false;
};

enum class LinkState : std::uint8_t { kDown, kUp };

struct DeviceInfo {
  std::string name;
  MacAddress mac;
  std::uint16_t mtu = 1500;  // largest IP packet (the frame adds 14 bytes of Ethernet header)
  std::uint16_t rx_queues = 1;
  std::uint16_t tx_queues = 1;
  Offloads offloads;
};

struct QueueStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t drops = 0;   // rx: no buffer / queue full; tx: refused by the device
  std::uint64_t errors = 0;  // malformed, I/O errors
};

class Device {
 public:
  virtual ~Device() = default;

  virtual const DeviceInfo& info() const = 0;
  virtual LinkState link() const = 0;

  // Receives up to out.size() packets from `queue` into `out`; returns how many.
  virtual std::size_t rx_burst(std::uint16_t queue, std::span<Packet*> out) = 0;
  // Transmits packets from the front of `pkts`; returns how many it took (see ownership above).
  virtual std::size_t tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) = 0;

  virtual QueueStats rx_stats(std::uint16_t queue) const = 0;
  virtual QueueStats tx_stats(std::uint16_t queue) const = 0;

  // The pool that tx packets for `queue` should come from (and rx packets are allocated in).
  virtual PacketPool& pool(std::uint16_t queue) = 0;

  // Earliest time a packet may become receivable without outside input (virtual-time devices
  // such as the in-memory wire); nullopt when unknown. Lets a reactor on virtual time jump ahead.
  virtual std::optional<coro::TimePoint> next_rx_time(std::uint16_t) const { return std::nullopt; }
  // A file descriptor that becomes readable when `queue` has packets (TAP), or -1.
  virtual int rx_fd(std::uint16_t) const { return -1; }
};

}  // namespace coronet::nic
