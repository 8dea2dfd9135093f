// TapDevice throughput, readv/writev against io_uring, 64-byte frames, inside a test-made network
// namespace (needs root):
//   bazel run --config=opt //benchmarks:tap_bench
// BM_TapTx: tx_burst of 32 frames addressed to a MAC nobody has, so the kernel does as little as
//   it can per frame (an skb, the link-layer parse, the drop).
// BM_TapRx: another thread queues 256 frames into the TAP from the kernel side (untimed), then the
//   benchmark thread drains them with rx_burst(32): the receive path alone, no sender in the way.
// BM_TapRxOneByOne: one frame sent, one received, by one thread: the cost of sparse traffic.
// BM_TapRxIdle: rx_burst on an empty queue, what a polling reactor pays when nothing arrives.
// Read the CPU column (the benchmark thread's time): on a shared VM real time also counts whoever
// else runs. Compare modes within one run, repeat, take medians.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nic/tap/tap_device.h"
#include "tests/netns/netns.h"

namespace coronet::nic {
namespace {

constexpr char kIf[] = "cbench0";
constexpr std::size_t kFrame = 64;
constexpr std::size_t kBurst = 32;
const MacAddress kOurMac({0x02, 0, 0, 0, 0, 0x02});

// One namespace for the whole run; its destructor (at exit) deletes it.
testing::NetNs& netns() {
  static testing::NetNs ns = [] {
    auto r = testing::NetNs::create("tapbench");
    if (!r) {
      std::fprintf(stderr, "tap_bench needs root: %s\n", r.error().message().c_str());
      std::exit(1);
    }
    return std::move(*r);
  }();
  return ns;
}

std::unique_ptr<TapDevice> open_tap(IoMode mode, std::uint32_t rx_depth) {
  TapConfig c;
  c.ifname = kIf;
  c.mac = kOurMac;
  c.io = mode;
  c.pool.count = 4096;
  c.uring_rx_depth = rx_depth;
  c.uring_tx_depth = 256;
  std::unique_ptr<TapDevice> dev;
  {
    testing::NetNs::Enter enter(netns());
    auto r = TapDevice::open(c);
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().message().c_str());
      std::exit(1);
    }
    dev = std::move(*r);
  }
  auto r = netns().exec(std::string("echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; ") +
                        "ip link set " + kIf + " up");
  if (!r) std::fprintf(stderr, "%s\n", r.error().message().c_str());
  return dev;
}

std::array<std::byte, kFrame> test_frame() {
  std::array<std::byte, kFrame> f{};
  const std::uint8_t hdr[14] = {0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00};
  for (std::size_t i = 0; i < sizeof(hdr); ++i) f[i] = std::byte{hdr[i]};
  return f;
}

IoMode mode_of(const benchmark::State& state) {
  return state.range(0) == 0 ? IoMode::kReadv : IoMode::kUring;
}

void BM_TapTx(benchmark::State& state) {
  auto dev = open_tap(mode_of(state), 32);
  const auto frame = test_frame();
  PacketPool& pool = dev->pool(0);
  std::array<Packet*, kBurst> burst;
  for (auto _ : state) {
    const std::size_t n = pool.alloc_bulk(burst);
    for (std::size_t i = 0; i < n; ++i) burst[i]->append_bytes(frame);
    std::size_t sent = 0;
    while (sent < n) sent += dev->tx_burst(0, std::span(burst).subspan(sent, n - sent));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBurst));
  state.counters["tx_errors"] = static_cast<double>(dev->tx_stats(0).errors);
  state.counters["tx_drops"] = static_cast<double>(dev->tx_stats(0).drops);
  state.SetLabel(io_mode_name(mode_of(state)));
}
BENCHMARK(BM_TapTx)->Arg(0)->Arg(1)->UseRealTime();

// An AF_PACKET socket on kIf in the namespace: sends go straight to the TAP's queue (qdisc
// bypassed), synchronously.
int packet_socket() {
  testing::NetNs::Enter enter(netns());
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  int one = 1;
  ::setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
  // Queued frames stay charged to the socket until the TAP's reader takes them: without room
  // for a whole fill, sendmmsg would block waiting for a reader that is waiting for it.
  int sndbuf = 16 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_ifindex = static_cast<int>(if_nametoindex(kIf));
  addr.sll_protocol = htons(ETH_P_ALL);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("AF_PACKET socket");
    std::exit(1);
  }
  return fd;
}

// Pushes frames into kIf from the kernel side (AF_PACKET, qdisc bypassed: each send lands in the
// TAP's queue synchronously) on its own thread, on request.
class Filler {
 public:
  static void pin(pthread_t thread, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(thread, sizeof(set), &set);
  }

