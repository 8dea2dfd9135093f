// Engine: one per core. It owns one rx/tx queue pair of a Device and drives the protocol layers
// once per reactor iteration, in batches (mTCP's design):
//
//   rx_burst -> Ethernet demux -> ARP | IPv4 -> ICMP | UDP | TCP input, for the whole burst
//   -> the layers complete waiting coroutines (flow events; the reactor resumes each once)
//   -> TCP flushes its output -> frames coalesce in one tx batch -> tx_burst
//
// Transports reach the wire through alloc_tx() + ip_send(). The layers below (ether::Link,
// arp::ArpCache, ipv4::Ipv4Layer, icmp::IcmpLayer, udp::UdpLayer) are members, called directly.
// TCP lives above the engine (stack/tcp depends on this target), so the engine reaches it through
// three function pointers that attach_tcp() instantiates in TCP's own translation unit: one
// indirect call per rx burst for all its segments, one per flush, one per ICMP error. Nothing
// else is virtual or indirect on the packet path. The engine is core-local: no locks anywhere.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>

#include "coro/reactor.h"
#include "coro/result.h"
#include "nic/device.h"
#include "nic/packet.h"
#include "stack/arp/arp_cache.h"
#include "stack/ether/link.h"
#include "stack/icmp/icmp_layer.h"
#include "stack/ipv4/ip_types.h"
#include "stack/ipv4/ipv4_config.h"
#include "stack/ipv4/ipv4_layer.h"
#include "stack/net/ipv4_addr.h"
#include "stack/udp/udp_layer.h"

namespace coronet::stack {

namespace tcp {
class TcpLayer;
}

using arp::ArpConfig;
using icmp::IcmpConfig;
using ipv4::Ipv4Config;
using udp::UdpConfig;

struct EngineConfig {
  Ipv4Address address{};                 // ours
  unsigned prefix_len = 24;              // on-link subnet
  std::optional<Ipv4Address> gateway{};  // next hop for everything off-link
  std::uint16_t queue = 0;               // device queue pair this engine owns
  std::uint16_t rx_burst = 32;           // frames per rx_burst (at most Engine::kMaxBurst)
  bool announce_on_start = true;         // gratuitous ARP from the constructor (RFC 5227 §3)
  ArpConfig arp{};
  Ipv4Config ip{};
  IcmpConfig icmp{};
  UdpConfig udp{};
};

// A snapshot of the engine-level counters; each layer keeps finer ones (link().stats(), ...).
struct EngineStats {
  std::uint64_t rx_frames = 0;
  std::uint64_t rx_bad_ether = 0;     // runt frames, unknown ethertype, group source address
  std::uint64_t rx_not_for_us = 0;    // other unicast MAC / IP
  std::uint64_t rx_no_transport = 0;  // protocol with no layer attached (protocol unreachable)
  std::uint64_t tx_frames = 0;
  std::uint64_t tx_no_buffer = 0;    // alloc_tx() failed
  std::uint64_t tx_device_full = 0;  // tx_burst refused frames (dropped, counted)
  std::uint64_t tx_no_route = 0;
};

// One received TCP segment, handed to TCP in a per-burst batch.
struct TcpRx {
  nic::Packet* packet;
  IpRxInfo info;
};

// How the engine calls TCP (see the top of this file).
struct TcpHooks {
  void (*input)(tcp::TcpLayer*, std::span<const TcpRx> batch);
  void (*icmp_error)(tcp::TcpLayer*, const icmp::ErrorReport& report);
  void (*flush)(tcp::TcpLayer*);
};

namespace engine_internal {
template <typename F>
struct ArgOf;
template <typename C, typename A>
struct ArgOf<void (C::*)(const A&)> {
  using type = A;
};
// Instantiated where Tcp is a complete type (TCP's translation unit).
template <typename Tcp>
struct TcpThunks {
  static void input(tcp::TcpLayer* t, std::span<const TcpRx> batch) {
    Tcp* self = static_cast<Tcp*>(t);
    for (const TcpRx& r : batch) self->input(r.packet, r.info);
  }
  static void icmp_error(tcp::TcpLayer* t, const icmp::ErrorReport& r) {
    typename ArgOf<decltype(&Tcp::icmp_error)>::type info;
    info.type = r.type;
    info.code = r.code;
    info.next_hop_mtu = r.next_hop_mtu;
    info.local = r.local;
    info.remote = r.remote;
    info.seq = decltype(info.seq)(r.tcp_seq);
    static_cast<Tcp*>(t)->icmp_error(info);
  }
  static void flush(tcp::TcpLayer* t) { static_cast<Tcp*>(t)->flush(); }
};
template <typename Tcp>
inline constexpr TcpHooks kTcpHooks{&TcpThunks<Tcp>::input, &TcpThunks<Tcp>::icmp_error,
                                    &TcpThunks<Tcp>::flush};
}  // namespace engine_internal

class Engine final : public coro::PollSource {
 public:
  static constexpr std::size_t kMaxBurst = 64;

