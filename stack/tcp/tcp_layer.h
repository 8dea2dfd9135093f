// TcpLayer: coronet's TCP for one engine (one core). This header is the contract the engine calls;
// the implementation grows in stack/tcp/.
#pragma once

#include <cstdint>

#include "nic/packet.h"
#include "stack/engine.h"
#include "stack/tcp/seq.h"

namespace coronet::stack::tcp {

// What an ICMP error tells TCP about a segment it sent (RFC 1122 §4.2.3.9, RFC 5927).
struct IcmpErrorInfo {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  std::uint16_t next_hop_mtu = 0;  // type 3 code 4 (RFC 1191)
  Endpoint local;                  // from the quoted header: our side
  Endpoint remote;
  SeqNum seq;                      // quoted sequence number
};

struct TcpStats {
  std::uint64_t rx_segments = 0;
  std::uint64_t rx_dropped = 0;
  std::uint64_t icmp_errors = 0;
};

class TcpLayer {
 public:
  explicit TcpLayer(Engine& engine);
  ~TcpLayer();
  TcpLayer(const TcpLayer&) = delete;
  TcpLayer& operator=(const TcpLayer&) = delete;

  // A received segment: `p` starts at the TCP header and ends at the IP payload's end. Takes
  // ownership.
  void input(nic::Packet* p, const IpRxInfo& info);
  // An ICMP error quoting one of our segments.
  void icmp_error(const IcmpErrorInfo& info);
  // End of an rx burst: send what the burst made due (coalesced ACKs, window updates, data).
  void flush();

  const TcpStats& stats() const { return stats_; }

 private:
  Engine& engine_;
  TcpStats stats_;
};

}  // namespace coronet::stack::tcp
