#include "stack/udp/udp_layer.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "nic/packet_pool.h"
#include "stack/ipv4/chain.h"
#include "stack/ipv4/ipv4_header.h"
#include "stack/net/bytes.h"
#include "stack/net/checksum.h"

namespace coronet::stack::udp {

namespace {

// The pseudo-header of RFC 768: source, destination, zero + protocol, UDP length.
Checksum pseudo_header(Ipv4Address src, Ipv4Address dst, std::uint16_t udp_len) {
  Checksum c;
  c.add32(src.raw());
  c.add32(dst.raw());
  c.add16(kProtoUdp);
  c.add16(udp_len);
  return c;
}

// What an ICMP error means to a socket (the mapping Linux uses for errno, as codes).
Error error_for(const icmp::ErrorReport& r) {
  const std::string about = " (datagram to " + r.remote.to_string() + ")";
  if (r.local_origin) {
    return Error(Errc::kHostUnreachable, "no ARP reply for the next hop" + about);
  }
  if (r.type == icmp::kDestUnreachable) {
    switch (r.code) {
      case icmp::kCodePortUnreachable:
        return Error(Errc::kConnectionRefused, "ICMP port unreachable" + about);
      case icmp::kCodeProtocolUnreachable:
        return Error(Errc::kConnectionRefused, "ICMP protocol unreachable" + about);
      case icmp::kCodeFragmentationNeeded:
        return Error(Errc::kMessageTooLong, "ICMP fragmentation needed, next-hop MTU " +
                                                std::to_string(r.next_hop_mtu) + about);
      case icmp::kCodeNetUnreachable:
        return Error(Errc::kHostUnreachable, "ICMP network unreachable" + about);
      default:
        return Error(Errc::kHostUnreachable,
                     "ICMP destination unreachable code " + std::to_string(r.code) + about);
    }
  }
  if (r.type == icmp::kTimeExceeded) {
    return Error(Errc::kHostUnreachable, "ICMP time exceeded" + about);
  }
  return Error(Errc::kHostUnreachable, "ICMP parameter problem" + about);
}

}  // namespace

UdpSocketState::UdpSocketState(std::size_t queue_capacity)
    : ring_(std::make_unique<Queued[]>(queue_capacity > 0 ? queue_capacity : 1)),
      capacity_(queue_capacity > 0 ? queue_capacity : 1) {}

UdpSocketState::~UdpSocketState() {
  while (nic::Packet* p = pop().packet) nic::PacketPool::free(p);
}

bool UdpSocketState::push(nic::Packet* p, Endpoint from) {
  if (count_ == capacity_) return false;
  ring_[(head_ + count_) % capacity_] = Queued{p, from};
  ++count_;
  return true;
}

UdpSocketState::Queued UdpSocketState::pop() {
  if (count_ == 0) return {};
  Queued q = ring_[head_];
  ring_[head_] = {};
  head_ = (head_ + 1) % capacity_;
  --count_;
  return q;
}

UdpLayer::UdpLayer(ether::Link& link, ipv4::Ipv4Layer& ip, icmp::IcmpLayer& icmp, UdpConfig config)
    : link_(link), ip_(ip), icmp_(icmp), config_(config), next_ephemeral_(config.ephemeral_first) {
  if (config_.ephemeral_first == 0 || config_.ephemeral_first > config_.ephemeral_last) {
    throw std::invalid_argument("UdpConfig: bad ephemeral port range");
  }
}

UdpLayer::~UdpLayer() {
  for (auto& [port, s] : ports_) {
    s->layer = nullptr;
    s->readers.wake_all();
  }
  ports_.clear();
}

Result<void> UdpLayer::bind(UdpSocketState& s, std::uint16_t port) {
  if (s.layer != nullptr) return Error(Errc::kInvalidArgument, "socket is already bound");
  if (port == 0) {
    const std::uint32_t span = config_.ephemeral_last - config_.ephemeral_first + 1u;
    for (std::uint32_t i = 0; i < span && port == 0; ++i) {
      const auto candidate = static_cast<std::uint16_t>(next_ephemeral_);
      next_ephemeral_ =
          next_ephemeral_ == config_.ephemeral_last ? config_.ephemeral_first : next_ephemeral_ + 1;
      if (!ports_.contains(candidate)) port = candidate;
    }
    if (port == 0) return Error(Errc::kAddressInUse, "no free ephemeral UDP port");
  } else if (ports_.contains(port)) {
    return Error(Errc::kAddressInUse, "UDP port " + std::to_string(port));
  }
  ports_.emplace(port, &s);
  s.layer = this;
  s.port = port;
  return {};
}

void UdpLayer::unbind(UdpSocketState& s) {
  if (s.layer != this) return;
  ports_.erase(s.port);
  s.layer = nullptr;
}

void UdpLayer::input(nic::Packet* p, const IpRxInfo& info) {
  ++stats_.rx_datagrams;
  auto drop = [p](std::uint64_t& counter) {
    ++counter;
    nic::PacketPool::free(p);
  };
  if (p->size() < kHeaderLen) return drop(stats_.rx_truncated);
  const std::byte* h = p->data();
  const std::uint16_t udp_len = load_be16(h + 4);
  // RFC 768: the length covers header and data; what the IP payload holds beyond it is not ours.
  if (udp_len < kHeaderLen || udp_len > p->chain_size()) return drop(stats_.rx_bad_length);
  if (udp_len < p->chain_size()) trim_chain(p, udp_len);
  // RFC 768: an all-zero checksum field means the sender computed none.
  if (load_be16(h + 6) != 0 && !info.l4_checksum_verified) {
    Checksum c = pseudo_header(info.src, info.dst, udp_len);
    add_chain(c, p);
    if (c.fold() != 0xffff) return drop(stats_.rx_bad_checksum);
  }
  const std::uint16_t src_port = load_be16(h);
  const std::uint16_t dst_port = load_be16(h + 2);
  UdpSocketState* s = lookup(dst_port);
  if (s == nullptr) {
    // RFC 1122 §4.1.3.1: SHOULD send port unreachable. ICMP applies the §3.2.2 exclusions
    // (broadcasts, odd sources) and the rate limit.
    icmp_.send_error(icmp::kDestUnreachable, icmp::kCodePortUnreachable, *p, info);
    return drop(stats_.rx_no_port);
  }
  p->trim_front(kHeaderLen);
  if (!s->push(p, Endpoint{info.src, src_port})) {
    ++s->stats.rx_dropped;
    return drop(stats_.rx_queue_full);
  }
  ++s->stats.rx_datagrams;
  ++stats_.rx_delivered;
  s->readers.wake_one();
}

void UdpLayer::icmp_error(const icmp::ErrorReport& report) {
  UdpSocketState* s = lookup(report.local.port);
  if (s == nullptr) {
    ++stats_.rx_icmp_no_socket;
    return;
  }
  ++stats_.rx_icmp_errors;
  ++s->stats.errors;
  s->error = error_for(report);
  s->readers.wake_one();
}

Result<void> UdpLayer::send(UdpSocketState& s, std::span<const std::byte> payload, Endpoint to) {
  auto refuse = [this](Error e) -> Result<void> {
    ++stats_.tx_errors;
    return e;
  };
  if (to.port == 0) return refuse(Error(Errc::kInvalidArgument, "destination port 0"));
  const std::size_t max_payload = link_.mtu() - ipv4::kMinHeaderLen - kHeaderLen;
  if (payload.size() > max_payload) {
    return refuse(Error(Errc::kMessageTooLong, "UDP payload of " + std::to_string(payload.size()) +
                                                   " bytes; at most " +
                                                   std::to_string(max_payload) + " fit the MTU"));
  }
  nic::Packet* p = link_.alloc(kLinkAndIpHeadroom);
  if (p == nullptr) return refuse(Error(Errc::kNoBufferSpace, "no packet buffer for a datagram"));
  const auto udp_len = static_cast<std::uint16_t>(kHeaderLen + payload.size());
  std::byte* h = p->append(udp_len);
  if (h == nullptr) {
    nic::PacketPool::free(p);
    return refuse(Error(Errc::kMessageTooLong, "datagram does not fit a packet buffer"));
  }
  store_be16(h, s.port);
  store_be16(h + 2, to.port);
  store_be16(h + 4, udp_len);
  store_be16(h + 6, 0);
  if (!payload.empty()) std::memcpy(h + kHeaderLen, payload.data(), payload.size());
  Checksum c = pseudo_header(ip_.address(), to.addr, udp_len);
  if (link_.offloads().tx_l4_checksum) {
    // The device finishes the sum from the pseudo-header sum we leave in the field.
    store_be16(h + 6, c.fold());
    p->meta.flags |= nic::offload::kTxUdpCsum;
    p->meta.l4_len = kHeaderLen;
  } else {
    c.add(std::span<const std::byte>(h, udp_len));
    const std::uint16_t sum = c.finish();
    store_be16(h + 6, sum == 0 ? 0xffff : sum);  // RFC 768: a computed zero is sent as all ones
  }
  Result<void> r = ip_.send(p, to.addr, kProtoUdp);
  if (!r) return refuse(r.error());
  ++stats_.tx_datagrams;
  ++s.stats.tx_datagrams;
  return {};
}

}  // namespace coronet::stack::udp