  // Registers itself as a poll source of `reactor`. The device must outlive the engine. Throws
  // std::invalid_argument for an impossible configuration.
  Engine(coro::Reactor& reactor, nic::Device& device, EngineConfig config);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // PollSource: one rx burst through every layer, transport output, one tx flush.
  bool poll() override;
  // The device's next rx time (virtual-time wire), or now when work is already queued.
  std::optional<coro::TimePoint> next_event() const override;
  // The device queue's readiness fd (TAP), so an idle reactor sleeps until packets arrive.
  int wait_fd() const override { return device_.rx_fd(config_.queue); }

  coro::Reactor& reactor() { return reactor_; }
  nic::Device& device() { return device_; }
  const EngineConfig& config() const { return config_; }
  Ipv4Address address() const { return config_.address; }
  // The device's, read once at construction (no virtual call per use).
  nic::MacAddress mac() const { return link_.mac(); }
  std::uint16_t mtu() const { return link_.mtu(); }
  const nic::Offloads& offloads() const { return link_.offloads(); }
  EngineStats stats() const;

  // A packet from this queue's pool with at least kLinkAndIpHeadroom in front; null when the
  // pool is exhausted (counted in tx_no_buffer and the pool's own counter).
  nic::Packet* alloc_tx();

  // Sends `p` (starting at the transport header) to `dst`: prepends IPv4 (checksum in software
  // or by offload), resolves the next hop (the packet waits in ARP's bounded queue if needed),
  // prepends Ethernet, queues it for this iteration's tx burst. Always takes ownership.
  // Errors: kHostUnreachable (off-link with no gateway), kMessageTooLong (larger than the MTU:
  // this stack never fragments), kInvalidArgument (0.0.0.0, 127/8, no headroom).
  Result<void> ip_send(nic::Packet* p, Ipv4Address dst, std::uint8_t protocol,
                       IpSendOptions options = {});

  // Queues a complete Ethernet frame for the tx burst. Takes ownership.
  void send_frame(nic::Packet* frame) { link_.send(frame); }
  // Transmits everything queued so far (called at the end of poll(); transports may call it
  // earlier). Frames the device refuses are freed and counted.
  void flush_tx() { link_.flush(); }

  // Broadcasts a gratuitous ARP for our address (RFC 5227 §3 announcement).
  Result<void> send_gratuitous_arp();

  // TCP attaches itself (it is built on top of the engine): attach_tcp(this) from its
  // constructor, attach_tcp(nullptr) from its destructor.
  template <typename Tcp>
  void attach_tcp(Tcp* tcp) {
    static_assert(std::is_same_v<Tcp, tcp::TcpLayer>, "attach_tcp takes the TcpLayer");
    if (tcp == nullptr) return attach_tcp(nullptr);
    deliver_tcp_batch();
    tcp_ = tcp;
    tcp_hooks_ = &engine_internal::kTcpHooks<Tcp>;
  }
  void attach_tcp(std::nullptr_t);
  tcp::TcpLayer* tcp() { return tcp_; }

  ether::Link& link() { return link_; }
  arp::ArpCache& arp() { return arp_; }
  ipv4::Ipv4Layer& ipv4() { return ipv4_; }
  icmp::IcmpLayer& icmp() { return icmp_; }
  udp::UdpLayer& udp() { return udp_; }

 private:
  void process_frame(nic::Packet* frame);
  void deliver(ipv4::Delivery d);
  void deliver_error(const icmp::ErrorReport& report);
  void deliver_tcp_batch();
  static void on_arp_failure(void* self, nic::Packet* ip_packet);
  static void on_reassembly_timeout(void* self, nic::Packet* first_fragment);

  coro::Reactor& reactor_;
  nic::Device& device_;
  EngineConfig config_;
  std::uint64_t rx_no_transport_ = 0;
  ether::Link link_;
  arp::ArpCache arp_;
  ipv4::Ipv4Layer ipv4_;
  icmp::IcmpLayer icmp_;
  udp::UdpLayer udp_;
  tcp::TcpLayer* tcp_ = nullptr;
  const TcpHooks* tcp_hooks_ = nullptr;
  std::array<nic::Packet*, kMaxBurst> rx_{};
  std::array<TcpRx, kMaxBurst> tcp_batch_{};
  std::size_t tcp_count_ = 0;
};

}  // namespace coronet::stack
