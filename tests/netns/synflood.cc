// synflood: a bounded flood of spoofed TCP SYNs, for tests of a listener under attack (RFC 4987).
//
//   ip netns exec NS synflood --if=cn0 --dst-mac=02:00:00:00:00:02 --dst=198.18.7.2 --port=80
//       --src-net=198.19.128.0/17 --rate=50000 --seconds=10 [--count=N] [--src-mac=..] [--batch=N]
//
// Writes whole Ethernet frames with an AF_PACKET socket bound to --if, in sendmmsg batches paced
// by a token bucket. On the kernel side of a TAP device, a frame sent there goes to the TAP's
// user-space reader (the stack under test), not to the kernel's IP stack. Each SYN looks like one
// from Linux (MSS, SACK-permitted, timestamps, window scale; 74-byte frame) from a random address
// of --src-net, a random port and a random ISN, with valid IPv4 and TCP checksums.
//
// Safety: only addresses inside 198.18.0.0/15 (RFC 2544 benchmarking space) are accepted, for
// both the spoofed sources and the destination, and the run always ends: --seconds (at most 600)
// and --count bound it; SIGTERM or SIGINT ends it early (the summary is still printed). It needs
// CAP_NET_RAW and is meant for a test-made network namespace.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "stack/net/checksum.h"
#include "stack/net/ipv4_addr.h"
#include "stack/tcp/header.h"

namespace {

using coronet::stack::Ipv4Address;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kEthLen = 14;
constexpr std::size_t kIpLen = 20;
constexpr std::size_t kMaxBatch = 1024;
constexpr double kMaxSeconds = 600;
// RFC 2544 / RFC 6890: 198.18.0.0/15, the only space this tool will write into.
constexpr Ipv4Address kBenchNet{198, 18, 0, 0};
constexpr unsigned kBenchPrefix = 15;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

struct Flags {
  std::string ifname;
  std::array<std::uint8_t, 6> dst_mac{};
  std::optional<std::array<std::uint8_t, 6>> src_mac;
  Ipv4Address dst;
  std::uint16_t port = 0;
  Ipv4Address src_net;
  unsigned src_prefix = 32;
  double rate = 1000;
  double seconds = 5;
  std::uint64_t count = 0;  // 0: until --seconds
  std::size_t batch = 64;
};

void usage() {
  std::fprintf(stderr,
               "usage: synflood --if=IFACE --dst-mac=MAC --dst=IP --port=N --src-net=A.B.C.D/N\n"
               "                [--src-mac=MAC] [--rate=SYNS_PER_S] [--seconds=S] [--count=N]\n"
               "                [--batch=N]\n"
               "Addresses must lie inside 198.18.0.0/15.\n");
}

template <typename T>
bool parse_number(std::string_view s, T* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool parse_mac(std::string_view s, std::array<std::uint8_t, 6>* out) {
  for (std::size_t i = 0; i < 6; ++i) {
    if (s.size() < 2 || (i < 5 && (s.size() < 3 || s[2] != ':'))) return false;
    std::uint8_t b = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + 2, b, 16);
    if (ec != std::errc() || end != s.data() + 2) return false;
    (*out)[i] = b;
    s.remove_prefix(i < 5 ? 3 : 2);
  }
  return s.empty();
}

bool inside_bench_net(Ipv4Address a, unsigned prefix) {
  return prefix >= kBenchPrefix && a.same_subnet(kBenchNet, kBenchPrefix);
}

// Returns an error message, or empty on success.
std::string parse_flags(int argc, char** argv, Flags* f) {
  bool have_dst_mac = false;
  bool have_dst = false;
  bool have_port = false;
  bool have_net = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a(argv[i]);
    const auto eq = a.find('=');
    if (!a.starts_with("--") || eq == std::string_view::npos)
      return "bad argument " + std::string(a);
    const std::string_view key = a.substr(2, eq - 2);
    const std::string_view val = a.substr(eq + 1);
    bool ok = true;
    if (key == "if") {
      f->ifname = std::string(val);
      ok = !val.empty() && val.size() < IFNAMSIZ;
    } else if (key == "dst-mac") {
      ok = have_dst_mac = parse_mac(val, &f->dst_mac);
    } else if (key == "src-mac") {
      std::array<std::uint8_t, 6> m{};
      ok = parse_mac(val, &m);
      f->src_mac = m;
    } else if (key == "dst") {
      const auto ip = Ipv4Address::parse(val);
      ok = have_dst = ip.has_value();
      if (ok) f->dst = *ip;
    } else if (key == "port") {
      ok = have_port = parse_number(val, &f->port) && f->port != 0;
    } else if (key == "src-net") {
      const auto slash = val.find('/');
      const auto ip = Ipv4Address::parse(val.substr(0, slash));
      ok = have_net = slash != std::string_view::npos && ip.has_value() &&
                      parse_number(val.substr(slash + 1), &f->src_prefix) && f->src_prefix <= 32;
      if (ok) f->src_net = *ip;
    } else if (key == "rate") {
      ok = parse_number(val, &f->rate) && f->rate >= 1 && f->rate <= 1e8;
    } else if (key == "seconds") {
      ok = parse_number(val, &f->seconds) && f->seconds > 0 && f->seconds <= kMaxSeconds;
    } else if (key == "count") {
      ok = parse_number(val, &f->count);
    } else if (key == "batch") {
      ok = parse_number(val, &f->batch) && f->batch >= 1 && f->batch <= kMaxBatch;
    } else {
      return "unknown flag --" + std::string(key);
    }
    if (!ok) return "bad value in " + std::string(a);
  }
  if (f->ifname.empty() || !have_dst_mac || !have_dst || !have_port || !have_net) {
    return "--if, --dst-mac, --dst, --port and --src-net are required";
  }
  if (!inside_bench_net(f->src_net, f->src_prefix)) {
    return "--src-net must lie inside 198.18.0.0/15";
  }
  if (!inside_bench_net(f->dst, 32)) return "--dst must lie inside 198.18.0.0/15";
  return "";
}

