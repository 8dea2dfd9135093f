// Engine: one per core. It owns one rx/tx queue pair of a Device and drives the protocol layers
// once per reactor iteration, in batches (mTCP's design):
//
//   rx_burst -> Ethernet demux -> ARP | IPv4 -> ICMP | UDP | TCP input, for the whole burst
//   -> the layers complete waiting coroutines (flow events; the reactor resumes each once)
//   -> transports flush their output -> frames coalesce in one tx batch -> tx_burst
//
// Transports reach the wire through alloc_tx() + ip_send(). Dispatch to them is by direct call
// (no per-packet virtual or indirect call). The engine is core-local: no locks anywhere.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "coro/reactor.h"
#include "coro/result.h"
#include "nic/device.h"
#include "nic/packet.h"
#include "stack/net/ipv4_addr.h"

namespace coronet::stack {

namespace tcp {
class TcpLayer;
}
namespace udp {
class UdpLayer;
}
class ArpCache;
class Ipv4Layer;
class IcmpLayer;

inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;

// Room a transport leaves in front of its header: Ethernet (14) + IPv4 with options (60).
inline constexpr std::uint32_t kLinkAndIpHeadroom = 14 + 60;

struct ArpConfig {
  coro::Duration entry_ttl = std::chrono::seconds(60);      // reachable entries expire after this
  coro::Duration retry_interval = std::chrono::seconds(1);  // re-send an unanswered request
  unsigned max_retries = 3;                                 // then drop what waits, counted
  std::size_t max_pending_per_entry = 16;  // packets waiting for one address; more are dropped
  std::size_t max_entries = 1024;
};

struct Ipv4Config {
  std::uint8_t default_ttl = 64;
  // Fragments: reassembled within this time and memory, otherwise dropped with a counter.
  coro::Duration reassembly_timeout = std::chrono::seconds(30);
  std::size_t reassembly_max_bytes = 1 << 20;  // per engine
  std::size_t reassembly_max_datagrams = 64;
};

struct EngineConfig {
  Ipv4Address address;               // ours
  unsigned prefix_len = 24;          // on-link subnet
  std::optional<Ipv4Address> gateway;  // next hop for everything off-link
  std::uint16_t queue = 0;           // device queue pair this engine owns
  std::uint16_t rx_burst = 32;
  ArpConfig arp;
  Ipv4Config ip;
};

// What a transport learns about a received datagram. The packet handed over with it starts at
// the transport header and ends at the IP payload's end (padding trimmed).
struct IpRxInfo {
  Ipv4Address src;
  Ipv4Address dst;
  std::uint8_t protocol = 0;
  std::uint8_t ttl = 0;
  std::uint8_t tos = 0;
  bool l4_checksum_verified = false;  // the device checked the TCP/UDP checksum and it was good
};

struct IpSendOptions {
  std::uint8_t ttl = 0;  // 0: the configured default
  std::uint8_t tos = 0;
  bool dont_fragment = true;
};

struct EngineStats {
  std::uint64_t rx_frames = 0;
  std::uint64_t rx_bad_ether = 0;        // runt frames, unknown ethertype
  std::uint64_t rx_not_for_us = 0;       // other unicast MAC / IP
  std::uint64_t rx_no_transport = 0;     // protocol with no layer attached
  std::uint64_t tx_frames = 0;
  std::uint64_t tx_no_buffer = 0;        // alloc_tx() failed
  std::uint64_t tx_device_full = 0;      // tx_burst refused frames (dropped, counted)
  std::uint64_t tx_no_route = 0;
};

class Engine final : public coro::PollSource {
 public:
  // Registers itself as a poll source of `reactor`. The device must outlive the engine.
  Engine(coro::Reactor& reactor, nic::Device& device, EngineConfig config);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // PollSource: one rx burst through every layer, transport output, one tx flush.
  bool poll() override;
  std::optional<coro::TimePoint> next_event() const override;

  coro::Reactor& reactor() { return reactor_; }
  nic::Device& device() { return device_; }
  const EngineConfig& config() const { return config_; }
  Ipv4Address address() const { return config_.address; }
  nic::MacAddress mac() const { return device_.info().mac; }
  std::uint16_t mtu() const { return device_.info().mtu; }
  const nic::Offloads& offloads() const { return device_.info().offloads; }
  const EngineStats& stats() const { return stats_; }

  // A packet from this queue's pool with kLinkAndIpHeadroom in front; null when the pool is
  // exhausted (counted in tx_no_buffer and the pool's own counter).
  nic::Packet* alloc_tx();

  // Sends `p` (starting at the transport header) to `dst`: prepends IPv4 (checksum in software
  // or by offload), resolves the next hop (the packet waits in ARP's bounded queue if needed),
  // prepends Ethernet, queues it for this iteration's tx burst. Always takes ownership.
  // Errors: no route (off-link with no gateway), datagram larger than the MTU with DF set.
  Result<void> ip_send(nic::Packet* p, Ipv4Address dst, std::uint8_t protocol,
                       IpSendOptions options = {});

  // Queues a complete Ethernet frame for the tx burst (ARP uses it directly). Takes ownership.
  void send_frame(nic::Packet* frame);

  // Layers. TCP attaches itself (it is built on top of the engine); the rest are owned here.
  void attach_tcp(tcp::TcpLayer* tcp) { tcp_ = tcp; }
  tcp::TcpLayer* tcp() { return tcp_; }
  udp::UdpLayer& udp() { return *udp_; }
  ArpCache& arp() { return *arp_; }
  Ipv4Layer& ipv4() { return *ipv4_; }
  IcmpLayer& icmp() { return *icmp_; }

  // Transmits everything queued so far (called at the end of poll(); transports may call it
  // earlier when a batch is full).
  void flush_tx();

 private:
  friend class Ipv4Layer;
  friend class ArpCache;
  friend class IcmpLayer;

  coro::Reactor& reactor_;
  nic::Device& device_;
  EngineConfig config_;
  EngineStats stats_;
  std::unique_ptr<ArpCache> arp_;
  std::unique_ptr<Ipv4Layer> ipv4_;
  std::unique_ptr<IcmpLayer> icmp_;
  std::unique_ptr<udp::UdpLayer> udp_;
  tcp::TcpLayer* tcp_ = nullptr;
  std::array<nic::Packet*, 64> tx_batch_{};
  std::size_t tx_count_ = 0;
};

}  // namespace coronet::stack
