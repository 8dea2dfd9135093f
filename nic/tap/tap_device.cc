#include "nic/tap/tap_device.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "nic/tap/tap_steering.h"
#include "nic/tap/tap_uring.h"

namespace coronet::nic {
namespace {

constexpr std::uint32_t kEtherHeader = 14;
constexpr std::uint16_t kMinMtu = 68;  // RFC 791: every IPv4 host must take 68-byte datagrams
// TAP frames are bounded by the 64 KiB skb limit; the scratch buffer must hold any of them whole.
constexpr std::size_t kScratchSize = 65536;

std::string errno_text(int err) { return std::strerror(err); }

Error open_error(const std::string& what, int err, const std::string& hint) {
  std::string detail = what + ": " + errno_text(err);
  if (!hint.empty()) detail += " (" + hint + ")";
  return Error(errc_from_errno(err), std::move(detail));
}

// Checks the name before the kernel sees it, so the error says what is wrong instead of EINVAL.
Result<void> check_ifname(const std::string& name) {
  if (name.size() >= IFNAMSIZ) {
    return Error(Errc::kInvalidArgument,
                 "TAP interface name \"" + name + "\" is too long: " + std::to_string(name.size()) +
                     " bytes, the kernel allows at most " + std::to_string(IFNAMSIZ - 1));
  }
  // Linux's dev_valid_name(): no '/', ':' or white space, not "." or "..".
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n') {
      return Error(Errc::kInvalidArgument, "TAP interface name \"" + name +
                                               "\" is invalid: it may not contain '/', ':' or "
                                               "white space");
    }
  }
  if (name == "." || name == "..") {
    return Error(Errc::kInvalidArgument, "TAP interface name \"" + name + "\" is invalid");
  }
  return {};
}

// `queue` > 0: attaching one more queue to the interface that queue 0 created or found.
Error tunsetiff_error(const std::string& name, int err, std::uint16_t queue, bool multi_queue) {
  const std::string what = queue == 0 ? "creating TAP interface \"" + name + "\" (TUNSETIFF)"
                                      : "attaching queue " + std::to_string(queue) +
                                            " to TAP interface \"" + name +
                                            "\" (TUNSETIFF, IFF_MULTI_QUEUE)";
  switch (err) {
    case EPERM:
    case EACCES:
      return open_error(what, err, "needs CAP_NET_ADMIN: run as root");
    case EBUSY:
      return open_error(what, err,
                        "interface busy: another process (or a closing io_uring) has it attached");
    case EINVAL:
      return open_error(what, err,
                        multi_queue ? "an interface of that name may already exist and not be a "
                                      "TAP device, or be a single-queue TAP"
                                    : "an interface of that name may already exist and not be a "
                                      "TAP device");
    default:
      return open_error(what, err, "");
  }
}

// Owns a file descriptor until release().
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.release()) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

// Opens the tun clone device; the error explains the usual causes.
Result<Fd> open_clone_device(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (fd.fd >= 0) return fd;
  const int err = errno;
  const std::string what = "opening " + path;
  if (err == ENOENT || err == ENODEV || err == ENXIO) {
    return open_error(what, err,
                      "the tun/tap driver is missing: load the tun module or, in a container, "
                      "pass the device through (mknod /dev/net/tun c 10 200)");
  }
  if (err == EACCES || err == EPERM) return open_error(what, err, "run as root");
  return open_error(what, err, "");
}

}  // namespace

const char* io_mode_name(IoMode mode) { return mode == IoMode::kUring ? "uring" : "readv"; }