void put16(std::byte* p, std::uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v & 0xff);
}

void put32(std::byte* p, std::uint32_t v) {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v & 0xffff));
}

// One SYN frame: Ethernet + IPv4 + TCP with Linux's SYN options. Returns its length.
class SynWriter {
 public:
  explicit SynWriter(const Flags& f, const std::array<std::uint8_t, 6>& src_mac)
      : f_(f), rng_(std::random_device{}()) {
    for (std::size_t i = 0; i < 6; ++i) {
      eth_[i] = std::byte(f.dst_mac[i]);
      eth_[6 + i] = std::byte(src_mac[i]);
    }
    put16(eth_.data() + 12, ETHERTYPE_IP);
    host_mask_ = f.src_prefix == 32 ? 0 : ~std::uint32_t{0} >> f.src_prefix;
    // A shape whose source address and port, ISN and TSval are overwritten per frame.
    syn_.dst_port = f.port;
    syn_.flags = coronet::stack::tcp::flag::kSyn;
    syn_.window = 64240;
    syn_.options.mss = 1460;
    syn_.options.sack_permitted = true;
    syn_.options.ts_val = 0;
    syn_.options.ts_ecr = 0;
    syn_.options.window_scale = 7;
    tcp_len_ = 20 + coronet::stack::tcp::options_length(syn_.options);
  }

  std::size_t frame_len() const { return kEthLen + kIpLen + tcp_len_; }

  void write(std::byte* out) {
    const std::uint64_t r = rng_();
    const std::uint32_t src =
        (f_.src_net.raw() & ~host_mask_) | (static_cast<std::uint32_t>(r) & host_mask_);
    syn_.src_port = static_cast<std::uint16_t>(1024 + (r >> 32) % (65536 - 1024));
    syn_.seq = coronet::stack::tcp::SeqNum(static_cast<std::uint32_t>(rng_()));
    syn_.options.ts_val = static_cast<std::uint32_t>(r >> 16);
    std::memcpy(out, eth_.data(), kEthLen);
    std::byte* ip = out + kEthLen;
    std::memset(ip, 0, kIpLen);
    ip[0] = std::byte{0x45};
    put16(ip + 2, static_cast<std::uint16_t>(kIpLen + tcp_len_));
    put16(ip + 4, static_cast<std::uint16_t>(r >> 48));  // identification
    put16(ip + 6, 0x4000);                               // DF
    ip[8] = std::byte{64};                               // TTL
    ip[9] = std::byte{6};                                // TCP
    put32(ip + 12, src);
    put32(ip + 16, f_.dst.raw());
    put16(ip + 10, coronet::stack::internet_checksum(std::span<const std::byte>(ip, kIpLen)));
    std::byte* tcp = ip + kIpLen;
    syn_.checksum = 0;
    coronet::stack::tcp::write_header(syn_, std::span<std::byte>(tcp, tcp_len_));
    const std::uint16_t sum = coronet::stack::tcp::tcp_checksum(
        src, f_.dst.raw(), std::span<const std::byte>(tcp, tcp_len_));
    put16(tcp + 16, sum);
  }