  Filler() : fd_(packet_socket()) {
    thread_ = std::thread([this] { run(); });
    // Receiver and sender each spin-wait for the other: on the same CPU one would wait out the
    // other's time slice. Pin them apart (a 2-CPU machine is assumed; failures are harmless).
    pin(thread_.native_handle(), 1);
    pin(pthread_self(), 0);
  }
  ~Filler() {
    request_.store(kStop);
    request_.notify_one();
    thread_.join();
    ::close(fd_);
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int i = 0; i < CPU_SETSIZE; ++i) CPU_SET(i, &all);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
  }
  // Queues n frames and returns once they are in the TAP's queue. The caller spins rather than
  // sleeps meanwhile: a sleeping thread would be woken to run io_uring's completions early.
  // Returns how many the kernel accepted.
  int fill(int n) {
    request_.store(n, std::memory_order_release);
    request_.notify_one();
    while (request_.load(std::memory_order_acquire) > 0) {
    }
    return -request_.exchange(0) - 1;
  }

 private:
  void run() {
    auto frame = test_frame();
    frame[5] = std::byte{0x02};  // addressed to us
    std::array<iovec, 64> iov;
    std::array<mmsghdr, 64> msgs{};
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      iov[i] = {frame.data(), frame.size()};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
      const int n = request_.load(std::memory_order_acquire);
      if (n == kStop) return;
      if (n <= 0) {
        request_.wait(n);  // sleeps between fills, leaving the second core to the receiver
        continue;
      }
      int sent = 0;
      while (sent < n) {
        const int r =
            ::sendmmsg(fd_, msgs.data(), static_cast<unsigned>(std::min(n - sent, 64)), 0);
        if (r <= 0) break;
        sent += r;
      }
      request_.store(-sent - 1, std::memory_order_release);  // <= 0: done, carrying the count
    }
  }
  static constexpr int kStop = std::numeric_limits<int>::min();
  int fd_ = -1;
  // > 0: frames to send; <= 0: idle, -(sent + 1) after a fill; kStop: exit.
  std::atomic<int> request_{0};
  std::thread thread_;
};

void BM_TapRx(benchmark::State& state) {
  constexpr int kFill = 256;  // well within the TAP queue (tx_queue_len, 500 by default)
  auto dev = open_tap(mode_of(state), static_cast<std::uint32_t>(state.range(1)));
  Filler filler;
  std::array<Packet*, kBurst> burst;
  std::uint64_t bursts = 0;
  std::int64_t total = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const int queued = filler.fill(kFill);
    state.ResumeTiming();
    total += queued;
    int idle = 0;
    for (int got = 0; got < queued && idle < 1'000'000;) {
      const std::size_t n = dev->rx_burst(0, burst);
      PacketPool::free_bulk(std::span(burst).first(n));
      got += static_cast<int>(n);
      idle = n == 0 ? idle + 1 : 0;
      ++bursts;
    }
    if (idle != 0) {
      state.SkipWithError(
          ("frames went missing: TAP queue full? drops=" + std::to_string(dev->rx_stats(0).drops))
              .c_str());
      break;
    }
  }
  state.SetItemsProcessed(total);
  state.counters["frames_per_fill"] = static_cast<double>(total) / state.iterations();
  state.counters["bursts_per_fill"] = static_cast<double>(bursts) / state.iterations();
  state.counters["rx_drops"] = static_cast<double>(dev->rx_stats(0).drops);
  state.SetLabel(std::string(io_mode_name(mode_of(state))) +
                 (mode_of(state) == IoMode::kUring ? " depth " + std::to_string(state.range(1))
                                                   : std::string()));
}
BENCHMARK(BM_TapRx)->Args({0, 0})->Args({1, 2})->Args({1, 8})->Args({1, 32})->Args({1, 128});

// One frame at a time, sent and received by the same thread (no scheduler in the way): what a
// sparse flow costs per frame, including the wake-ups a frame causes for every read io_uring has
// armed on the TAP (each one retried, all but one finding the queue empty again).
void BM_TapRxOneByOne(benchmark::State& state) {
  auto dev = open_tap(mode_of(state), static_cast<std::uint32_t>(state.range(1)));
  const int fd = packet_socket();
  auto frame = test_frame();
  frame[5] = std::byte{0x02};  // addressed to us
  std::array<Packet*, kBurst> burst;
  for (auto _ : state) {
    if (::send(fd, frame.data(), frame.size(), 0) != static_cast<ssize_t>(frame.size())) {
      state.SkipWithError("the kernel refused a frame");
      break;
    }
    std::size_t n = 0;
    for (int spins = 0; n == 0 && spins < 1'000'000; ++spins) n = dev->rx_burst(0, burst);
    PacketPool::free_bulk(std::span(burst).first(n));
  }
  ::close(fd);
  state.SetItemsProcessed(static_cast<std::int64_t>(dev->rx_stats(0).packets));
  state.SetLabel(std::string(io_mode_name(mode_of(state))) +
                 (mode_of(state) == IoMode::kUring ? " depth " + std::to_string(state.range(1))
                                                   : std::string()));
}
BENCHMARK(BM_TapRxOneByOne)->Args({0, 0})->Args({1, 2})->Args({1, 8})->Args({1, 32});

void BM_TapRxIdle(benchmark::State& state) {
  auto dev = open_tap(mode_of(state), 32);
  std::array<Packet*, kBurst> burst;
  for (auto _ : state) benchmark::DoNotOptimize(dev->rx_burst(0, burst));
  state.SetLabel(io_mode_name(mode_of(state)));
}
BENCHMARK(BM_TapRxIdle)->Arg(0)->Arg(1);

}  // namespace
}  // namespace coronet::nic
