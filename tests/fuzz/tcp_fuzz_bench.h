// The bench the TCP fuzz targets share: one coronet engine on virtual time (TcpScript) with a
// connection driven into a chosen state by a scripted peer, a model of what that peer knows
// (its next sequence number, what it acknowledged, our last timestamp), and the frame
// fix-ups that keep mutated input aimed at the connection. Built fresh for every input, small
// (a 512-packet pool, 16 KiB buffers) and deterministic (TcpConfig::deterministic_keys).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stack/tcp/socket.h"
#include "tests/stack/tcp_script.h"

namespace coronet::testing::fuzz {

// Where the connection is when the fuzz input starts acting on it.
enum class Scenario : std::uint8_t {
  kListen,           // a listener only; the input's frames may open connections
  kSynSent,          // our connect() sent a SYN
  kSynReceived,      // the peer's SYN was answered with a SYN-ACK
  kEstablished,      // timestamps and SACK agreed, idle
  kEstablishedBusy,  // our data in flight, a receive island, SACK blocks on the scoreboard
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
  kCount,
};
const char* scenario_name(Scenario s);

stack::tcp::TcpConfig fuzz_tcp_config();

// Deterministic stream content: byte `i` of the peer's stream (checked when the app reads).
inline std::byte peer_byte(std::uint64_t i) {
  return static_cast<std::byte>((i * 131 + (i >> 8) * 7 + 17) & 0xff);
}

class Bench {
 public:
  static constexpr std::uint16_t kListenPort = 80;
  static constexpr std::uint16_t kActivePort = 5000;
  static constexpr std::uint32_t kPeerIsn = 1000;

  explicit Bench(Scenario scenario);
  ~Bench();
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  TcpScript s;
  stack::tcp::Connection conn;  // invalid in kListen (and kSynSent until the SYN-ACK arrives)
  Result<stack::tcp::Connection> active = Error(Errc::kCancelled);  // kSynSent's connect()
  bool active_done = false;
  std::uint16_t our_port = kListenPort;

  // The peer's side of the connection.
  std::uint32_t peer_isn = kPeerIsn;
  std::uint32_t peer_nxt = kPeerIsn + 1;  // next sequence number the peer sends
  std::uint32_t peer_sent_max = kPeerIsn + 1;  // highest sequence the peer ever sent, + 1
  std::uint32_t our_iss = 0;
  std::uint32_t our_max = 0;    // highest sequence number (+ length) we were seen sending
  std::uint32_t our_ts = 0;     // TSval on our last segment (the peer echoes it)
  std::uint32_t peer_ts = 100;  // the peer's timestamp clock
  bool ts_on = false;

  // Reads every frame coronet sent into the peer model and drops it.
  void absorb_sent();
  // A segment from the peer to our port (checksum right), then settles and absorbs.
  void peer_send(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack,
                 std::span<const std::byte> payload, std::uint16_t window = 65535,
                 const stack::tcp::TcpOptions* options = nullptr);
  // The peer's stream bytes [offset, offset + n) (offset from peer_isn + 1).
  std::vector<std::byte> peer_data(std::uint32_t offset, std::size_t n) const;
  // A frame as is (at most 2048 bytes: longer ones are cut), then settles and absorbs.
  void inject_frame(std::span<const std::byte> frame);
  // Lets `d` of virtual time pass, firing timers at their deadlines, then absorbs.
  void run_for(coro::Duration d);
  // Invariants of the layer (tests/fuzz/tcp_invariants.h); aborts with a message on a violation.
  void check(const char* after);
  // The end of an input: the app drops its handles and the listener, 30 minutes pass; then no
  // connection may be left (every one closed, timed out or was reset) and every buffer must be
  // back: receive memory, send chunks and views, device packets. Aborts otherwise.
  void finish();
  // The app reads what is readable now (without waiting); with `verify`, checks it against
  // peer_byte() (when the peer only ever sends its true stream).
  void read_now(bool verify = true);
  std::uint64_t app_read = 0;  // bytes the app read so far

 private:
  void setup(Scenario scenario);
};

// Aborts the process with a message: a fuzz finding.
[[noreturn]] void fail(const std::string& what);

}  // namespace coronet::testing::fuzz
