// IcmpLayer: ICMP for IPv4 (RFC 792) with the host rules of RFC 1122 §3.2.2.
//
// - Echo requests are answered in place: the request's buffer becomes the reply (type 0, same
//   identifier, sequence number and data, RFC 792; RFC 1122 §3.2.2.6). Echo requests to a
//   broadcast/multicast address are ignored unless configured (RFC 1122 §3.2.2.6 "MAY").
// - Errors we receive (destination unreachable incl. code 4 with the next-hop MTU of RFC 1191 §4,
//   time exceeded, parameter problem) are parsed into an ErrorReport naming the transport
//   endpoints of the datagram we sent; the engine hands it to UDP or TCP. Source quench is
//   ignored (RFC 6633 §1). Reports are also built for local failures (ARP gave up).
// - Errors we send (port/protocol unreachable, reassembly time exceeded) are token-bucket rate
//   limited and never sent about an ICMP error, a broadcast/multicast datagram (IP or link), a
//   non-initial fragment, or a datagram whose source is not a single host (RFC 1122 §3.2.2).
//   They quote as much of the offending datagram as fits in 576 bytes (RFC 1812 §4.3.2.3; at
//   least the IP header + 8 bytes RFC 792 asks for).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "coro/reactor.h"
#include "coro/result.h"
#include "nic/packet.h"
#include "stack/ether/link.h"
#include "stack/ipv4/ip_types.h"
#include "stack/ipv4/ipv4_layer.h"

namespace coronet::stack::icmp {

inline constexpr std::uint32_t kHeaderLen = 8;

// Types and codes (RFC 792).
inline constexpr std::uint8_t kEchoReply = 0;
inline constexpr std::uint8_t kDestUnreachable = 3;
inline constexpr std::uint8_t kSourceQuench = 4;
inline constexpr std::uint8_t kRedirect = 5;
inline constexpr std::uint8_t kEchoRequest = 8;
inline constexpr std::uint8_t kTimeExceeded = 11;
inline constexpr std::uint8_t kParameterProblem = 12;

inline constexpr std::uint8_t kCodeNetUnreachable = 0;
inline constexpr std::uint8_t kCodeHostUnreachable = 1;
inline constexpr std::uint8_t kCodeProtocolUnreachable = 2;
inline constexpr std::uint8_t kCodePortUnreachable = 3;
inline constexpr std::uint8_t kCodeFragmentationNeeded = 4;
inline constexpr std::uint8_t kCodeTtlExceeded = 0;
inline constexpr std::uint8_t kCodeReassemblyTimeExceeded = 1;

bool is_error_type(std::uint8_t type);

struct IcmpConfig {
  // Token bucket for errors we send: refill rate and depth. 0 errors_per_second sends none.
  std::uint32_t errors_per_second = 100;
  std::uint32_t error_burst = 50;
  bool echo_broadcast = false;  // answer echo requests sent to broadcast/multicast addresses
};

struct IcmpStats {
  std::uint64_t rx_messages = 0;
  std::uint64_t rx_truncated = 0;  // shorter than 8 bytes
  std::uint64_t rx_bad_checksum = 0;
  std::uint64_t rx_echo_requests = 0;
  std::uint64_t rx_echo_replies = 0;
  std::uint64_t rx_broadcast_echo_ignored = 0;
  std::uint64_t rx_errors = 0;  // parsed and handed to the transports
  std::uint64_t rx_errors_unusable =
      0;                               // quoted datagram too short, not ours, not a first fragment
  std::uint64_t rx_source_quench = 0;  // ignored (RFC 6633)
  std::uint64_t rx_other = 0;          // other types: ignored
  std::uint64_t tx_echo_replies = 0;
  std::uint64_t tx_echo_requests = 0;
  std::uint64_t tx_errors = 0;
  std::uint64_t tx_rate_limited = 0;  // errors not sent: bucket empty
  std::uint64_t tx_suppressed = 0;    // errors not sent: RFC 1122 §3.2.2 forbids them
  std::uint64_t tx_failed = 0;        // no buffer, or IP refused
};

// An ICMP error about a datagram we sent, or a local failure reported the same way.
struct ErrorReport {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  std::uint16_t next_hop_mtu = 0;  // type 3 code 4 (RFC 1191 §4), else 0
  std::uint8_t protocol = 0;       // of the quoted datagram
  Endpoint local;                  // quoted source: us (port 0 when the protocol has none)
  Endpoint remote;                 // quoted destination
  std::uint32_t tcp_seq = 0;       // quoted TCP sequence number
  bool local_origin = false;       // generated here (e.g. ARP resolution failed)
};

// Parses the start of a datagram we sent (IPv4 header first, then at least 8 bytes of it) into
// an error report with type/code left 0. Nullopt when it is too short, not from `ours`, or not
// the first fragment (no transport header to identify the endpoints).
std::optional<ErrorReport> parse_quoted(std::span<const std::byte> datagram, Ipv4Address ours);

class IcmpLayer {
 public:
  IcmpLayer(coro::Reactor& reactor, ether::Link& link, ipv4::Ipv4Layer& ip, IcmpConfig config);

  // A received message (`p` starts at the ICMP header). Takes ownership. Returns the error it
  // carried, for the engine to deliver to the transports.
  std::optional<ErrorReport> input(nic::Packet* p, const IpRxInfo& info);

  // Sends an error about a received datagram whose transport header starts at `offending.data()`
  // (its IPv4 header in front, info.header_len bytes). `rest` is the second header word (e.g.
  // the next-hop MTU for code 4). Does not take ownership. False when not sent (counted).
  bool send_error(std::uint8_t type, std::uint8_t code, const nic::Packet& offending,
                  const IpRxInfo& info, std::uint32_t rest = 0);
  // The same for a datagram given from its IPv4 header on (e.g. a timed-out first fragment).
  bool send_error_about(std::uint8_t type, std::uint8_t code, std::span<const std::byte> datagram,
                        bool link_broadcast, std::uint32_t rest = 0);

  // Sends an echo request (for tools and tests).
  Result<void> send_echo_request(Ipv4Address dst, std::uint16_t id, std::uint16_t seq,
                                 std::span<const std::byte> payload);

  const IcmpConfig& config() const { return config_; }
  const IcmpStats& stats() const { return stats_; }

 private:
  void echo_reply(nic::Packet* p, const IpRxInfo& info);
  bool take_token();

  coro::Reactor& reactor_;
  ether::Link& link_;
  ipv4::Ipv4Layer& ip_;
  IcmpConfig config_;
  IcmpStats stats_;
  // Token bucket in nanoseconds of credit: each error costs 1 s / errors_per_second.
  std::int64_t credit_ns_ = 0;
  std::int64_t cost_ns_ = 0;
  std::int64_t cap_ns_ = 0;
  coro::TimePoint last_refill_{};
};

}  // namespace coronet::stack::icmp
