// Helpers shared by the hostile-input suites (tcp_hostile_headers_test.cc and
// tcp_hostile_attacks_test.cc): raw Ethernet/IPv4/TCP/ICMP frames from the scripted peer of
// tcp_script.h, the application side (reads and writes as coroutines), and the Victim, a
// connection established before the attack whose survival every test checks.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tests/stack/tcp_script.h"

namespace coronet::testing::hostile {

using namespace std::chrono_literals;
using stack::tcp::Connection;
using stack::tcp::SackBlock;
using stack::tcp::SeqNum;
using stack::tcp::State;
using stack::tcp::TcpConfig;
using stack::tcp::TcpOptions;
namespace flag = stack::tcp::flag;

constexpr std::uint16_t kPort = 80;
constexpr std::size_t kEth = 14;  // Ethernet header
constexpr std::size_t kIp = 14;   // offset of the IPv4 header in a frame

// `n` bytes of a test stream from byte `from` on: a pattern that shows any shift, loss or
// duplication.
std::vector<std::byte> pattern_bytes(std::size_t n, std::size_t from = 0);

// --- raw frames -------------------------------------------------------------------------------

// A TCP segment from the peer to kPort: header (+ `raw_options`, a multiple of 4 bytes, written
// as given, or else s.options) + payload, with a correct checksum.
std::vector<std::byte> tcp_bytes(const Seg& s, std::span<const std::byte> raw_options = {});

void fix_tcp_checksum(std::vector<std::byte>& t);

// Ethernet + IPv4 (20 bytes, correct checksum) around `l4`.
std::vector<std::byte> ip_frame(std::span<const std::byte> l4, std::uint8_t protocol = 6);

// Recomputes the IPv4 header checksum over `ihl_bytes` (after the test changed the header).
void fix_ip_checksum(std::vector<std::byte>& f, std::size_t ihl_bytes = 20);

void inject(TcpScript& s, const std::vector<std::byte>& frame);

// An ICMP error from a router near the peer quoting the IPv4 header and first 8 bytes of a TCP
// segment we sent from kPort to `peer_port` with sequence number `seq` (RFC 792, RFC 1191 §4).
std::vector<std::byte> icmp_error_frame(std::uint8_t type, std::uint8_t code, std::uint16_t mtu,
                                        std::uint32_t seq,
                                        std::uint16_t peer_port = TcpScript::kPeerPort);

// --- the application side ---------------------------------------------------------------------

struct ReadState {
  std::vector<std::byte> data;
  std::optional<Errc> error;
  bool eof = false;
};

coro::Task<void> read_task(Connection& c, std::size_t n, std::shared_ptr<ReadState> st);

struct WriteState {
  std::optional<Result<std::size_t>> result;
};

coro::Task<void> write_task(Connection& c, std::vector<std::byte> data,
                            std::shared_ptr<WriteState> st);

// --- the victim -------------------------------------------------------------------------------

// A connection accepted on kPort from the peer (ISN 1000), established before the attack. The
// peer side is scripted here: its next sequence number, ours, and its timestamps when the SYN
// offered them.
class Victim {
 public:
  explicit Victim(TcpConfig cfg = {}, TcpOptions syn = TcpOptions{.mss = 1460});
  // Coroutines still waiting on the connection go before it does.
  ~Victim() { s.v.reactor.shutdown(); }

  // Options on every peer segment: a fresh timestamp when they were negotiated.
  TcpOptions opts();
  // A pure ACK of everything we sent, offering `wnd`.
  void ack(std::uint16_t wnd = 65535);
  // The app writes `data` with Nagle off and it leaves at once; returns whether the write went
  // in. The segments stay in the device's sent list (drain() them to "lose" them).
  bool write_now(std::span<const std::byte> data);

  void drain() {
    while (s.next_sent()) {
    }
  }
  // Reads what the application has been given within the current instant (at most n bytes).
  std::shared_ptr<ReadState> read(std::size_t n);
  // The peer acknowledges everything coronet sends (offering `wnd`), and advances time when it
  // sends nothing, until `n` new bytes from our_nxt have arrived; returns them in order. Copies
  // (retransmissions, probes) count once. *max_seg / *min_seg: the largest and smallest data
  // payload seen.
  std::vector<std::byte> receive(std::size_t n, std::uint16_t wnd = 65535,
                                 std::size_t* max_seg = nullptr, std::size_t* min_seg = nullptr);

  // The survival check: a payload from the peer reaches the application exactly, a write by the
  // application leaves exactly once in one segment at SND.NXT, and the connection stays
  // ESTABLISHED.
  void check_alive(const std::string& tag);

  TcpScript s;
  Connection conn;
  std::uint32_t peer_nxt = 1001;
  std::uint32_t our_nxt = 0;
  bool ts_on = false;
  std::uint32_t peer_ts = 100;
  std::uint32_t our_ts = 0;
};

// "EVIL": data an attack tries to slip in at RCV.NXT. Had it been taken, the victim's next read
// would start with it.
const std::vector<std::byte>& evil();

// evil() at the victim's RCV.NXT, acknowledging SND.NXT: raw TCP bytes, correct checksum.
std::vector<std::byte> evil_segment(const Victim& v);

}  // namespace coronet::testing::hostile