 private:
  const Flags& f_;
  std::mt19937_64 rng_;
  std::array<std::byte, kEthLen> eth_{};
  std::uint32_t host_mask_ = 0;
  coronet::stack::tcp::TcpHeader syn_;
  std::size_t tcp_len_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (const std::string err = parse_flags(argc, argv, &f); !err.empty()) {
    std::fprintf(stderr, "synflood: %s\n", err.c_str());
    usage();
    return 2;
  }
  const unsigned ifindex = if_nametoindex(f.ifname.c_str());
  if (ifindex == 0) {
    std::fprintf(stderr, "synflood: no interface %s\n", f.ifname.c_str());
    return 1;
  }
  // Protocol 0: this socket sends only, it never receives a copy of the interface's traffic.
  const int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) {
    std::fprintf(stderr, "synflood: AF_PACKET socket: %s\n", std::strerror(errno));
    return 1;
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = static_cast<int>(ifindex);
  sll.sll_protocol = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
    std::fprintf(stderr, "synflood: bind to %s: %s\n", f.ifname.c_str(), std::strerror(errno));
    close(fd);
    return 1;
  }
  std::array<std::uint8_t, 6> src_mac{0x02, 0, 0, 0, 0, 0x01};
  if (f.src_mac) src_mac = *f.src_mac;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  SynWriter writer(f, src_mac);
  const std::size_t flen = writer.frame_len();
  std::vector<std::byte> frames(f.batch * flen);
  std::vector<iovec> iov(f.batch);
  std::vector<mmsghdr> msgs(f.batch);
  for (std::size_t i = 0; i < f.batch; ++i) {
    iov[i] = {frames.data() + i * flen, flen};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  // Token bucket: `rate` tokens a second, at most one batch (or 10 ms worth) banked.
  const double burst = std::max<double>(static_cast<double>(f.batch), f.rate / 100);
  double tokens = 0;
  std::uint64_t sent = 0;
  std::uint64_t errors = 0;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(f.seconds));
  Clock::time_point last = start;
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline || (f.count != 0 && sent >= f.count)) break;
    if (g_stop.load(std::memory_order_relaxed)) break;
    tokens = std::min(burst, tokens + std::chrono::duration<double>(now - last).count() * f.rate);
    last = now;
    std::size_t n = std::min<std::size_t>(f.batch, static_cast<std::size_t>(tokens));
    if (f.count != 0) n = std::min<std::size_t>(n, f.count - sent);
    if (n == 0) {
      const double wait = (1 - tokens) / f.rate;
      std::this_thread::sleep_for(std::chrono::duration<double>(std::clamp(wait, 20e-6, 5e-3)));
      continue;
    }
    for (std::size_t i = 0; i < n; ++i) writer.write(frames.data() + i * flen);
    const int r = sendmmsg(fd, msgs.data(), static_cast<unsigned>(n), 0);
    if (r < 0) {
      // ENOBUFS and the like: the queue is full; the tokens are spent anyway (a flood is lossy).
      ++errors;
      tokens -= static_cast<double>(n);
      if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
        std::fprintf(stderr, "synflood: sendmmsg: %s\n", std::strerror(errno));
        break;
      }
      continue;
    }
    sent += static_cast<std::uint64_t>(r);
    tokens -= static_cast<double>(n);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  std::printf("synflood: sent %llu SYNs in %.2f s: %.0f SYN/s (target %.0f), %llu send errors\n",
              static_cast<unsigned long long>(sent), elapsed,
              elapsed > 0 ? static_cast<double>(sent) / elapsed : 0.0, f.rate,
              static_cast<unsigned long long>(errors));
  return sent > 0 ? 0 : 1;
}
