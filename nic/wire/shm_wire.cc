#include "nic/wire/shm_wire.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

namespace coronet::nic {
namespace {

using internal::kShmSlotBytes;
using internal::kShmSlotStride;
using internal::ShmRingLayout;

constexpr std::uint64_t kMagic = 0x31657269576d6853ull;  // "ShmWire1"
constexpr std::uint32_t kVersion = 2;  // 2: queues
constexpr std::uint32_t kEthernetHeader = 14;

// First cache line of the region: identifies it to attach().
struct RegionHeader {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t slots;
  std::uint64_t size;
  std::uint32_t queues;
};

// Rings of one direction, indexed [src * queues + dst] (sending tx queue, receiving rx queue).
struct RegionLayout {
  std::vector<ShmRingLayout> ab;  // a sends, b receives
  std::vector<ShmRingLayout> ba;
  std::size_t size = 0;
};

constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

RegionLayout layout_for(std::uint32_t slots, std::uint16_t queues) {
  RegionLayout l;
  const std::size_t rings = std::size_t{queues} * queues;
  l.ab.resize(rings);
  l.ba.resize(rings);
  std::size_t off = internal::kIndexSpacing;  // RegionHeader, padded to the indices' alignment
  for (auto* dir : {&l.ab, &l.ba}) {
    for (ShmRingLayout& r : *dir) {
      r.indices = off;
      off += sizeof(internal::ShmRingIndices);
    }
  }
  const std::size_t lengths =
      round_up(std::size_t{slots} * sizeof(std::uint32_t), internal::kIndexSpacing);
  for (auto* dir : {&l.ab, &l.ba}) {
    for (ShmRingLayout& r : *dir) {
      r.lengths = off;
      off += lengths;
    }
  }
  off = round_up(off, 4096);  // slots start on a page: nothing else shares their lines
  for (auto* dir : {&l.ab, &l.ba}) {
    for (ShmRingLayout& r : *dir) {
      r.slots = off;
      off += std::size_t{slots} * kShmSlotStride;
    }
  }
  l.size = round_up(off, 4096);
  return l;
}

Error sys_error(const char* what) {
  return Error(Errc::kResourceExhausted,
               std::string("ShmWire: ") + what + ": " + std::strerror(errno));
}

bool power_of_two(std::uint32_t n) { return n != 0 && (n & (n - 1)) == 0; }

Result<void> check_config(const ShmWireConfig& config) {
  if (config.queues == 0 || config.queues > 64) {
    return Error(Errc::kInvalidArgument, "ShmWire " + config.name + ": queues " +
                                             std::to_string(config.queues) + " is not 1-64");
  }
  if (std::uint32_t{config.mtu} + kEthernetHeader > kShmSlotBytes) {
    return Error(Errc::kInvalidArgument, "ShmWire " + config.name + ": mtu " +
                                             std::to_string(config.mtu) + " exceeds a slot");
  }
  return {};
}

}  // namespace

ShmWireDevice::ShmWireDevice(const ShmWireConfig& config, const std::string& side,
                             const MacAddress& mac, std::vector<internal::ShmRingProducer> tx,
                             std::vector<internal::ShmRingConsumer> rx, SteeringFn peer_steer)
    : max_frame_(std::uint32_t{config.mtu} + kEthernetHeader),
      n_(config.queues),
      peer_steer_(std::move(peer_steer)),
      queues_(config.queues),
      peer_notify_(config.queues) {
  info_.name = config.name + "-" + side;
  info_.mac = mac;
  info_.mtu = config.mtu;
  info_.rx_queues = info_.tx_queues = n_;
  for (std::uint16_t q = 0; q < n_; ++q) {
    Queue& qu = queues_[q];
    PacketPoolConfig pc = config.pool;
    pc.name = config.name + "-" + side + "-rx" + (n_ > 1 ? std::to_string(q) : "");
    qu.pool = std::make_unique<PacketPool>(pc);
    for (std::uint16_t o = 0; o < n_; ++o) {
      qu.tx.push_back(tx[std::size_t{q} * n_ + o]);  // our queue q into their queue o
      qu.rx.push_back(rx[std::size_t{o} * n_ + q]);  // their queue o into our queue q
    }
  }
}

std::size_t ShmWireDevice::tx_one_ring(std::uint16_t queue, std::span<Packet* const> pkts) {
  Queue& qu = queues_[queue];
  internal::ShmRingProducer& tx = qu.tx[queue];
  const auto want = static_cast<std::uint32_t>(pkts.size());
  const std::uint32_t free = tx.reserve(want);
  const std::uint32_t n = free < want ? free : want;
  std::uint32_t filled = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const Packet* p = pkts[i];
    const std::size_t len = p->next() == nullptr ? p->size() : p->chain_size();
    if (len > max_frame_) {
      ++qu.tx_stats.errors;  // taken and dropped: no slot used
      continue;
    }
    std::byte* slot = tx.slot(filled);
    if (p->next() == nullptr) {
      std::memcpy(slot, p->data(), len);
    } else {
      p->copy_out(std::span(slot, len));
    }
    tx.set_length(filled, static_cast<std::uint32_t>(len));
    ++filled;
    qu.tx_stats.bytes += len;
  }
  tx.publish(filled);  // one release store for the whole burst
  if (filled > 0 && peer_notify_[queue]) peer_notify_[queue]();
  qu.tx_stats.packets += filled;
  qu.tx_stats.drops += pkts.size() - n;  // refused (ring full); still the caller's
  PacketPool::free_bulk(pkts.first(n));
  return n;
}

