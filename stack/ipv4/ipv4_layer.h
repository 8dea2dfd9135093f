// Ipv4Layer: IPv4 for one engine (RFC 791, host requirements of RFC 1122 §3).
//
// Receive (input): validates the header (RFC 1122 §3.2.1.1-3: version, IHL >= 5, total length
// against the frame, header checksum unless the device vouched for it), trims Ethernet padding,
// skips options (the IHL says where they end; RFC 1122 §3.2.1.8 lets a host ignore the ones it
// does not implement), drops martian sources and datagrams not addressed to us (we are a host:
// no forwarding, RFC 1122 §3.3.1), reassembles fragments (reassembly.h) and hands the datagram to
// the engine, which dispatches on the protocol. Every drop is counted.
//
// Send: prepends a 20-byte header (no options), TTL from the options or the default, header
// checksum by offload or in software, routes to the on-link destination or the default gateway,
// and resolves the next hop through ARP. Datagrams larger than the MTU are refused with
// Errc::kMessageTooLong: this stack never fragments on send (TCP sizes segments by MSS).
// Datagrams to our own address loop back through a bounded queue the engine drains.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "coro/reactor.h"
#include "coro/result.h"
#include "nic/packet.h"
#include "stack/arp/arp_cache.h"
#include "stack/ether/link.h"
#include "stack/ipv4/ip_types.h"
#include "stack/ipv4/ipv4_config.h"
#include "stack/ipv4/reassembly.h"

namespace coronet::stack::ipv4 {

struct Addressing {
  Ipv4Address address;                 // ours
  unsigned prefix_len = 24;            // on-link subnet
  std::optional<Ipv4Address> gateway;  // next hop for everything off-link
};

struct Ipv4Stats {
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_truncated = 0;  // shorter than 20 bytes or than the IHL says
  std::uint64_t rx_bad_version = 0;
  std::uint64_t rx_bad_header_len = 0;  // IHL < 5
  std::uint64_t rx_bad_length = 0;      // total length < IHL or > frame
  std::uint64_t rx_bad_checksum = 0;
  std::uint64_t rx_bad_source = 0;  // broadcast/multicast/loopback source (RFC 1122 §3.2.1.3)
  std::uint64_t rx_not_for_us = 0;  // another host's unicast, multicast we never joined
  std::uint64_t rx_link_broadcast_unicast = 0;  // unicast IP in a link broadcast (§3.3.6)
  std::uint64_t rx_with_options = 0;            // accepted; options skipped
  std::uint64_t rx_fragments = 0;               // handed to the reassembler
  std::uint64_t rx_delivered = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t tx_no_route = 0;
  std::uint64_t tx_too_big = 0;
  std::uint64_t tx_no_headroom = 0;
  std::uint64_t tx_bad_destination = 0;  // 0.0.0.0, loopback net
  std::uint64_t loopback_packets = 0;
  std::uint64_t loopback_dropped = 0;  // loopback queue full
};

// A datagram for a transport: `packet` starts at the transport header, or is null when input
// consumed the frame (dropped, or held for reassembly).
struct Delivery {
  nic::Packet* packet = nullptr;
  IpRxInfo info;
};

class Ipv4Layer {
 public:
  Ipv4Layer(coro::Reactor& reactor, ether::Link& link, arp::ArpCache& arp, Addressing addressing,
            Ipv4Config config);
  ~Ipv4Layer();
  Ipv4Layer(const Ipv4Layer&) = delete;
  Ipv4Layer& operator=(const Ipv4Layer&) = delete;

  // A received datagram: `p` starts at the IPv4 header. Takes ownership.
  Delivery input(nic::Packet* p, bool link_broadcast);

  // Sends `p` (starting at the transport header) to `dst`. Always takes ownership.
  Result<void> send(nic::Packet* p, Ipv4Address dst, std::uint8_t protocol,
                    IpSendOptions options = {});

  // The next hop for `dst` (itself when on-link), or kHostUnreachable.
  Result<Ipv4Address> route(Ipv4Address dst) const;
  // Limited broadcast or our subnet's directed broadcast.
  bool is_broadcast(Ipv4Address a) const;
  // A single host's unicast address (what an ICMP error may be sent to, RFC 1122 §3.2.2).
  bool is_unicast_host(Ipv4Address a) const;

  // Datagrams sent to our own address, oldest first; null when none.
  nic::Packet* pop_loopback();
  std::size_t loopback_pending() const { return loop_count_; }

  const Addressing& addressing() const { return addressing_; }
  Ipv4Address address() const { return addressing_.address; }
  const Ipv4Config& config() const { return config_; }
  Reassembler& reassembler() { return reassembler_; }
  const Ipv4Stats& stats() const { return stats_; }

 private:
  ether::Link& link_;
  arp::ArpCache& arp_;
  Addressing addressing_;
  Ipv4Config config_;
  std::uint32_t subnet_broadcast_ = 0;
  std::uint16_t next_id_ = 1;
  Reassembler reassembler_;
  std::unique_ptr<nic::Packet*[]> loop_;
  std::size_t loop_head_ = 0;
  std::size_t loop_count_ = 0;
  Ipv4Stats stats_;
};

}  // namespace coronet::stack::ipv4
