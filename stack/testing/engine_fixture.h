// EngineFixture: one Engine on a FakeDevice and a virtual-time reactor, for tests written as
// "a few frames in, frames out" (testonly).
#pragma once

#include <cstdint>
#include <vector>

#include "coro/testing.h"
#include "nic/ether_addr.h"
#include "stack/engine.h"
#include "stack/testing/fake_device.h"
#include "stack/testing/frames.h"

namespace coronet::stack::testing {

inline constexpr nic::MacAddress kOurMac({0x02, 0, 0, 0, 0, 0x01});
inline constexpr nic::MacAddress kPeerMac({0x02, 0, 0, 0, 0, 0x02});
inline constexpr nic::MacAddress kGatewayMac({0x02, 0, 0, 0, 0, 0xfe});
inline constexpr nic::MacAddress kOtherMac({0x02, 0, 0, 0, 0, 0x33});
inline constexpr Ipv4Address kOurIp(10, 0, 0, 1);
inline constexpr Ipv4Address kPeerIp(10, 0, 0, 2);
inline constexpr Ipv4Address kGatewayIp(10, 0, 0, 254);
inline constexpr Ipv4Address kSubnetBroadcast(10, 0, 0, 255);
inline constexpr Ipv4Address kRemoteIp(192, 0, 2, 7);  // off-link (TEST-NET-1)

// Our engine's defaults in tests: 10.0.0.1/24, gateway .254, no announcement at start.
inline EngineConfig test_config() {
  EngineConfig c;
  c.address = kOurIp;
  c.prefix_len = 24;
  c.gateway = kGatewayIp;
  c.announce_on_start = false;
  return c;
}

inline FakeDeviceConfig test_device(nic::MacAddress mac = kOurMac) {
  FakeDeviceConfig d;
  d.mac = mac;
  return d;
}

struct EngineFixture {
  explicit EngineFixture(EngineConfig config = test_config(),
                         FakeDeviceConfig device = test_device())
      : dev(device), engine(vr.reactor, dev, config) {}

  // Injects a frame and runs one poll (rx burst, layers, tx flush).
  void rx(std::span<const std::byte> frame, std::uint32_t rx_flags = 0) {
    dev.inject(frame, rx_flags);
    engine.poll();
  }
  // Everything transmitted so far (pending frames flushed first).
  std::vector<FakeDevice::Sent> sent() {
    engine.flush_tx();
    return dev.take_sent();
  }
  // Runs the reactor for `d` of virtual time: time jumps from one deadline to the next, so every
  // timer fires at its own time (and re-armed timers fire again within `d`); frames they queue
  // are flushed by the following poll.
  void advance(coro::Duration d) {
    const coro::TimePoint target = vr.clock.now() + d;
    vr.reactor.block_on(
        [](coro::TimePoint t) -> coro::Task<void> { (void)co_await coro::sleep_until(t); }(target));
    vr.drain();
  }
  // Teaches the engine `mac` for `ip` with an ARP request aimed at us; discards the reply.
  void learn(Ipv4Address ip, nic::MacAddress mac) {
    rx(eth(kOurMac, mac, kEthArp, arp(1, mac, ip, nic::MacAddress(), kOurIp)));
    (void)sent();
  }
  // A UDP datagram from `from` to us, as a whole frame.
  static Bytes udp_frame(Ipv4Address from, std::uint16_t src_port, std::uint16_t dst_port,
                         std::span<const std::byte> payload, nic::MacAddress src_mac = kPeerMac,
                         UdpSum sum = UdpSum::kCorrect) {
    Ip ip{.src = from, .dst = kOurIp, .protocol = 17};
    return eth(kOurMac, src_mac, kEthIpv4,
               ipv4(ip, udp(from, kOurIp, src_port, dst_port, payload, sum)));
  }
  std::uint32_t buffers_in_use() { return dev.pool(0).stats().in_use; }

  coro::testing::VirtualReactor vr;
  FakeDevice dev;
  Engine engine;
};

}  // namespace coronet::stack::testing
