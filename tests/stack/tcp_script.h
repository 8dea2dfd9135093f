// A scripted single-endpoint bench for TCP (in the spirit of packetdrill, written for coronet):
// the test injects hand-built segments from a fake peer and inspects exactly what coronet sends,
// on virtual time. The fake device answers ARP for the peer by itself.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "coro/testing.h"
#include "nic/device.h"
#include "stack/engine.h"
#include "stack/tcp/header.h"
#include "stack/tcp/socket.h"
#include "stack/tcp/tcp_layer.h"

namespace coronet::testing {

// A Device whose rx queue the test fills and whose tx the test reads.
class ScriptDevice final : public nic::Device {
 public:
  // `buffers`: the pool's packet count (fuzz targets build a bench per input: a small pool).
  explicit ScriptDevice(std::uint32_t buffers = 4096);
  const nic::DeviceInfo& info() const override { return info_; }
  nic::LinkState link() const override { return nic::LinkState::kUp; }
  std::size_t rx_burst(std::uint16_t, std::span<nic::Packet*> out) override;
  std::size_t tx_burst(std::uint16_t, std::span<nic::Packet* const> pkts) override;
  nic::QueueStats rx_stats(std::uint16_t) const override { return {}; }
  nic::QueueStats tx_stats(std::uint16_t) const override { return {}; }
  nic::PacketPool& pool(std::uint16_t) override { return pool_; }

  void inject(std::span<const std::byte> frame);
  std::deque<std::vector<std::byte>> sent;  // frames coronet transmitted (ARP answered here)

  static constexpr nic::MacAddress kOurMac{{0x02, 0, 0, 0, 0, 0x02}};
  static constexpr nic::MacAddress kPeerMac{{0x02, 0, 0, 0, 0, 0x01}};

 private:
  nic::DeviceInfo info_;
  nic::PacketPool pool_;
  std::deque<nic::Packet*> rx_;
};

// One segment, as sent or expected.
struct Seg {
  std::uint8_t flags = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint16_t window = 65535;
  std::vector<std::byte> payload = {};
  stack::tcp::TcpOptions options = {};
  bool corrupt_checksum = false;
  std::uint16_t src_port = 0;  // 0: TcpScript::kPeerPort
};

class TcpScript {
 public:
  static constexpr stack::Ipv4Address kOurAddr{198, 18, 0, 2};
  static constexpr stack::Ipv4Address kPeerAddr{198, 18, 0, 1};
  static constexpr std::uint16_t kPeerPort = 40000;

  explicit TcpScript(stack::tcp::TcpConfig config = {}, std::uint32_t device_buffers = 4096);
  ~TcpScript() { v.reactor.shutdown(); }

  // Sends `s` from the peer (kPeerAddr:kPeerPort) to our `port`, then runs the stack until idle.
  void send(const Seg& s, std::uint16_t port);
  // Sends raw TCP bytes (header included) from the peer, for malformed-segment tests.
  void send_raw_tcp(std::span<const std::byte> tcp_bytes);
  // Runs reactor iterations until nothing is runnable (time does not move).
  void settle();
  // Advances virtual time by d, firing timers, then settles.
  void advance(coro::Duration d);
  // The next TCP segment coronet sent (parsed), or nullopt. ARP frames are skipped.
  std::optional<stack::tcp::TcpHeader> next_sent(std::vector<std::byte>* payload = nullptr);
  std::size_t pending_sent();

  // Opens `port` for listening and completes a handshake from the peer (ISN 1000); returns the
  // accepted connection and our ISS.
  struct Established {
    stack::tcp::Connection conn;
    std::uint32_t our_iss = 0;
  };
  Established establish(std::uint16_t port, stack::tcp::TcpOptions syn_options = {});

  coro::testing::VirtualReactor v;
  ScriptDevice dev;
  stack::Engine engine;
  stack::tcp::TcpLayer tcp;
  std::optional<stack::tcp::Listener> listener;
};

std::vector<std::byte> bytes_of(std::string_view s);

// Options of a peer SYN offering MSS 1460, SACK and RFC 7323 timestamps (TSval `ts_val`).
stack::tcp::TcpOptions ts_sack_options(std::uint32_t ts_val);
// Just a timestamp option.
stack::tcp::TcpOptions ts(std::uint32_t val, std::uint32_t ecr);

// A connection accepted on `port` from a peer that offered timestamps and SACK (TSval 100 on
// its SYN and ACK): both are on. `iss` is our ISS, `our_ts` the TSval on our SYN-ACK. The ACK
// of the handshake comes `rtt` after the SYN-ACK (the first RTT sample).
struct NegotiatedConnection {
  explicit NegotiatedConnection(stack::tcp::TcpConfig cfg = {}, std::uint16_t port = 80,
                                coro::Duration rtt = {});
  TcpScript s;
  std::optional<stack::tcp::TcpHeader> synack;
  std::uint32_t iss = 0;
  std::uint32_t our_ts = 0;
  stack::tcp::Connection conn;
};

}  // namespace coronet::testing
