#include "nic/wire/shm_wire.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace coronet::nic {
namespace {

using internal::kShmSlotBytes;
using internal::kShmSlotStride;
using internal::ShmRingLayout;

constexpr std::uint64_t kMagic = 0x31657269576d6853ull;  // "ShmWire1"
constexpr std::uint32_t kVersion = 1;
constexpr std::uint32_t kEthernetHeader = 14;

// First cache line of the region: identifies it to attach().
struct RegionHeader {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t slots;
  std::uint64_t size;
};

struct RegionLayout {
  ShmRingLayout ab;  // a sends, b receives
  ShmRingLayout ba;
  std::size_t size;
};

constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

RegionLayout layout_for(std::uint32_t slots) {
  RegionLayout l{};
  std::size_t off = internal::kIndexSpacing;  // RegionHeader, padded to the indices' alignment
  l.ab.indices = off;
  off += sizeof(internal::ShmRingIndices);
  l.ba.indices = off;
  off += sizeof(internal::ShmRingIndices);
  const std::size_t lengths =
      round_up(std::size_t{slots} * sizeof(std::uint32_t), internal::kIndexSpacing);
  l.ab.lengths = off;
  off += lengths;
  l.ba.lengths = off;
  off += lengths;
  off = round_up(off, 4096);  // slots start on a page: nothing else shares their lines
  l.ab.slots = off;
  off += std::size_t{slots} * kShmSlotStride;
  l.ba.slots = off;
  off += std::size_t{slots} * kShmSlotStride;
  l.size = round_up(off, 4096);
  return l;
}

Error sys_error(const char* what) {
  return Error(Errc::kResourceExhausted,
               std::string("ShmWire: ") + what + ": " + std::strerror(errno));
}

bool power_of_two(std::uint32_t n) { return n != 0 && (n & (n - 1)) == 0; }

Result<void> check_config(const ShmWireConfig& config) {
  if (std::uint32_t{config.mtu} + kEthernetHeader > kShmSlotBytes) {
    return Error(Errc::kInvalidArgument, "ShmWire " + config.name + ": mtu " +
                                             std::to_string(config.mtu) + " exceeds a slot");
  }
  return {};
}

}  // namespace

ShmWireDevice::ShmWireDevice(const ShmWireConfig& config, const std::string& side,
                             const MacAddress& mac, internal::ShmRingProducer tx,
                             internal::ShmRingConsumer rx)
    : max_frame_(std::uint32_t{config.mtu} + kEthernetHeader),
      pool_([&] {
        PacketPoolConfig pc = config.pool;
        pc.name = config.name + "-" + side + "-rx";
        return pc;
      }()),
      tx_(tx),
      rx_(rx) {
  info_.name = config.name + "-" + side;
  info_.mac = mac;
  info_.mtu = config.mtu;
}

std::size_t ShmWireDevice::tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) {
  if (queue != 0 || pkts.empty()) return 0;
  const auto want = static_cast<std::uint32_t>(pkts.size());
  const std::uint32_t free = tx_.reserve(want);
  const std::uint32_t n = free < want ? free : want;
  std::uint32_t filled = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const Packet* p = pkts[i];
    const std::size_t len = p->next() == nullptr ? p->size() : p->chain_size();
    if (len > max_frame_) {
      ++tx_stats_.errors;  // taken and dropped: no slot used
      continue;
    }
    std::byte* slot = tx_.slot(filled);
    if (p->next() == nullptr) {
      std::memcpy(slot, p->data(), len);
    } else {
      p->copy_out(std::span(slot, len));
    }
    tx_.set_length(filled, static_cast<std::uint32_t>(len));
    ++filled;
    tx_stats_.bytes += len;
  }
  tx_.publish(filled);  // one release store for the whole burst
  tx_stats_.packets += filled;
  tx_stats_.drops += pkts.size() - n;  // refused (ring full); still the caller's
  PacketPool::free_bulk(pkts.first(n));
  return n;
}

std::size_t ShmWireDevice::rx_burst(std::uint16_t queue, std::span<Packet*> out) {
  if (queue != 0 || out.empty()) return 0;
  const auto want = static_cast<std::uint32_t>(out.size());
  const std::uint32_t avail = rx_.available(want);
  const std::uint32_t n = avail < want ? avail : want;
  if (n == 0) return 0;
  const std::size_t bufs = pool_.alloc_bulk(out.first(n));
  std::size_t k = 0;  // frames delivered into out[0..k)
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t len = rx_.length(i);
    if (k == bufs) {
      ++rx_stats_.drops;  // pool exhausted: the frame is lost, its slot freed anyway
      continue;
    }
    // The length word comes from the other side of a shared mapping: check it before use.
    std::byte* dst = len <= kShmSlotBytes ? out[k]->append(len) : nullptr;
    if (dst == nullptr) {
      ++rx_stats_.errors;  // bad length, or larger than this pool's buffers
      continue;
    }
    std::memcpy(dst, rx_.slot(i), len);
    rx_stats_.bytes += len;
    ++k;
  }
  rx_.consume(n);  // one release store for the whole burst
  rx_stats_.packets += k;
  PacketPool::free_bulk(out.subspan(k, bufs - k));  // buffers left over by dropped frames
  return k;
}

QueueStats ShmWireDevice::rx_stats(std::uint16_t queue) const {
  return queue == 0 ? rx_stats_ : QueueStats{};
}

QueueStats ShmWireDevice::tx_stats(std::uint16_t queue) const {
  return queue == 0 ? tx_stats_ : QueueStats{};
}

ShmWire::ShmWire(int fd, std::byte* base, std::size_t size, std::uint32_t slots,
                 const ShmWireConfig& config)
    : fd_(fd), base_(base), size_(size), slots_(slots) {
  const RegionLayout l = layout_for(slots);
  try {
    a_.reset(new ShmWireDevice(config, "a", config.mac_a,
                               internal::ShmRingProducer(base, l.ab, slots),
                               internal::ShmRingConsumer(base, l.ba, slots)));
    b_.reset(new ShmWireDevice(config, "b", config.mac_b,
                               internal::ShmRingProducer(base, l.ba, slots),
                               internal::ShmRingConsumer(base, l.ab, slots)));
  } catch (...) {
    // A bad pool configuration throws (a start-up error); do not leak the mapping with it.
    a_.reset();
    ::munmap(base_, size_);
    ::close(fd_);
    throw;
  }
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
  const RegionLayout l = layout_for(config.slots);
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
  new (base + l.ab.indices) internal::ShmRingIndices{};
  new (base + l.ba.indices) internal::ShmRingIndices{};
  auto* h = new (base) RegionHeader{};
  h->version = kVersion;
  h->slots = config.slots;
  h->size = l.size;
  h->magic = kMagic;
  return std::unique_ptr<ShmWire>(new ShmWire(fd, base, l.size, config.slots, config));
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
      layout_for(h->slots).size != size) {
    ::munmap(m, size);
    ::close(own);
    return Error(Errc::kInvalidArgument,
                 "ShmWire: fd " + std::to_string(fd) + " does not hold a ShmWire region");
  }
  return std::unique_ptr<ShmWire>(new ShmWire(own, base, size, h->slots, config));
}

}  // namespace coronet::nic