std::size_t ShmWireDevice::tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) {
  if (queue >= n_ || pkts.empty()) return 0;
  // Without steering every frame goes to the peer's queue of the same index: one ring.
  if (!peer_steer_) return tx_one_ring(queue, pkts);
  Queue& qu = queues_[queue];
  // Frames are steered one by one, but each ring is published once for the burst.
  std::array<std::uint32_t, 64> filled{};
  std::size_t taken = 0;
  for (; taken < pkts.size(); ++taken) {
    Packet* p = pkts[taken];
    const std::size_t len = p->next() == nullptr ? p->size() : p->chain_size();
    if (len > max_frame_) {
      ++qu.tx_stats.errors;
      continue;
    }
    const Steering st = peer_steer_(*p, n_);
    const std::uint16_t first = st.all_queues ? 0 : static_cast<std::uint16_t>(st.queue % n_);
    const std::uint16_t last = st.all_queues ? n_ : static_cast<std::uint16_t>(first + 1);
    // A unicast frame that finds its ring full stops the burst (the rest stays the caller's);
    // a copy to every queue skips full rings (counted) rather than hold the others up.
    if (!st.all_queues && qu.tx[first].reserve(filled[first] + 1) <= filled[first]) break;
    for (std::uint16_t d = first; d < last; ++d) {
      internal::ShmRingProducer& tx = qu.tx[d];
      if (tx.reserve(filled[d] + 1) <= filled[d]) {
        ++qu.tx_stats.drops;
        continue;
      }
      std::byte* slot = tx.slot(filled[d]);
      if (p->next() == nullptr) {
        std::memcpy(slot, p->data(), len);
      } else {
        p->copy_out(std::span(slot, len));
      }
      tx.set_length(filled[d], static_cast<std::uint32_t>(len));
      ++filled[d];
      ++qu.tx_stats.packets;
      qu.tx_stats.bytes += len;
    }
  }
  for (std::uint16_t d = 0; d < n_; ++d) {
    qu.tx[d].publish(filled[d]);
    if (filled[d] > 0 && peer_notify_[d]) peer_notify_[d]();
  }
  qu.tx_stats.drops += pkts.size() - taken;
  PacketPool::free_bulk(pkts.first(taken));
  return taken;
}

std::size_t ShmWireDevice::rx_burst(std::uint16_t queue, std::span<Packet*> out) {
  if (queue >= n_ || out.empty()) return 0;
  Queue& qu = queues_[queue];
  std::size_t k = 0;  // frames delivered into out[0..k)
  // Every ring into this queue, starting from a different one each time (fairness).
  for (std::uint16_t r = 0; r < n_ && k < out.size(); ++r) {
    internal::ShmRingConsumer& rx = qu.rx[(qu.rx_next + r) % n_];
    const auto want = static_cast<std::uint32_t>(out.size() - k);
    const std::uint32_t avail = rx.available(want);
    const std::uint32_t n = avail < want ? avail : want;
    if (n == 0) continue;
    std::span<Packet*> dst = out.subspan(k, n);
    const std::size_t bufs = qu.pool->alloc_bulk(dst);
    std::size_t got = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t len = rx.length(i);
      if (got == bufs) {
        ++qu.rx_stats.drops;  // pool exhausted: the frame is lost, its slot freed anyway
        continue;
      }
      // The length word comes from the other side of a shared mapping: check it before use.
      std::byte* d = len <= kShmSlotBytes ? dst[got]->append(len) : nullptr;
      if (d == nullptr) {
        ++qu.rx_stats.errors;  // bad length, or larger than this pool's buffers
        continue;
      }
      std::memcpy(d, rx.slot(i), len);
      qu.rx_stats.bytes += len;
      ++got;
    }
    rx.consume(n);  // one release store for the whole burst
    qu.rx_stats.packets += got;
    PacketPool::free_bulk(dst.subspan(got, bufs - got));  // buffers left by dropped frames
    k += got;
  }
  if (n_ > 1) qu.rx_next = static_cast<std::uint16_t>((qu.rx_next + 1) % n_);
  return k;
}

QueueStats ShmWireDevice::rx_stats(std::uint16_t queue) const {
  return queue < n_ ? queues_[queue].rx_stats : QueueStats{};
}

