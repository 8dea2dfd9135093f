#include "stack/ipv4/ipv4_layer.h"

#include <span>
#include <stdexcept>
#include <string>

#include "nic/packet_pool.h"
#include "stack/ether/ether.h"
#include "stack/ipv4/chain.h"
#include "stack/ipv4/ipv4_header.h"
#include "stack/net/checksum.h"

namespace coronet::stack::ipv4 {

Ipv4Layer::Ipv4Layer(coro::Reactor& reactor, ether::Link& link, arp::ArpCache& arp,
                     Addressing addressing, Ipv4Config config)
    : link_(link),
      arp_(arp),
      addressing_(addressing),
      config_(config),
      reassembler_(reactor, config_) {
  if (addressing_.prefix_len > 32) throw std::invalid_argument("prefix_len must be <= 32");
  if (config_.default_ttl == 0) throw std::invalid_argument("default_ttl must not be 0");
  // RFC 3021: a /31 (and a /32) has no directed broadcast address.
  if (addressing_.prefix_len < 31) {
    const std::uint32_t host_mask = ~std::uint32_t{0} >> addressing_.prefix_len;
    subnet_broadcast_ = addressing_.address.raw() | host_mask;
  }
  loop_ = std::make_unique<nic::Packet*[]>(config_.loopback_queue > 0 ? config_.loopback_queue : 1);
}

Ipv4Layer::~Ipv4Layer() {
  while (nic::Packet* p = pop_loopback()) nic::PacketPool::free(p);
}

bool Ipv4Layer::is_broadcast(Ipv4Address a) const {
  return a.is_broadcast() || (subnet_broadcast_ != 0 && a.raw() == subnet_broadcast_);
}

bool Ipv4Layer::is_unicast_host(Ipv4Address a) const {
  return !a.is_any() && !a.is_multicast() && !a.is_loopback() && !is_broadcast(a) &&
         (a.raw() >> 28) != 0xf;  // class E (RFC 1122 §3.2.1.3: reserved)
}

Result<Ipv4Address> Ipv4Layer::route(Ipv4Address dst) const {
  if (dst.same_subnet(addressing_.address, addressing_.prefix_len) || is_broadcast(dst) ||
      dst.is_multicast()) {
    return dst;
  }
  if (addressing_.gateway) return *addressing_.gateway;
  return Error(Errc::kHostUnreachable,
               "no route to " + dst.to_string() + ": off-link and no default gateway");
}

Delivery Ipv4Layer::input(nic::Packet* p, bool link_broadcast) {
  ++stats_.rx_packets;
  auto drop = [p](std::uint64_t& counter) -> Delivery {
    ++counter;
    nic::PacketPool::free(p);
    return {};
  };
  // RFC 1122 §3.2.1.1-2 and RFC 791 §3.1: every check below silently discards on failure.
  if (p->size() < kMinHeaderLen) return drop(stats_.rx_truncated);
  Header h = read_header(p->data());
  if (h.version != 4) return drop(stats_.rx_bad_version);
  if (h.header_len < kMinHeaderLen) return drop(stats_.rx_bad_header_len);
  if (h.header_len > p->size()) return drop(stats_.rx_truncated);
  const std::size_t frame_len = p->chain_size();
  if (h.total_len < h.header_len || h.total_len > frame_len) return drop(stats_.rx_bad_length);
  const std::uint32_t flags = p->meta.flags;
  if ((flags & nic::offload::kRxIpv4CsumBad) != 0) return drop(stats_.rx_bad_checksum);
  if ((flags & nic::offload::kRxIpv4CsumGood) == 0 &&
      internet_checksum(std::span<const std::byte>(p->data(), h.header_len)) != 0) {
    return drop(stats_.rx_bad_checksum);
  }
  // Ethernet pads short frames to 60 bytes: the total length says where the datagram ends.
  if (h.total_len < frame_len) trim_chain(p, h.total_len);
  if (h.header_len > kMinHeaderLen) ++stats_.rx_with_options;

  // RFC 1122 §3.2.1.3: a source that is not a single host is a forgery or a misconfiguration.
  // 0.0.0.0 is allowed (hosts being configured, e.g. DHCP clients).
  if (h.src.is_broadcast() || h.src.is_multicast() || h.src.is_loopback() || is_broadcast(h.src)) {
    return drop(stats_.rx_bad_source);
  }
  bool ip_broadcast = false;
  if (h.dst != addressing_.address) {
    // No multicast group is joined (RFC 1112 level 0 host).
    if (!is_broadcast(h.dst)) return drop(stats_.rx_not_for_us);
    ip_broadcast = true;
  } else if (link_broadcast) {
    // RFC 1122 §3.3.6: a unicast datagram in a link-layer broadcast SHOULD be discarded.
    return drop(stats_.rx_link_broadcast_unicast);
  }

  bool reassembled = false;
  if (h.is_fragment()) {
    ++stats_.rx_fragments;
    p = reassembler_.add(p, h);
    if (p == nullptr) return {};
    h = read_header(p->data());
    reassembled = true;
  }

  Delivery d;
  d.info.src = h.src;
  d.info.dst = h.dst;
  d.info.protocol = h.protocol;
  d.info.ttl = h.ttl;
  d.info.tos = h.tos;
  d.info.header_len = h.header_len;
  d.info.link_broadcast = link_broadcast;
  d.info.ip_broadcast = ip_broadcast;
  d.info.reassembled = reassembled;
  d.info.l4_checksum_verified = (p->meta.flags & nic::offload::kRxL4CsumGood) != 0;
  p->trim_front(h.header_len);
  d.packet = p;
  ++stats_.rx_delivered;
  return d;
}

Result<void> Ipv4Layer::send(nic::Packet* p, Ipv4Address dst, std::uint8_t protocol,
                             IpSendOptions options) {
  auto fail = [p](std::uint64_t& counter, Error e) -> Result<void> {
    ++counter;
    nic::PacketPool::free(p);
    return e;
  };
  if (dst.is_any() || dst.is_loopback()) {
    return fail(stats_.tx_bad_destination,
                Error(Errc::kInvalidArgument, "cannot send to " + dst.to_string()));
  }
  const std::size_t total = p->chain_size() + kMinHeaderLen;
  if (total > link_.mtu()) {
    return fail(stats_.tx_too_big,
                Error(Errc::kMessageTooLong,
                      "IPv4 datagram of " + std::to_string(total) + " bytes exceeds the MTU of " +
                          std::to_string(link_.mtu()) + " (no fragmentation on send)"));
  }
  const bool loopback = dst == addressing_.address;
  Ipv4Address next_hop = dst;
  if (!loopback) {
    Result<Ipv4Address> hop = route(dst);
    if (!hop) return fail(stats_.tx_no_route, hop.error());
    next_hop = *hop;
  }
  std::byte* at = p->prepend(kMinHeaderLen);
  if (at == nullptr) {
    return fail(stats_.tx_no_headroom,
                Error(Errc::kInvalidArgument, "packet has no headroom for the IPv4 header"));
  }
  Header h;
  h.tos = options.tos;
  h.total_len = static_cast<std::uint16_t>(total);
  // RFC 791 §3.2 identification; RFC 6864 §4.1 lets atomic (DF) datagrams use any value.
  h.id = next_id_++;
  h.dont_fragment = options.dont_fragment;
  h.ttl = options.ttl != 0 ? options.ttl : config_.default_ttl;
  h.protocol = protocol;
  h.src = addressing_.address;
  h.dst = dst;
  const bool offload = link_.offloads().tx_ipv4_checksum && !loopback;
  write_header(at, h, !offload);
  if (offload) p->meta.flags |= nic::offload::kTxIpv4Csum;
  p->meta.l3_len = kMinHeaderLen;
  ++stats_.tx_packets;

  if (loopback) {
    // Our own address: deliver on the next poll, as if received. Checksums need no checking (the
    // transport may have left its sum to an offload that never runs on this path).
    if (loop_count_ >= config_.loopback_queue) {
      ++stats_.loopback_dropped;
      nic::PacketPool::free(p);
      return Error(Errc::kNoBufferSpace, "loopback queue full");
    }
    p->meta.flags = nic::offload::kRxIpv4CsumGood | nic::offload::kRxL4CsumGood;
    const std::size_t cap = config_.loopback_queue;
    loop_[(loop_head_ + loop_count_) % cap] = p;
    ++loop_count_;
    ++stats_.loopback_packets;
    return {};
  }
  if (is_broadcast(dst) || dst.is_multicast()) {
    // No resolution: the link's broadcast address, or the group's mapped address (RFC 1112 §6.4).
    const nic::MacAddress mac =
        dst.is_multicast() ? ether::multicast_mac(dst.raw()) : nic::MacAddress::broadcast();
    if (!ether::prepend(*p, mac, link_.mac(), ether::kTypeIpv4)) {
      return fail(stats_.tx_no_headroom,
                  Error(Errc::kInvalidArgument, "packet has no headroom for the Ethernet header"));
    }
    link_.send(p);
    return {};
  }
  arp_.send_ipv4(p, next_hop);
  return {};
}

nic::Packet* Ipv4Layer::pop_loopback() {
  if (loop_count_ == 0) return nullptr;
  nic::Packet* p = loop_[loop_head_];
  loop_head_ = (loop_head_ + 1) % config_.loopback_queue;
  --loop_count_;
  return p;
}

}  // namespace coronet::stack::ipv4
