// UdpLayer: UDP (RFC 768) for one engine: the port table, datagram input and output. Sockets
// (udp_socket.h) own a UdpSocketState that the layer fills and drains.
//
// Receive: header and length checks (the UDP length may be shorter than the IP payload, never
// longer), checksum (zero means "none" on receive, RFC 768; skipped when the device verified it),
// then the bound socket's bounded queue (overflow dropped and counted). A datagram for a port
// nobody bound is answered with ICMP port unreachable (RFC 1122 §4.1.3.1), subject to ICMP's
// rules and rate limit.
// Send: the checksum is always computed (RFC 1122 §4.1.3.4), by the device when it offers to (the
// header then carries the pseudo-header sum, the convention of DPDK and Linux's CHECKSUM_PARTIAL);
// a computed 0 is sent as 0xffff (RFC 768).
// ICMP errors about datagrams a socket sent become that socket's pending error, returned by its
// next recv/send.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>

#include "coro/result.h"
#include "coro/waiter.h"
#include "nic/packet.h"
#include "stack/ether/link.h"
#include "stack/icmp/icmp_layer.h"
#include "stack/ipv4/ip_types.h"
#include "stack/ipv4/ipv4_layer.h"

namespace coronet::stack::udp {

inline constexpr std::uint32_t kHeaderLen = 8;

struct UdpConfig {
  std::size_t default_receive_queue = 64;  // datagrams per socket
  std::uint16_t ephemeral_first = 49152;   // RFC 6335 §6 dynamic ports
  std::uint16_t ephemeral_last = 65535;
};

struct UdpStats {
  std::uint64_t rx_datagrams = 0;
  std::uint64_t rx_truncated = 0;   // fewer than 8 bytes
  std::uint64_t rx_bad_length = 0;  // UDP length < 8 or > IP payload
  std::uint64_t rx_bad_checksum = 0;
  std::uint64_t rx_no_port = 0;     // nobody bound (ICMP port unreachable, if allowed)
  std::uint64_t rx_queue_full = 0;  // socket queue full: dropped
  std::uint64_t rx_delivered = 0;
  std::uint64_t rx_icmp_errors = 0;     // errors handed to a socket
  std::uint64_t rx_icmp_no_socket = 0;  // errors about a port nobody has bound any more
  std::uint64_t tx_datagrams = 0;
  std::uint64_t tx_errors = 0;  // refused sends (too big, no buffer, no route)
};

struct UdpSocketStats {
  std::uint64_t rx_datagrams = 0;  // queued
  std::uint64_t rx_dropped = 0;    // queue full
  std::uint64_t rx_truncated = 0;  // reads whose buffer was smaller than the datagram
  std::uint64_t tx_datagrams = 0;
  std::uint64_t errors = 0;  // ICMP/local errors recorded
};

class UdpLayer;

// The layer-facing state of one socket. Lives at a fixed address (owned through a unique_ptr by
// UdpSocket) while bound.
class UdpSocketState {
 public:
  explicit UdpSocketState(std::size_t queue_capacity);
  // Frees queued datagrams. Must be unbound first.
  ~UdpSocketState();
  UdpSocketState(const UdpSocketState&) = delete;
  UdpSocketState& operator=(const UdpSocketState&) = delete;

  struct Queued {
    nic::Packet* packet = nullptr;  // starts at the UDP payload (may be a chain)
    Endpoint from;
  };
  bool push(nic::Packet* p, Endpoint from);
  Queued pop();  // packet null when empty
  std::size_t queued() const { return count_; }
  std::size_t capacity() const { return capacity_; }

  UdpLayer* layer = nullptr;  // null when unbound or the engine is gone
  std::uint16_t port = 0;
  coro::WaitQueue readers;     // coroutines waiting in recv_from
  std::optional<Error> error;  // reported by the next recv/send
  UdpSocketStats stats;

 private:
  std::unique_ptr<Queued[]> ring_;
  std::size_t capacity_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

class UdpLayer {
 public:
  UdpLayer(ether::Link& link, ipv4::Ipv4Layer& ip, icmp::IcmpLayer& icmp, UdpConfig config);
  // Unbinds every socket still bound (their operations then fail with kShuttingDown).
  ~UdpLayer();
  UdpLayer(const UdpLayer&) = delete;
  UdpLayer& operator=(const UdpLayer&) = delete;

  // A received datagram (`p` starts at the UDP header). Takes ownership.
  void input(nic::Packet* p, const IpRxInfo& info);
  // An ICMP (or local) error about a datagram we sent.
  void icmp_error(const icmp::ErrorReport& report);

  // Binds `s` to `port` (0: a free ephemeral port). kAddressInUse when taken.
  Result<void> bind(UdpSocketState& s, std::uint16_t port);
  void unbind(UdpSocketState& s);
  // Builds and sends one datagram from `s`'s port.
  Result<void> send(UdpSocketState& s, std::span<const std::byte> payload, Endpoint to);

  Ipv4Address address() const { return ip_.address(); }
  std::size_t bound() const { return ports_.size(); }
  const UdpConfig& config() const { return config_; }
  const UdpStats& stats() const { return stats_; }

 private:
  UdpSocketState* lookup(std::uint16_t port) const {
    auto it = ports_.find(port);
    return it == ports_.end() ? nullptr : it->second;
  }

  ether::Link& link_;
  ipv4::Ipv4Layer& ip_;
  icmp::IcmpLayer& icmp_;
  UdpConfig config_;
  UdpStats stats_;
  std::unordered_map<std::uint16_t, UdpSocketState*> ports_;
  std::uint32_t next_ephemeral_;
};

}  // namespace coronet::stack::udp
