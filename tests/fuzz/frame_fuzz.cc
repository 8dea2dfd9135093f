// Fuzz target (a) of issue 10: one Ethernet frame into the full stack (Ethernet, ARP, IPv4,
// ICMP, UDP, TCP) while a connection sits in a chosen TCP state.
//
// Input: [scenario] [fix-ups] [time] [frame...]
//   scenario  Scenario (tcp_fuzz_bench.h), modulo the count
//   fix-ups   bits applied to the frame before it goes in, so mutations keep reaching deep code:
//             0x01 addresses and ports of the connection, 0x02 sequence and acknowledgement
//             numbers relative to the peer's next sequence number / our highest sent, 0x04 IPv4
//             total length from the frame size, 0x08 IPv4 header checksum, 0x10 TCP or ICMP
//             checksum, 0x20 an ICMP error's quoted header names the connection (sequence
//             number relative to our highest sent)
//   time      bits 0-5: virtual time to let pass afterwards (x 25 ms); bit 7: the app reads
// After the frame: the layer's invariants (tcp_invariants.h) and every frame coronet sends
// parses with a right checksum; at the end, once the app lets go, every connection and buffer
// goes away within 30 minutes.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"
#include "tests/fuzz/tcp_fuzz_bench.h"

namespace {

using coronet::stack::load_be16;
using coronet::stack::load_be32;
using coronet::stack::store_be16;
using coronet::stack::store_be32;
using coronet::testing::ScriptDevice;
using coronet::testing::TcpScript;
using namespace coronet::testing::fuzz;

void fix_up(Bench& b, std::uint8_t fixes, std::vector<std::byte>& f) {
  if (f.size() < 14) return;
  if (fixes & 0x01) {
    std::memcpy(f.data(), ScriptDevice::kOurMac.bytes().data(), 6);
    std::memcpy(f.data() + 6, ScriptDevice::kPeerMac.bytes().data(), 6);
    store_be16(f.data() + 12, 0x0800);
  }
  if (f.size() < 34) return;
  std::byte* ip = f.data() + 14;
  const std::size_t ihl = (static_cast<std::size_t>(ip[0]) & 0xf) * 4;
  if (fixes & 0x01) {
    store_be32(ip + 12, TcpScript::kPeerAddr.raw());
    store_be32(ip + 16, TcpScript::kOurAddr.raw());
  }
  if (fixes & 0x04) store_be16(ip + 2, static_cast<std::uint16_t>(std::min<std::size_t>(f.size() - 14, 65535)));
  const std::size_t total = std::min<std::size_t>(load_be16(ip + 2), f.size() - 14);
  const bool tcp = ip[9] == std::byte{6} && ihl >= 20 && total >= ihl + 20;
  if (tcp) {
    std::byte* t = ip + ihl;
    if (fixes & 0x01) {
      store_be16(t, TcpScript::kPeerPort);
      store_be16(t + 2, b.our_port);
    }
    if (fixes & 0x02) {
      store_be32(t + 4, load_be32(t + 4) + b.peer_nxt);
      store_be32(t + 8, load_be32(t + 8) + b.our_max);
    }
    if (fixes & 0x10) {
      store_be16(t + 16, 0);
      std::span<const std::byte> seg(t, total - ihl);
      store_be16(t + 16, coronet::stack::tcp::tcp_checksum(load_be32(ip + 12), load_be32(ip + 16), seg));
    }
  }
  const bool icmp = ip[9] == std::byte{1} && ihl >= 20 && total >= ihl + 8;
  if (icmp) {
    std::byte* m = ip + ihl;
    // An ICMP error quotes the IPv4 header and the first 8 bytes of our segment (RFC 792).
    if ((fixes & 0x20) && total >= ihl + 8 + 20 + 8) {
      std::byte* q = m + 8;
      const std::size_t qihl = (static_cast<std::size_t>(q[0]) & 0xf) * 4;
      if (qihl >= 20 && total >= ihl + 8 + qihl + 8) {
        store_be32(q + 12, TcpScript::kOurAddr.raw());
        store_be32(q + 16, TcpScript::kPeerAddr.raw());
        store_be16(q + qihl, b.our_port);
        store_be16(q + qihl + 2, TcpScript::kPeerPort);
        store_be32(q + qihl + 4, load_be32(q + qihl + 4) + b.our_max);
      }
    }
    if (fixes & 0x10) {
      store_be16(m + 2, 0);
      store_be16(m + 2, coronet::stack::internet_checksum({m, total - ihl}));
    }
  }
  if ((fixes & 0x08) && ihl >= 20 && ihl <= f.size() - 14) {
    store_be16(ip + 10, 0);
    store_be16(ip + 10, coronet::stack::internet_checksum({ip, ihl}));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3 || size > 3 + 2048) return -1;
  const auto scenario = static_cast<Scenario>(data[0] % static_cast<std::uint8_t>(Scenario::kCount));
  Bench b(scenario);
  std::vector<std::byte> frame(reinterpret_cast<const std::byte*>(data + 3),
                               reinterpret_cast<const std::byte*>(data + size));
  fix_up(b, data[1], frame);
  b.inject_frame(frame);
  b.check("after the frame");
  if (data[2] & 0x80) b.read_now(/*verify=*/false);  // the frame's payload is anything
  b.run_for(std::chrono::milliseconds(25) * (data[2] & 0x3f));
  b.check("after the timers");
  b.finish();
  return 0;
}
