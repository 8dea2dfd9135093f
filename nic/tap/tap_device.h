// TapDevice: coronet's native Linux TAP backend. One TAP interface with one or more queues, each an
// rx and a tx queue; frames are moved between the kernel and a PacketPool with either plain
// readv/writev syscalls or io_uring.
//
// The kernel side of the interface is left alone (addresses, MTU, MAC: whoever set the interface up
// configures them, e.g. a test with `ip`); the device only brings the link up when asked. Our
// side's MAC (TapConfig::mac) is what the stack above puts into its frames; the kernel's interface
// has its own.
//
// TAP hands over exactly one frame per read() and takes one per write(), so the two I/O modes
// differ in how syscalls are batched:
//  - kReadv: rx_burst() reads frames until EAGAIN or the burst is full (one readv each, plus one
//    that says EAGAIN); tx_burst() does one writev per frame. Idle polling costs one syscall.
//  - kUring: a few reads stay in flight on an io_uring, each into a pool packet; rx_burst()
//    harvests completions, re-arms the reads, and while every read keeps finding a frame sends them
//    straight back, so one burst is not capped at the ring's depth. tx_burst() submits the whole
//    burst with one io_uring_enter and reaps the completions (TAP writes complete inline). Idle
//    polling costs no syscall. The in-flight reads hold `uring_rx_depth` pool packets at all times.
// Measured with 64-byte frames (benchmarks/tap_bench.cc, 2-vCPU VM, CPU time per frame): tx
// ~290 ns readv vs ~305 ns uring; rx from a full queue ~400 ns either way (uring depth 8; deeper is
// slower); one frame at a time, send included, ~0.8 us readv vs 1.2/1.9/4.9 us for uring depth
// 2/8/32, because a frame wakes every read armed on the TAP (io_uring arms non-exclusive polls) and
// all but one retry for nothing; an empty rx_burst() ~165 ns readv vs ~10 ns uring. So: kUring pays
// off only for a busy-polling reactor with mostly idle queues; kReadv is the default (simpler,
// holds no packets).
//
// Multiple queues (TapConfig::queues > 1, at most kMaxQueues): the TAP is opened with
// IFF_MULTI_QUEUE, one /dev/net/tun fd per queue (queue i is the i-th fd attached, which is also
// tun's tx queue index i). Every queue has its own fd, PacketPool (each built from
// TapConfig::pool), scratch buffer, counters and, in kUring mode, its own rings: both I/O modes
// work per queue. The kernel's choice of queue for the frames it sends us is made by an eBPF
// steering program (tap_steering.h) that reproduces coronet's RSS exactly: IPv4 TCP frames go to
// reta().queue_of(Toeplitz(rss_key()).hash(tuple)), everything else (ARP, ICMP, UDP, fragments) to
// queue 0. So each queue's engine receives its own flows, and connect() picks local ports with
// rss::PortSelector built from rss_key() and reta(). Loading the program needs root (CAP_BPF).
// One queue (the default) is the plain TAP: no IFF_MULTI_QUEUE, no steering program.
//
// Frames longer than mtu + 14 are never truncated silently: on tx they are refused (freed, counted
// as tx errors); on rx they are read in full (the overflow into a scratch buffer) and dropped as rx
// errors. When the pool is exhausted the frame is still read from the kernel, into scratch, and
// counted as an rx drop, so the kernel's queue never stalls (kUring keeps one read going to scratch
// while the pool is empty and cancels it at the first rx_burst() after packets come back).
//
// Queue indices out of range are harmless: rx_burst/tx_burst take nothing and return 0, the stats
// are zero, rx_fd() is -1; only pool() throws std::out_of_range (it has nothing to return).
//
// Threading: like every Device queue, one thread at a time per queue; different queues may be used
// from different threads at once (nothing on the data path is shared between queues). Packets
// received from the device must be freed before it is destroyed (they belong to its pools).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "coro/result.h"
#include "nic/device.h"
#include "nic/ether_addr.h"
#include "nic/packet.h"
#include "nic/packet_pool.h"
#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"

namespace coronet::nic {

enum class IoMode : std::uint8_t { kReadv, kUring };

struct TapConfig {
  std::string ifname;  // at most 15 bytes; empty lets the kernel choose ("tap%d")
  MacAddress mac;      // coronet's side of the link
  std::uint16_t mtu = 1500;
  PacketPoolConfig pool;  // per queue; buffer_size - headroom must hold mtu + 14 bytes
  IoMode io = IoMode::kReadv;
  std::uint32_t uring_rx_depth = 8;          // kUring: reads kept in flight (pool packets held)
  std::uint32_t uring_tx_depth = 256;        // kUring: writes that may be in flight at once
  std::string device_path = "/dev/net/tun";  // the tun clone device (tests point it elsewhere)
  // 1..TapDevice::kMaxQueues. Above 1: IFF_MULTI_QUEUE and RSS steering by an eBPF program.
  std::uint16_t queues = 1;
  rss::Key rss_key = rss::kSymmetricKey;  // the steering key when queues > 1
};

class TapDevice final : public Device {
 public:
  // Our limit on TapConfig::queues (tun's own is 256): a queue per core is the intended use.
  static constexpr std::uint16_t kMaxQueues = 64;

