#include "nic/wire/wire.h"

#include <array>
#include <cstring>
#include <stdexcept>

namespace coronet::nic {
namespace {

constexpr std::uint32_t kEthernetHeader = 14;
constexpr std::size_t kPullBurst = 64;  // arrivals moved per Impairer::release() call

std::uint64_t since_epoch_ns(coro::TimePoint t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// Copies a frame (any chain) into packets from `pool`, chaining only when one buffer is too small.
// Null (nothing leaked) when the pool runs out.
Packet* copy_frame(const Packet& src, PacketPool& pool) {
  Packet* head = pool.alloc();
  if (head == nullptr) return nullptr;
  Packet* cur = head;
  for (const Packet* s = &src; s != nullptr; s = s->next()) {
    std::span<const std::byte> rest = s->bytes();
    while (!rest.empty()) {
      if (cur->tailroom() == 0) {
        Packet* more = pool.alloc();
        if (more == nullptr) {
          PacketPool::free(head);
          return nullptr;
        }
        cur->set_next(more);
        cur = more;
      }
      const std::size_t k = std::min<std::size_t>(cur->tailroom(), rest.size());
      std::memcpy(cur->append(static_cast<std::uint32_t>(k)), rest.data(), k);
      rest = rest.subspan(k);
    }
  }
  return head;
}

}  // namespace

WireDevice::WireDevice(coro::Clock& clock, WireEndConfig config)
    : clock_(clock), config_(std::move(config)), out_(config_.tx_impairment) {
  if (config_.queues == 0) throw std::invalid_argument("WireDevice " + config_.name + ": 0 queues");
  info_.name = config_.name;
  info_.mac = config_.mac;
  info_.mtu = config_.mtu;
  info_.rx_queues = config_.queues;
  info_.tx_queues = config_.queues;
  for (std::uint16_t q = 0; q < config_.queues; ++q) {
    PacketPoolConfig pc = config_.pool;
    pc.name = config_.name + "-rx" + std::to_string(q);
    pools_.push_back(std::make_unique<PacketPool>(pc));
    rx_rings_.emplace_back(config_.rx_ring_size);
  }
  rx_stats_.resize(config_.queues);
  tx_stats_.resize(config_.queues);
}

WireDevice::~WireDevice() {
  out_.flush();
  for (auto& ring : rx_rings_) {
    while (!ring.empty()) {
      PacketPool::free(ring.front());
      ring.pop();
    }
  }
}

LinkState WireDevice::link() const {
  return admin_ == LinkState::kUp && peer_ != nullptr && peer_->admin_ == LinkState::kUp
             ? LinkState::kUp
             : LinkState::kDown;
}

void WireDevice::set_link(LinkState state) {
  const bool was_up = link() == LinkState::kUp;
  admin_ = state;
  if (was_up && link() == LinkState::kDown) {
    // The cable is cut: whatever was on it is gone, in both directions.
    stats_.lost_link_down += out_.flush();
    if (peer_ != nullptr) peer_->stats_.lost_link_down += peer_->out_.flush();
  }
}

std::size_t WireDevice::tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) {
  if (queue >= config_.queues) return 0;
  QueueStats& qs = tx_stats_[queue];
  const bool up = link() == LinkState::kUp;
  const coro::TimePoint now = clock_.now();
  const std::size_t max_frame = std::size_t{config_.mtu} + kEthernetHeader;
  for (Packet* p : pkts) {
    const std::size_t size = p->chain_size();
    if (!up) {
      ++qs.drops;
      ++stats_.tx_link_down;
      PacketPool::free(p);
      continue;
    }
    if (size > max_frame) {
      ++qs.errors;
      ++stats_.tx_oversize;
      PacketPool::free(p);
      continue;
    }
    if (out_.submit(p, now) == Impairer::Verdict::kOverflow) {
      ++qs.drops;
      ++stats_.tx_in_flight_full;
      continue;
    }
    // Frames lost by impairment did leave the port: they count as sent.
    ++qs.packets;
    qs.bytes += size;
  }
  return pkts.size();
}

void WireDevice::deliver(const Impairer::Delivery& d) {
  Steering s;
  if (steer_) s = steer_(*d.packet, config_.queues);
  if (s.all_queues) {
    for (std::uint16_t q = 0; q < config_.queues; ++q) deliver_to(*d.packet, q, s.rss_hash, d.at);
  } else {
    deliver_to(*d.packet, static_cast<std::uint16_t>(s.queue % config_.queues), s.rss_hash, d.at);
  }
  PacketPool::free(d.packet);  // the sender's buffer: its "tx descriptor" completes on arrival
}

void WireDevice::deliver_to(const Packet& frame, std::uint16_t q,
                            std::optional<std::uint32_t> hash, coro::TimePoint at) {
  QueueStats& qs = rx_stats_[q];
  const std::size_t size = frame.chain_size();
  if (rx_rings_[q].full()) {
    ++qs.drops;
    ++stats_.rx_ring_full;
    return;
  }
  Packet* copy = copy_frame(frame, *pools_[q]);
  if (copy == nullptr) {
    ++qs.drops;
    ++stats_.rx_no_buffer;
    return;
  }
  copy->meta.queue = q;
  copy->meta.timestamp_ns = since_epoch_ns(at);
  if (hash) {
    copy->meta.flags |= offload::kRssHashValid;
    copy->meta.rss_hash = *hash;
  }
  rx_rings_[q].push(copy);
  ++qs.packets;
  qs.bytes += size;
}

void WireDevice::pull_arrivals(coro::TimePoint now) {
  if (link() != LinkState::kUp) return;  // nothing is in flight while the link is down
  std::array<Impairer::Delivery, kPullBurst> due;
  for (;;) {
    const std::size_t n = peer_->out_.release(now, due);
    for (std::size_t i = 0; i < n; ++i) deliver(due[i]);
    if (n < due.size()) break;
  }
}

std::size_t WireDevice::rx_burst(std::uint16_t queue, std::span<Packet*> out) {
  if (queue >= config_.queues) return 0;
  pull_arrivals(clock_.now());
  return rx_rings_[queue].pop_n(out);
}

QueueStats WireDevice::rx_stats(std::uint16_t queue) const {
  return queue < rx_stats_.size() ? rx_stats_[queue] : QueueStats{};
}

QueueStats WireDevice::tx_stats(std::uint16_t queue) const {
  return queue < tx_stats_.size() ? tx_stats_[queue] : QueueStats{};
}

PacketPool& WireDevice::pool(std::uint16_t queue) {
  return *pools_[queue < pools_.size() ? queue : 0];
}

std::optional<coro::TimePoint> WireDevice::next_rx_time(std::uint16_t queue) const {
  if (queue >= config_.queues) return std::nullopt;
  if (!rx_rings_[queue].empty()) return clock_.now();
  if (link() != LinkState::kUp) return std::nullopt;
  return peer_->out_.next_release();
}

Wire::Wire(coro::Clock& clock, WireEndConfig a, WireEndConfig b)
    : clock_(clock),
      a_(new WireDevice(clock, std::move(a))),
      b_(new WireDevice(clock, std::move(b))) {
  a_->peer_ = b_.get();
  b_->peer_ = a_.get();
}

Wire::~Wire() {
  // Frames in flight may come from either end's pools (a test can send b's buffers from a):
  // free them all before either end, and so either set of pools, goes away.
  a_->out_.flush();
  b_->out_.flush();
}

}  // namespace coronet::nic