QueueStats ShmWireDevice::tx_stats(std::uint16_t queue) const {
  return queue < n_ ? queues_[queue].tx_stats : QueueStats{};
}

ShmWire::ShmWire(int fd, std::byte* base, std::size_t size, std::uint32_t slots,
                 std::uint16_t queues, const ShmWireConfig& config)
    : fd_(fd), base_(base), size_(size), slots_(slots), queues_(queues) {
  const RegionLayout l = layout_for(slots, queues);
  auto producers = [&](const std::vector<ShmRingLayout>& dir) {
    std::vector<internal::ShmRingProducer> v;
    for (const ShmRingLayout& r : dir) v.emplace_back(base, r, slots);
    return v;
  };
  auto consumers = [&](const std::vector<ShmRingLayout>& dir) {
    std::vector<internal::ShmRingConsumer> v;
    for (const ShmRingLayout& r : dir) v.emplace_back(base, r, slots);
    return v;
  };
  ShmWireConfig c = config;
  c.queues = queues;
  try {
    a_.reset(new ShmWireDevice(c, "a", config.mac_a, producers(l.ab), consumers(l.ba),
                               config.steer_b));
    b_.reset(new ShmWireDevice(c, "b", config.mac_b, producers(l.ba), consumers(l.ab),
                               config.steer_a));
  } catch (...) {
    // A bad pool configuration throws (a start-up error); do not leak the mapping with it.
    a_.reset();
    ::munmap(base_, size_);
    ::close(fd_);
    throw;
  }
}

void ShmWire::set_rx_notify(ShmWireDevice& receiver, std::uint16_t queue,
                            std::function<void()> fn) {
  ShmWireDevice& sender = &receiver == a_.get() ? *b_ : *a_;
  if (queue < sender.peer_notify_.size()) sender.peer_notify_[queue] = std::move(fn);
}

ShmWire::~ShmWire() {
  a_.reset();
  b_.reset();
  ::munmap(base_, size_);
  ::close(fd_);
}

Result<std::unique_ptr<ShmWire>> ShmWire::create(const ShmWireConfig& config) {
  if (!power_of_two(config.slots)) {
    return Error(Errc::kInvalidArgument, "ShmWire " + config.name + ": slots " +
                                             std::to_string(config.slots) +
                                             " is not a power of two");
  }
  if (auto ok = check_config(config); !ok) return ok.error();
  const RegionLayout l = layout_for(config.slots, config.queues);
  const int fd = ::memfd_create(("coronet-" + config.name).c_str(), MFD_CLOEXEC);
  if (fd < 0) return sys_error("memfd_create");
  if (::ftruncate(fd, static_cast<off_t>(l.size)) != 0) {
    Error e = sys_error("ftruncate");
    ::close(fd);
    return e;
  }
  void* m = ::mmap(nullptr, l.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (m == MAP_FAILED) {
    Error e = sys_error("mmap");
    ::close(fd);
    return e;
  }
  auto* base = static_cast<std::byte*>(m);
  // The fresh memfd is zero-filled; construct the index objects formally all the same.
  for (auto* dir : {&l.ab, &l.ba}) {
    for (const ShmRingLayout& r : *dir) new (base + r.indices) internal::ShmRingIndices{};
  }
  auto* h = new (base) RegionHeader{};
  h->version = kVersion;
  h->slots = config.slots;
  h->size = l.size;
  h->queues = config.queues;
  h->magic = kMagic;
  return std::unique_ptr<ShmWire>(
      new ShmWire(fd, base, l.size, config.slots, config.queues, config));
}

Result<std::unique_ptr<ShmWire>> ShmWire::attach(int fd, const ShmWireConfig& config) {
  if (auto ok = check_config(config); !ok) return ok.error();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return sys_error("fstat");
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < sizeof(RegionHeader)) {
    return Error(Errc::kInvalidArgument, "ShmWire: fd " + std::to_string(fd) + " is too small");
  }
  const int own = ::dup(fd);
  if (own < 0) return sys_error("dup");
  void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, own, 0);
  if (m == MAP_FAILED) {
    Error e = sys_error("mmap");
    ::close(own);
    return e;
  }
  auto* base = static_cast<std::byte*>(m);
  const auto* h = reinterpret_cast<const RegionHeader*>(base);
  if (h->magic != kMagic || h->version != kVersion || !power_of_two(h->slots) || h->size != size ||
      h->queues == 0 || h->queues > 64 ||
      layout_for(h->slots, static_cast<std::uint16_t>(h->queues)).size != size) {
    ::munmap(m, size);
    ::close(own);
    return Error(Errc::kInvalidArgument,
                 "ShmWire: fd " + std::to_string(fd) + " does not hold a ShmWire region");
  }
  return std::unique_ptr<ShmWire>(
      new ShmWire(own, base, size, h->slots, static_cast<std::uint16_t>(h->queues), config));
}

}  // namespace coronet::nic
