// FakeDevice: a std::vector/deque-backed nic::Device for stack tests (testonly).
//
// Tests inject received frames (copied into packets from the device's own pool, with the rx
// offload flags they choose) and take the frames the stack transmitted (copied out as bytes;
// the packets go back to their pool). Two fake devices can be connected into a link: frames
// sent by one are received by the other, optionally dropped by a filter. Transmit offloads the
// device advertises are emulated (IPv4 header and TCP/UDP checksums filled in), so what a test
// reads is what a wire would carry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nic/device.h"
#include "nic/packet.h"
#include "nic/packet_pool.h"

namespace coronet::stack::testing {

struct FakeDeviceConfig {
  std::string name = "fake";
  nic::MacAddress mac{};
  std::uint16_t mtu = 1500;
  nic::Offloads offloads{};
  nic::PacketPoolConfig pool{.name = "fake", .count = 512, .buffer_size = 2048, .headroom = 128};
};

class FakeDevice final : public nic::Device {
 public:
  explicit FakeDevice(FakeDeviceConfig config = {});
  ~FakeDevice() override;

  const nic::DeviceInfo& info() const override { return info_; }
  nic::LinkState link() const override { return nic::LinkState::kUp; }
  std::size_t rx_burst(std::uint16_t queue, std::span<nic::Packet*> out) override;
  std::size_t tx_burst(std::uint16_t queue, std::span<nic::Packet* const> pkts) override;
  nic::QueueStats rx_stats(std::uint16_t) const override { return rx_stats_; }
  nic::QueueStats tx_stats(std::uint16_t) const override { return tx_stats_; }
  nic::PacketPool& pool(std::uint16_t) override { return pool_; }
  // "Now" (the epoch) while frames wait: a virtual-time reactor polls again instead of jumping.
  std::optional<coro::TimePoint> next_rx_time(std::uint16_t) const override;

  // Queues a received frame. False when the pool is empty or the frame does not fit a buffer.
  bool inject(std::span<const std::byte> frame, std::uint32_t rx_flags = 0);
  std::size_t rx_pending() const { return rx_.size(); }

  struct Sent {
    std::vector<std::byte> bytes;  // the whole frame (chains linearised, offloads applied)
    nic::PacketMeta meta;          // as the stack set it
    std::size_t segments = 1;
  };
  // Frames transmitted since the last call (not recorded while connected unless record_sent).
  std::vector<Sent> take_sent();

  // At most `n` frames accepted per tx_burst (nullopt: all), to test refusal.
  void set_tx_limit(std::optional<std::size_t> n) { tx_limit_ = n; }
  // Frames sent from now on go to `peer`'s receive queue (and vice versa).
  static void connect(FakeDevice& a, FakeDevice& b);
  // While connected: frames for which `drop` returns true are lost on the wire (counted).
  void set_drop_filter(std::function<bool(std::span<const std::byte>)> drop) {
    drop_ = std::move(drop);
  }
  void set_record_sent(bool on) { record_sent_ = on; }
  std::uint64_t wire_drops() const { return wire_drops_; }
  std::uint64_t tx_bursts() const { return tx_bursts_; }  // non-empty tx_burst calls

 private:
  void emulate_tx_offloads(std::vector<std::byte>& frame, const nic::PacketMeta& meta) const;

  nic::DeviceInfo info_;
  nic::PacketPool pool_;
  std::deque<nic::Packet*> rx_;
  std::vector<Sent> sent_;
  nic::QueueStats rx_stats_;
  nic::QueueStats tx_stats_;
  std::optional<std::size_t> tx_limit_;
  FakeDevice* peer_ = nullptr;
  std::function<bool(std::span<const std::byte>)> drop_;
  bool record_sent_ = true;
  std::uint64_t wire_drops_ = 0;
  std::uint64_t tx_bursts_ = 0;
};

}  // namespace coronet::stack::testing
