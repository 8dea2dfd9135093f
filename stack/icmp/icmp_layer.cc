#include "stack/icmp/icmp_layer.h"

#include <algorithm>
#include <cstring>

#include "nic/packet_pool.h"
#include "stack/ipv4/chain.h"
#include "stack/ipv4/ipv4_header.h"
#include "stack/net/bytes.h"
#include "stack/net/checksum.h"

namespace coronet::stack::icmp {

namespace {
// RFC 1812 §4.3.2.3: an error datagram should not exceed 576 bytes.
constexpr std::size_t kMaxErrorDatagram = 576;
constexpr std::size_t kMaxQuote = kMaxErrorDatagram - ipv4::kMinHeaderLen - kHeaderLen;
}  // namespace

bool is_error_type(std::uint8_t type) {
  return type == kDestUnreachable || type == kSourceQuench || type == kRedirect ||
         type == kTimeExceeded || type == kParameterProblem;
}

std::optional<ErrorReport> parse_quoted(std::span<const std::byte> d, Ipv4Address ours) {
  if (d.size() < ipv4::kMinHeaderLen) return std::nullopt;
  const ipv4::Header h = ipv4::read_header(d.data());
  // RFC 792: the quote is the IP header plus the first 64 bits of the datagram's data, which is
  // where both UDP and TCP keep their ports (and TCP its sequence number).
  if (h.version != 4 || h.header_len < ipv4::kMinHeaderLen || d.size() < h.header_len + 8u) {
    return std::nullopt;
  }
  if (h.src != ours || h.frag_offset != 0) return std::nullopt;
  ErrorReport r;
  r.protocol = h.protocol;
  r.local.addr = h.src;
  r.remote.addr = h.dst;
  const std::byte* l4 = d.data() + h.header_len;
  if (h.protocol == kProtoUdp || h.protocol == kProtoTcp) {
    r.local.port = load_be16(l4);
    r.remote.port = load_be16(l4 + 2);
    if (h.protocol == kProtoTcp) r.tcp_seq = load_be32(l4 + 4);
  }
  return r;
}

IcmpLayer::IcmpLayer(coro::Reactor& reactor, ether::Link& link, ipv4::Ipv4Layer& ip,
                     IcmpConfig config)
    : reactor_(reactor), link_(link), ip_(ip), config_(config) {
  if (config_.errors_per_second > 0) {
    cost_ns_ = 1'000'000'000 / config_.errors_per_second;
    cap_ns_ = cost_ns_ * std::max<std::uint32_t>(config_.error_burst, 1);
    credit_ns_ = cap_ns_;
  }
  last_refill_ = reactor_.now();
}

bool IcmpLayer::take_token() {
  if (cost_ns_ == 0) return false;  // errors disabled
  const coro::TimePoint now = reactor_.now();
  if (now > last_refill_) {
    credit_ns_ = std::min(cap_ns_, credit_ns_ + (now - last_refill_).count());
    last_refill_ = now;
  }
  if (credit_ns_ < cost_ns_) return false;
  credit_ns_ -= cost_ns_;
  return true;
}

std::optional<ErrorReport> IcmpLayer::input(nic::Packet* p, const IpRxInfo& info) {
  ++stats_.rx_messages;
  auto drop = [p](std::uint64_t& counter) -> std::optional<ErrorReport> {
    ++counter;
    nic::PacketPool::free(p);
    return std::nullopt;
  };
  if (p->size() < kHeaderLen) return drop(stats_.rx_truncated);
  // RFC 792: the checksum covers the whole ICMP message.
  Checksum sum;
  add_chain(sum, p);
  if (sum.fold() != 0xffff) return drop(stats_.rx_bad_checksum);

  const auto type = static_cast<std::uint8_t>(p->data()[0]);
  switch (type) {
    case kEchoRequest:
      ++stats_.rx_echo_requests;
      if ((info.ip_broadcast || info.link_broadcast) && !config_.echo_broadcast) {
        return drop(stats_.rx_broadcast_echo_ignored);
      }
      echo_reply(p, info);
      return std::nullopt;
    case kEchoReply:
      return drop(stats_.rx_echo_replies);
    case kDestUnreachable:
    case kTimeExceeded:
    case kParameterProblem: {
      std::span<const std::byte> quoted(p->data() + kHeaderLen, p->size() - kHeaderLen);
      std::optional<ErrorReport> r = parse_quoted(quoted, ip_.address());
      if (!r) return drop(stats_.rx_errors_unusable);
      r->type = type;
      r->code = static_cast<std::uint8_t>(p->data()[1]);
      if (type == kDestUnreachable && r->code == kCodeFragmentationNeeded) {
        r->next_hop_mtu = load_be16(p->data() + 6);  // RFC 1191 §4
      }
      ++stats_.rx_errors;
      nic::PacketPool::free(p);
      return r;
    }
    case kSourceQuench:
      return drop(stats_.rx_source_quench);  // RFC 6633: hosts MUST silently discard it
    default:
      return drop(stats_.rx_other);
  }
}

void IcmpLayer::echo_reply(nic::Packet* p, const IpRxInfo& info) {
  // RFC 792 echo: swap the addresses (IP does that: we send to the requester from our address,
  // RFC 1122 §3.2.2.6), change the type to 0 and fix the checksum. Identifier, sequence number
  // and data stay as they are; only one 16-bit word changed, so RFC 1624 updates the sum.
  std::byte* h = p->data();
  const auto code = static_cast<std::uint8_t>(h[1]);
  const std::uint16_t old_word = static_cast<std::uint16_t>(kEchoRequest << 8 | code);
  const std::uint16_t new_word = static_cast<std::uint16_t>(kEchoReply << 8 | code);
  h[0] = static_cast<std::byte>(kEchoReply);
  store_be16(h + 2, checksum_update16(load_be16(h + 2), old_word, new_word));
  p->meta = {};
  IpSendOptions opts;
  opts.tos = info.tos;
  opts.dont_fragment = false;
  if (ip_.send(p, info.src, kProtoIcmp, opts)) {
    ++stats_.tx_echo_replies;
  } else {
    ++stats_.tx_failed;
  }
}

bool IcmpLayer::send_error(std::uint8_t type, std::uint8_t code, const nic::Packet& offending,
                           const IpRxInfo& info, std::uint32_t rest) {
  std::span<const std::byte> datagram(offending.data() - info.header_len,
                                      info.header_len + offending.size());
  return send_error_about(type, code, datagram, info.link_broadcast, rest);
}

bool IcmpLayer::send_error_about(std::uint8_t type, std::uint8_t code, std::span<const std::byte> d,
                                 bool link_broadcast, std::uint32_t rest) {
  // RFC 1122 §3.2.2: never an error about an error, a broadcast or multicast (IP or link), a
  // non-initial fragment, or a datagram whose source does not name a single host.
  if (d.size() < ipv4::kMinHeaderLen) {
    ++stats_.tx_suppressed;
    return false;
  }
  const ipv4::Header h = ipv4::read_header(d.data());
  bool forbidden = link_broadcast || ip_.is_broadcast(h.dst) || h.dst.is_multicast() ||
                   h.frag_offset != 0 || !ip_.is_unicast_host(h.src);
  if (!forbidden && h.protocol == kProtoIcmp) {
    forbidden =
        d.size() <= h.header_len || is_error_type(static_cast<std::uint8_t>(d[h.header_len]));
  }
  if (forbidden) {
    ++stats_.tx_suppressed;
    return false;
  }
  if (!take_token()) {
    ++stats_.tx_rate_limited;
    return false;
  }
  nic::Packet* p = link_.alloc(kLinkAndIpHeadroom);
  if (p == nullptr) {
    ++stats_.tx_failed;
    return false;
  }
  const std::size_t quote = std::min(d.size(), kMaxQuote);
  std::byte* at = p->append(static_cast<std::uint32_t>(kHeaderLen + quote));
  if (at == nullptr) {
    ++stats_.tx_failed;
    nic::PacketPool::free(p);
    return false;
  }
  at[0] = static_cast<std::byte>(type);
  at[1] = static_cast<std::byte>(code);
  store_be16(at + 2, 0);
  store_be32(at + 4, rest);
  std::memcpy(at + kHeaderLen, d.data(), quote);
  store_be16(at + 2, internet_checksum(std::span<const std::byte>(at, kHeaderLen + quote)));
  IpSendOptions opts;
  opts.dont_fragment = false;
  if (!ip_.send(p, h.src, kProtoIcmp, opts)) {
    ++stats_.tx_failed;
    return false;
  }
  ++stats_.tx_errors;
  return true;
}

Result<void> IcmpLayer::send_echo_request(Ipv4Address dst, std::uint16_t id, std::uint16_t seq,
                                          std::span<const std::byte> payload) {
  nic::Packet* p = link_.alloc(kLinkAndIpHeadroom);
  if (p == nullptr) return Error(Errc::kNoBufferSpace, "no buffer for an echo request");
  std::byte* at = p->append(static_cast<std::uint32_t>(kHeaderLen + payload.size()));
  if (at == nullptr) {
    nic::PacketPool::free(p);
    return Error(Errc::kMessageTooLong, "echo payload does not fit a packet buffer");
  }
  at[0] = static_cast<std::byte>(kEchoRequest);
  at[1] = std::byte{0};
  store_be16(at + 2, 0);
  store_be16(at + 4, id);
  store_be16(at + 6, seq);
  if (!payload.empty()) std::memcpy(at + kHeaderLen, payload.data(), payload.size());
  store_be16(at + 2,
             internet_checksum(std::span<const std::byte>(at, kHeaderLen + payload.size())));
  Result<void> r = ip_.send(p, dst, kProtoIcmp, {});
  if (r) ++stats_.tx_echo_requests;
  return r;
}

}  // namespace coronet::stack::icmp