  // Opens `device_path`, creates (or attaches to an existing, unattached) TAP interface named
  // `ifname` in the calling thread's network namespace, attaches `queues` queues and, with more
  // than one, installs the RSS steering program; then sets up the I/O mode on every queue. Errors
  // name the interface and the cause with strerror text and a hint: device missing, permission
  // denied, name too long or invalid, interface busy, queue count out of range, steering program
  // refused (with the verifier's log).
  static Result<std::unique_ptr<TapDevice>> open(TapConfig config);
  ~TapDevice() override;
  TapDevice(const TapDevice&) = delete;
  TapDevice& operator=(const TapDevice&) = delete;

  // Sets IFF_UP on the kernel interface (SIOCSIFFLAGS); nothing else on the kernel side.
  Result<void> bring_up();
  const std::string& ifname() const { return info_.name; }
  IoMode io_mode() const { return io_; }

  const DeviceInfo& info() const override { return info_; }
  // kUp when the kernel interface is up and running (carrier on); one ioctl per call.
  LinkState link() const override;
  // Frames come whole, Ethernet header first, no FCS. Counted per queue: packets/bytes delivered,
  // drops (pool exhausted), errors (oversize or runt frames, read errors).
  std::size_t rx_burst(std::uint16_t queue, std::span<Packet*> out) override;
  // Packets taken are sent or freed: sent ones count as packets/bytes, frames the kernel refuses
  // (interface down) as drops, oversize/runt/over-segmented frames and write errors as errors.
  // Only back-pressure (EAGAIN/ENOBUFS, or kUring writes still in flight) leaves packets with the
  // caller.
  std::size_t tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) override;
  QueueStats rx_stats(std::uint16_t queue) const override;
  QueueStats tx_stats(std::uint16_t queue) const override;
  PacketPool& pool(std::uint16_t queue) override;
  // kReadv: the TAP fd. kUring: the rx ring's fd, readable when read completions are pending.
  int rx_fd(std::uint16_t queue) const override;

  // The key the kernel's steering hashes with (TapConfig::rss_key).
  const rss::Key& rss_key() const { return rss_key_; }
  // The redirection table the kernel's steering applies: round_robin(queues, 128). With one queue
  // every entry names queue 0, which is where every frame arrives.
  rss::Reta reta() const {
    return rss::Reta::round_robin(info_.rx_queues, rss::Reta::kDefaultSize);
  }

  // Largest frame accepted either way: mtu + 14 (Ethernet header, no FCS, no VLAN tag).
  std::uint32_t max_frame() const { return max_frame_; }
  // A tx frame may be a chain of at most this many non-empty segments (one iovec each).
  static constexpr std::size_t kMaxTxSegments = 16;

 private:
  class Uring;  // tap_uring.h: nested, so it reaches the queue state directly

  // Everything one queue's data path touches, owned by the thread using the queue. Aligned to a
  // cache line so that two queues' counters never share one.
  struct alignas(64) Queue {
    int fd = -1;  // the TAP file (this queue's attachment)
    std::unique_ptr<PacketPool> pool;
    // Receives the overflow of frames longer than max_frame_ (so they are seen whole and refused)
    // and whole frames when the pool is exhausted. Contents are never looked at.
    std::vector<std::byte> scratch;
    std::unique_ptr<Uring> uring;
    QueueStats rx{};
    QueueStats tx{};
  };

  TapDevice(TapConfig config, std::vector<int> fds, int ctl_fd, std::string name);
  // The queue `queue`, or null when out of range.
  Queue* queue_at(std::uint16_t queue) const {
    return queue < queues_.size() ? queues_[queue].get() : nullptr;
  }
  std::size_t rx_burst_readv(Queue& q, std::span<Packet*> out);
  std::size_t tx_burst_writev(Queue& q, std::span<Packet* const> pkts);
  // Fills `iov` with the chain's segments; 0 when it has more than iov.size() segments.
  static std::size_t gather(const Packet& p, std::span<iovec> iov);

  DeviceInfo info_;
  IoMode io_;
  int ctl_fd_ = -1;  // an AF_INET socket in the TAP's namespace, for interface ioctls
  std::uint32_t max_frame_ = 0;
  std::uint32_t uring_rx_depth_ = 0;
  std::uint32_t uring_tx_depth_ = 0;
  rss::Key rss_key_{};
  std::vector<std::unique_ptr<Queue>> queues_;
};

// Short text for logs and test names.
const char* io_mode_name(IoMode mode);

}  // namespace coronet::nic
