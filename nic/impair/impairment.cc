#include "nic/impair/impairment.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "nic/packet_pool.h"

namespace coronet::nic {
namespace {

void check_probability(const char* name, double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw std::invalid_argument(std::string("ImpairmentConfig: ") + name + " = " +
                                std::to_string(p) + " is not a probability in [0, 1]");
  }
}

const ImpairmentConfig& validated(const ImpairmentConfig& c) {
  check_probability("loss", c.loss);
  check_probability("duplicate", c.duplicate);
  check_probability("reorder", c.reorder);
  check_probability("corrupt", c.corrupt);
  if (c.queue_limit == 0) throw std::invalid_argument("ImpairmentConfig: queue_limit is 0");
  if (c.delay.count() < 0 || c.jitter.count() < 0 || c.reorder_timeout.count() < 0) {
    throw std::invalid_argument("ImpairmentConfig: negative delay, jitter or reorder_timeout");
  }
  return c;
}

}  // namespace

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t q) {
  if (q == 0) return seed;
  // splitmix64 finaliser: neighbouring queue numbers give unrelated generator states.
  std::uint64_t z = seed + q * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Impairer::Impairer(const ImpairmentConfig& config)
    : config_(validated(config)),
      rng_(config.seed),
      loss_t_(DecisionRng::threshold(config.loss)),
      duplicate_t_(DecisionRng::threshold(config.duplicate)),
      reorder_t_(config.reorder_depth > 0 ? DecisionRng::threshold(config.reorder) : 0),
      corrupt_t_(DecisionRng::threshold(config.corrupt)),
      fifo_(config.queue_limit) {
  held_.reserve(config.queue_limit);
}

Impairer::~Impairer() { flush(); }

coro::Duration Impairer::serialisation_time(std::size_t bytes) const {
  // Rounded up so that a limited link is never faster than configured.
  const unsigned __int128 bits_ns = static_cast<unsigned __int128>(bytes) * 8u * 1'000'000'000u;
  return coro::Duration(
      static_cast<std::int64_t>((bits_ns + config_.bandwidth_bps - 1) / config_.bandwidth_bps));
}

Packet* Impairer::flip_random_bit(Packet* p) {
  const std::size_t bits = p->chain_size() * 8;
  if (bits == 0) return p;  // nothing to corrupt; not counted
  // Transmit buffers may be shared: a view shows the sender's own copy of the data (TCP's send
  // buffer), which must not change with "the wire". Corrupt a private copy instead.
  bool shared = false;
  for (const Packet* s = p; s != nullptr; s = s->next()) {
    shared = shared || s->view_base() != nullptr || s->refs() > 1;
  }
  if (shared) {
    Packet* copy = p->pool() != nullptr ? p->pool()->clone(*p) : nullptr;
    if (copy == nullptr) {
      ++stats_.corrupt_failed;
      return p;
    }
    PacketPool::free(p);
    p = copy;
  }
  // Checksums the device was asked to fill would be computed over the damaged bytes, hiding
  // the damage: a frame hit on the wire fails its checksum, so the requests are dropped.
  p->meta.flags &= ~(offload::kTxIpv4Csum | offload::kTxTcpCsum | offload::kTxUdpCsum);
  std::uint64_t bit = rng_.below(bits);
  for (Packet* s = p; s != nullptr; s = s->next()) {
    const std::uint64_t seg_bits = static_cast<std::uint64_t>(s->size()) * 8;
    if (bit < seg_bits) {
      s->data()[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
      break;
    }
    bit -= seg_bits;
  }
  ++stats_.corrupted;
  return p;
}

Impairer::Verdict Impairer::submit(Packet* p, coro::TimePoint now) {
  ++stats_.submitted;
  if (loss_t_ != 0 && rng_.chance(loss_t_)) {
    ++stats_.dropped;
    PacketPool::free(p);
    return Verdict::kLost;
  }
  if (corrupt_t_ != 0 && rng_.chance(corrupt_t_)) p = flip_random_bit(p);
  Packet* copy = nullptr;
  if (duplicate_t_ != 0 && rng_.chance(duplicate_t_)) {
    copy = p->pool() != nullptr ? p->pool()->clone(*p) : nullptr;
    if (copy != nullptr) {
      ++stats_.duplicated;
    } else {
      ++stats_.duplicate_failed;
    }
  }
  const Verdict v = enqueue(p, now);
  if (copy != nullptr) enqueue(copy, now);  // the copy's own overflow is counted, not reported
  return v;
}

Impairer::Verdict Impairer::enqueue(Packet* p, coro::TimePoint now) {
  if (queued() >= config_.queue_limit) {
    ++stats_.queue_overflow;
    PacketPool::free(p);
    return Verdict::kOverflow;
  }
  coro::TimePoint departs = now;
  if (config_.bandwidth_bps != 0) {
    // The frame starts when the previous one has left and departs when its last bit has.
    link_free_ = std::max(link_free_, now) + serialisation_time(p->chain_size());
    departs = link_free_;
  }
  coro::TimePoint at = departs + config_.delay;
  if (config_.jitter.count() > 0) {
    const auto j = static_cast<std::uint64_t>(config_.jitter.count());
    at += coro::Duration(static_cast<std::int64_t>(rng_.below(2 * j + 1)) -
                         static_cast<std::int64_t>(j));
    if (at < departs) at = departs;  // latency is never negative
  }
  if (at < last_at_) at = last_at_;  // jitter must not reorder (see header)
  last_at_ = at;
  if (at > now) ++stats_.delayed;

  if (reorder_t_ != 0 && rng_.chance(reorder_t_)) {
    const auto overtakers = static_cast<std::uint32_t>(1 + rng_.below(config_.reorder_depth));
    held_.push_back(Held{p, at, at + config_.reorder_timeout, overtakers, 0});
    return Verdict::kQueued;
  }
  // Held frames whose wait ends before this one arrives leave first: it does not overtake them.
  while (!held_.empty() && held_.front().deadline < at) expire_front();
  push_fifo(p, at);
  overtake_held(held_.size());
  return Verdict::kQueued;
}

void Impairer::push_fifo(Packet* p, coro::TimePoint at) {
  // Cannot fail: new frames were checked against queue_limit, and a held frame moving here
  // already counted toward queued().
  fifo_.push(Delivery{p, at});
  fifo_back_at_ = at;
}

void Impairer::overtake_held(std::size_t n) {
  // The frame that just entered the FIFO overtook held_[0..n), all submitted before it.
  for (std::size_t i = 0; i < n; ++i) {
    ++held_[i].overtaken;
    --held_[i].remaining;
  }
  // A frame overtaken often enough goes right behind the last one that passed it. Earliest first:
  // it then overtakes the held frames submitted before it (and only those), which may free them.
  for (;;) {
    std::size_t i = 0;
    while (i < held_.size() && held_[i].remaining != 0) ++i;
    if (i == held_.size()) return;
    const Held h = held_[i];
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
    ++stats_.reordered;
    push_fifo(h.packet, std::max(h.at, fifo_back_at_));
    for (std::size_t j = 0; j < i; ++j) {
      ++held_[j].overtaken;
      --held_[j].remaining;
    }
  }
}

void Impairer::expire_front() {
  // held_ is in submission order and due times never decrease, so its front has the earliest
  // deadline, and every FIFO entry is due by then: appending keeps the FIFO sorted.
  const Held h = held_.front();
  held_.erase(held_.begin());
  if (h.overtaken > 0) ++stats_.reordered;
  push_fifo(h.packet, std::max(h.deadline, fifo_back_at_));
}

std::size_t Impairer::release(coro::TimePoint now, std::span<Delivery> out) {
  while (!held_.empty() && held_.front().deadline <= now) expire_front();
  std::size_t n = 0;
  while (n < out.size() && !fifo_.empty() && fifo_.front().at <= now) {
    out[n++] = fifo_.front();
    fifo_.pop();
  }
  stats_.released += n;
  return n;
}

std::optional<coro::TimePoint> Impairer::next_release() const {
  std::optional<coro::TimePoint> next;
  if (!fifo_.empty()) next = fifo_.front().at;
  // Only the front of held_ can expire first (see expire_front).
  if (!held_.empty() && (!next || held_.front().deadline < *next)) next = held_.front().deadline;
  return next;
}

std::size_t Impairer::flush() {
  std::size_t n = 0;
  while (!fifo_.empty()) {
    PacketPool::free(fifo_.front().packet);
    fifo_.pop();
    ++n;
  }
  for (const Held& h : held_) PacketPool::free(h.packet);
  n += held_.size();
  held_.clear();
  stats_.flushed += n;
  return n;
}

}  // namespace coronet::nic
