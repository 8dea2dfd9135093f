#include "nic/impair/impaired_device.h"

#include <algorithm>
#include <array>

namespace coronet::nic {
namespace {

// Frames moved between an Impairer and the wrapped device per step; also the backlog's size, so
// a refusing device holds back at most this many due frames outside the bounded impairment queue.
constexpr std::size_t kBurst = 32;

std::unique_ptr<Impairer> make_impairer(const ImpairmentConfig& config, std::uint16_t queue) {
  if (!config.active()) return nullptr;
  ImpairmentConfig c = config;
  c.seed = derive_seed(config.seed, queue);
  return std::make_unique<Impairer>(c);
}

std::uint64_t since_epoch_ns(coro::TimePoint t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace

ImpairedDevice::ImpairedDevice(Device& inner, coro::Clock& clock, const ImpairmentConfig& tx,
                               const ImpairmentConfig& rx)
    : inner_(inner), clock_(clock) {
  const DeviceInfo& info = inner_.info();
  tx_.resize(info.tx_queues);
  for (std::uint16_t q = 0; q < info.tx_queues; ++q) {
    tx_[q].impairer = make_impairer(tx, q);
    if (tx_[q].impairer) tx_[q].backlog.reserve(kBurst);
  }
  rx_.resize(info.rx_queues);
  for (std::uint16_t q = 0; q < info.rx_queues; ++q) rx_[q] = make_impairer(rx, q);
}

ImpairedDevice::~ImpairedDevice() {
  for (TxQueue& t : tx_) PacketPool::free_bulk(t.backlog);
  // The Impairers free what they still hold when they are destroyed.
}

std::size_t ImpairedDevice::drain_tx(std::uint16_t queue, coro::TimePoint now) {
  TxQueue& t = tx_[queue];
  if (!t.impairer) return 0;
  std::size_t sent = 0;
  std::array<Impairer::Delivery, kBurst> due;
  for (;;) {
    const std::size_t room = kBurst - t.backlog.size();
    const std::size_t got = t.impairer->release(now, std::span(due.data(), room));
    for (std::size_t i = 0; i < got; ++i) t.backlog.push_back(due[i].packet);
    if (t.backlog.empty()) break;
    const std::size_t n = inner_.tx_burst(queue, t.backlog);
    sent += n;
    t.backlog.erase(t.backlog.begin(), t.backlog.begin() + static_cast<std::ptrdiff_t>(n));
    // The wrapped device is full: keep the rest for the next call rather than spin on it.
    if (!t.backlog.empty()) break;
    if (got < room) break;  // nothing more is due
  }
  return sent;
}

std::size_t ImpairedDevice::tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) {
  if (queue >= tx_.size()) return 0;
  TxQueue& t = tx_[queue];
  if (!t.impairer) return inner_.tx_burst(queue, pkts);
  const coro::TimePoint now = clock_.now();
  for (Packet* p : pkts) t.impairer->submit(p, now);
  drain_tx(queue, now);
  return pkts.size();
}

std::size_t ImpairedDevice::rx_burst(std::uint16_t queue, std::span<Packet*> out) {
  if (queue >= rx_.size()) return 0;
  const coro::TimePoint now = clock_.now();
  if (queue < tx_.size()) drain_tx(queue, now);
  Impairer* imp = rx_[queue].get();
  if (imp == nullptr) return inner_.rx_burst(queue, out);

  // Pull what the wrapped device has (one burst of at most out.size()) into the impairment queue:
  // frames arriving now must be timed from now, whatever the caller's burst size.
  std::array<Packet*, kBurst> fresh;
  std::size_t want = std::min(out.size(), kBurst);
  const std::size_t got = inner_.rx_burst(queue, std::span(fresh.data(), want));
  for (std::size_t i = 0; i < got; ++i) imp->submit(fresh[i], now);

  std::array<Impairer::Delivery, kBurst> due;
  std::size_t n = 0;
  while (n < out.size()) {
    const std::size_t step = std::min(out.size() - n, kBurst);
    const std::size_t k = imp->release(now, std::span(due.data(), step));
    for (std::size_t i = 0; i < k; ++i) {
      due[i].packet->meta.timestamp_ns = since_epoch_ns(due[i].at);
      out[n++] = due[i].packet;
    }
    if (k < step) break;
  }
  return n;
}

std::size_t ImpairedDevice::flush_tx() {
  const coro::TimePoint now = clock_.now();
  std::size_t sent = 0;
  for (std::uint16_t q = 0; q < tx_.size(); ++q) sent += drain_tx(q, now);
  return sent;
}

std::optional<coro::TimePoint> ImpairedDevice::next_rx_time(std::uint16_t queue) const {
  std::optional<coro::TimePoint> next = inner_.next_rx_time(queue);
  auto consider = [&next](std::optional<coro::TimePoint> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  if (queue < rx_.size() && rx_[queue]) consider(rx_[queue]->next_release());
  if (queue < tx_.size() && tx_[queue].impairer) {
    consider(tx_[queue].impairer->next_release());
    if (!tx_[queue].backlog.empty()) consider(clock_.now());
  }
  return next;
}

ImpairmentStats ImpairedDevice::tx_impairment(std::uint16_t queue) const {
  if (queue >= tx_.size() || !tx_[queue].impairer) return {};
  return tx_[queue].impairer->stats();
}

ImpairmentStats ImpairedDevice::rx_impairment(std::uint16_t queue) const {
  if (queue >= rx_.size() || !rx_[queue]) return {};
  return rx_[queue]->stats();
}

}  // namespace coronet::nic
