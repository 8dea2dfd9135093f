#include "stack/testing/fake_device.h"

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"

namespace coronet::stack::testing {

FakeDevice::FakeDevice(FakeDeviceConfig config) : pool_(config.pool) {
  info_.name = config.name;
  info_.mac = config.mac;
  info_.mtu = config.mtu;
  info_.offloads = config.offloads;
}

FakeDevice::~FakeDevice() {
  for (nic::Packet* p : rx_) nic::PacketPool::free(p);
  if (peer_ != nullptr) peer_->peer_ = nullptr;
}

std::optional<coro::TimePoint> FakeDevice::next_rx_time(std::uint16_t) const {
  if (rx_.empty()) return std::nullopt;
  return coro::TimePoint{};
}

bool FakeDevice::inject(std::span<const std::byte> frame, std::uint32_t rx_flags) {
  nic::Packet* p = pool_.alloc();
  if (p == nullptr) {
    ++rx_stats_.drops;
    return false;
  }
  if (!p->append_bytes(frame)) {
    nic::PacketPool::free(p);
    ++rx_stats_.errors;
    return false;
  }
  p->meta.flags = rx_flags;
  rx_.push_back(p);
  return true;
}

std::size_t FakeDevice::rx_burst(std::uint16_t, std::span<nic::Packet*> out) {
  std::size_t n = 0;
  while (n < out.size() && !rx_.empty()) {
    out[n] = rx_.front();
    rx_.pop_front();
    ++rx_stats_.packets;
    rx_stats_.bytes += out[n]->chain_size();
    ++n;
  }
  return n;
}

std::size_t FakeDevice::tx_burst(std::uint16_t, std::span<nic::Packet* const> pkts) {
  std::size_t n = pkts.size();
  if (n > 0) ++tx_bursts_;
  if (tx_limit_ && *tx_limit_ < n) {
    tx_stats_.drops += n - *tx_limit_;
    n = *tx_limit_;
  }
  for (std::size_t i = 0; i < n; ++i) {
    nic::Packet* p = pkts[i];
    Sent s;
    s.bytes.resize(p->chain_size());
    p->copy_out(s.bytes);
    s.meta = p->meta;
    s.segments = p->chain_segments();
    nic::PacketPool::free(p);
    emulate_tx_offloads(s.bytes, s.meta);
    ++tx_stats_.packets;
    tx_stats_.bytes += s.bytes.size();
    if (peer_ != nullptr) {
      if (drop_ && drop_(s.bytes)) {
        ++wire_drops_;
      } else {
        peer_->inject(s.bytes);
      }
    }
    if (peer_ == nullptr || record_sent_) sent_.push_back(std::move(s));
  }
  return n;
}

std::vector<FakeDevice::Sent> FakeDevice::take_sent() {
  std::vector<Sent> out;
  out.swap(sent_);
  return out;
}

void FakeDevice::connect(FakeDevice& a, FakeDevice& b) {
  a.peer_ = &b;
  b.peer_ = &a;
  a.record_sent_ = false;
  b.record_sent_ = false;
}

void FakeDevice::emulate_tx_offloads(std::vector<std::byte>& f, const nic::PacketMeta& m) const {
  const std::size_t l3 = m.l2_len;
  if ((m.flags & nic::offload::kTxIpv4Csum) != 0 && f.size() >= l3 + 20) {
    const std::size_t hlen = (static_cast<std::uint8_t>(f[l3]) & 0x0f) * 4u;
    store_be16(&f[l3 + 10], 0);
    store_be16(&f[l3 + 10], internet_checksum(std::span<const std::byte>(&f[l3], hlen)));
  }
  const bool udp = (m.flags & nic::offload::kTxUdpCsum) != 0;
  const bool tcp = (m.flags & nic::offload::kTxTcpCsum) != 0;
  if ((udp || tcp) && f.size() > l3 + m.l3_len) {
    // The field holds the pseudo-header sum: summing the segment over it completes the sum.
    const std::size_t l4 = l3 + m.l3_len;
    const std::size_t field = l4 + (udp ? 6 : 16);
    if (field + 2 > f.size()) return;
    std::uint16_t sum = internet_checksum(std::span<const std::byte>(&f[l4], f.size() - l4));
    if (udp && sum == 0) sum = 0xffff;
    store_be16(&f[field], sum);
  }
}

}  // namespace coronet::stack::testing