Result<std::unique_ptr<TapDevice>> TapDevice::open(TapConfig config) {
  if (auto r = check_ifname(config.ifname); !r) return r.error();
  if (config.mtu < kMinMtu) {
    return Error(Errc::kInvalidArgument,
                 "TAP mtu " + std::to_string(config.mtu) + " is below the IPv4 minimum of 68");
  }
  const std::uint32_t max_frame = std::uint32_t{config.mtu} + kEtherHeader;
  if (config.pool.buffer_size < config.pool.headroom ||
      config.pool.buffer_size - config.pool.headroom < max_frame) {
    return Error(Errc::kInvalidArgument,
                 "TAP pool buffers hold " +
                     std::to_string(config.pool.buffer_size - config.pool.headroom) +
                     " bytes after headroom, a frame of mtu " + std::to_string(config.mtu) +
                     " needs " + std::to_string(max_frame));
  }
  if (config.pool.count == 0) return Error(Errc::kInvalidArgument, "TAP pool has no packets");
  if (config.queues == 0 || config.queues > kMaxQueues) {
    return Error(Errc::kInvalidArgument,
                 "TAP queues = " + std::to_string(config.queues) + " is out of range: 1 to " +
                     std::to_string(kMaxQueues) + " (one fd, pool and RSS share per queue)");
  }
  if (config.io == IoMode::kUring && (config.uring_rx_depth == 0 || config.uring_tx_depth == 0 ||
                                      config.uring_rx_depth >= config.pool.count)) {
    return Error(Errc::kInvalidArgument,
                 "TAP io_uring depths must be non-zero and uring_rx_depth (" +
                     std::to_string(config.uring_rx_depth) +
                     ") below the pool size, which the in-flight reads draw from");
  }

  // IFF_NO_PI: frames start at the Ethernet header, no 4-byte packet-info prefix. No
  // IFF_VNET_HDR: we ask the kernel for no offloads. IFF_MULTI_QUEUE: each TUNSETIFF of the same
  // name on a fresh clone fd attaches one more queue, in order (tun's queue index = our index).
  const bool multi_queue = config.queues > 1;
  const short flags = static_cast<short>(IFF_TAP | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0));
  std::vector<Fd> fds;
  fds.reserve(config.queues);
  std::string name = config.ifname;
  for (std::uint16_t q = 0; q < config.queues; ++q) {
    Result<Fd> fd = open_clone_device(config.device_path);
    if (!fd) return fd.error();
    ifreq ifr{};
    ifr.ifr_flags = flags;
    // Queue 0 may have let the kernel choose the name; the others attach to that name.
    std::memcpy(ifr.ifr_name, name.data(), name.size());
    if (::ioctl(fd->fd, TUNSETIFF, &ifr) != 0) {
      return tunsetiff_error(name, errno, q, multi_queue);
    }
    if (q == 0) name.assign(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
    fds.push_back(std::move(*fd));
  }

  if (multi_queue) {
    if (auto r = install_rss_steering(fds[0].fd, name, config.rss_key, config.queues); !r) {
      return r.error();
    }
  }

  // Interface ioctls go through a socket, which must live in the TAP's namespace: the calling
  // thread's, now.
  Fd ctl(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (ctl.fd < 0) return open_error("socket(AF_INET) for interface control", errno, "");

  std::vector<int> raw_fds;
  for (Fd& fd : fds) raw_fds.push_back(fd.release());
  std::unique_ptr<TapDevice> dev(
      new TapDevice(std::move(config), std::move(raw_fds), ctl.release(), std::move(name)));
  if (dev->io_ == IoMode::kUring) {
    for (auto& q : dev->queues_) {
      auto u = Uring::create(*dev, *q);
      if (!u) return u.error();
      q->uring = std::move(*u);
    }
  }
  return Result<std::unique_ptr<TapDevice>>(std::move(dev));
}

TapDevice::TapDevice(TapConfig config, std::vector<int> fds, int ctl_fd, std::string name)
    : io_(config.io),
      ctl_fd_(ctl_fd),
      max_frame_(std::uint32_t{config.mtu} + kEtherHeader),
      uring_rx_depth_(config.uring_rx_depth),
      uring_tx_depth_(config.uring_tx_depth),
      rss_key_(config.rss_key) {
  info_.name = std::move(name);
  info_.mac = config.mac;
  info_.mtu = config.mtu;
  const auto count = static_cast<std::uint16_t>(fds.size());
  info_.rx_queues = count;
  info_.tx_queues = count;
  info_.offloads.rss = count > 1;  // the steering program is installed exactly then
  const bool default_name = config.pool.name == PacketPoolConfig{}.name;
  const std::string pool_name = default_name ? "tap:" + info_.name : config.pool.name;
  queues_.reserve(count);
  for (std::uint16_t i = 0; i < count; ++i) {
    auto q = std::make_unique<Queue>();
    q->fd = fds[i];
    PacketPoolConfig pc = config.pool;
    pc.name = count > 1 ? pool_name + ":q" + std::to_string(i) : pool_name;
    q->pool = std::make_unique<PacketPool>(pc);
    q->scratch.resize(kScratchSize);
    queues_.push_back(std::move(q));
  }
}

TapDevice::~TapDevice() {
  for (auto& q : queues_) {
    // The ring goes first: its in-flight reads hold pool packets and point into scratch.
    q->uring.reset();
    if (q->fd >= 0) ::close(q->fd);
    q->fd = -1;
  }
  if (ctl_fd_ >= 0) ::close(ctl_fd_);
}

Result<void> TapDevice::bring_up() {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, info_.name.data(), info_.name.size());
  if (::ioctl(ctl_fd_, SIOCGIFFLAGS, &ifr) != 0) {
    return open_error("reading flags of " + info_.name + " (SIOCGIFFLAGS)", errno, "");
  }
  if (ifr.ifr_flags & IFF_UP) return {};
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(ctl_fd_, SIOCSIFFLAGS, &ifr) != 0) {
    int err = errno;
    return open_error("bringing " + info_.name + " up (SIOCSIFFLAGS)", err,
                      err == EPERM ? "needs CAP_NET_ADMIN: run as root" : "");
  }
  return {};
}

LinkState TapDevice::link() const {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, info_.name.data(), info_.name.size());
  if (::ioctl(ctl_fd_, SIOCGIFFLAGS, &ifr) != 0) return LinkState::kDown;
  const bool up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
  return up ? LinkState::kUp : LinkState::kDown;
}

std::size_t TapDevice::rx_burst(std::uint16_t queue, std::span<Packet*> out) {
  Queue* q = queue_at(queue);
  if (q == nullptr || out.empty()) return 0;
  return q->uring ? q->uring->rx_burst(out) : rx_burst_readv(*q, out);
}

std::size_t TapDevice::tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) {
  Queue* q = queue_at(queue);
  if (q == nullptr || pkts.empty()) return 0;
  return q->uring ? q->uring->tx_burst(pkts) : tx_burst_writev(*q, pkts);
}

std::size_t TapDevice::rx_burst_readv(Queue& q, std::span<Packet*> out) {
  std::size_t n = 0;
  // Every frame read counts against the burst, delivered or not, so one call does bounded work.
  for (std::size_t budget = out.size(); budget > 0; --budget) {
    Packet* p = q.pool->alloc();
    std::array<iovec, 2> iov;
    std::size_t iovcnt;
    if (p != nullptr) {
      iov[0] = {p->data(), max_frame_};
      iov[1] = {q.scratch.data(), q.scratch.size()};
      iovcnt = 2;
    } else {
      // Pool exhausted: consume the frame anyway so the kernel queue keeps moving.
      iov[0] = {q.scratch.data(), q.scratch.size()};
      iovcnt = 1;
    }
    ssize_t r;
    do {
      r = ::readv(q.fd, iov.data(), static_cast<int>(iovcnt));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      const int err = errno;
      if (p != nullptr) PacketPool::free(p);
      if (err != EAGAIN) ++q.rx.errors;  // e.g. EBADFD once the interface is gone
      break;
    }
    if (p == nullptr) {
      ++q.rx.drops;
      continue;
    }
    const auto len = static_cast<std::uint32_t>(r);
    if (len > max_frame_ || len < kEtherHeader) {
      ++q.rx.errors;  // oversize (seen whole thanks to the scratch iovec) or a runt
      PacketPool::free(p);
      continue;
    }
    p->append(len);
    ++q.rx.packets;
    q.rx.bytes += len;
    out[n++] = p;
  }
  return n;
}

std::size_t TapDevice::gather(const Packet& p, std::span<iovec> iov) {
  std::size_t k = 0;
  for (const Packet* s = &p; s != nullptr; s = s->next()) {
    if (s->size() == 0) continue;
    if (k == iov.size()) return 0;
    iov[k++] = {const_cast<std::byte*>(s->data()), s->size()};
  }
  return k;
}

std::size_t TapDevice::tx_burst_writev(Queue& q, std::span<Packet* const> pkts) {
  std::size_t taken = 0;
  for (; taken < pkts.size(); ++taken) {
    Packet* p = pkts[taken];
    const std::size_t len = p->chain_size();
    std::array<iovec, kMaxTxSegments> iov;
    const std::size_t iovcnt = gather(*p, iov);
    if (len > max_frame_ || len < kEtherHeader || iovcnt == 0) {
      ++q.tx.errors;  // refused whole: TAP would otherwise send a truncated or bogus frame
      PacketPool::free(p);
      continue;
    }
    ssize_t r;
    do {
      r = ::writev(q.fd, iov.data(), static_cast<int>(iovcnt));
    } while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) break;  // back-pressure: caller keeps it
    if (r < 0) {
      // EIO: the interface is down, the kernel refuses the frame. Anything else is an error.
      if (errno == EIO) {
        ++q.tx.drops;
      } else {
        ++q.tx.errors;
      }
    } else if (static_cast<std::size_t>(r) != len) {
      ++q.tx.errors;
    } else {
      ++q.tx.packets;
      q.tx.bytes += len;
    }
    PacketPool::free(p);
  }
  return taken;
}

QueueStats TapDevice::rx_stats(std::uint16_t queue) const {
  const Queue* q = queue_at(queue);
  return q != nullptr ? q->rx : QueueStats{};
}
QueueStats TapDevice::tx_stats(std::uint16_t queue) const {
  const Queue* q = queue_at(queue);
  return q != nullptr ? q->tx : QueueStats{};
}

PacketPool& TapDevice::pool(std::uint16_t queue) {
  Queue* q = queue_at(queue);
  if (q == nullptr) {
    const std::size_t n = queues_.size();
    throw std::out_of_range("TapDevice " + info_.name + " has " + std::to_string(n) +
                            (n == 1 ? " queue" : " queues") + ", asked for queue " +
                            std::to_string(queue));
  }
  return *q->pool;
}

int TapDevice::rx_fd(std::uint16_t queue) const {
  const Queue* q = queue_at(queue);
  if (q == nullptr) return -1;
  return q->uring ? q->uring->rx_fd() : q->fd;
}

}  // namespace coronet::nic
