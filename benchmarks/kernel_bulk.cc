// The Linux baseline for one bulk flow: a sender thread and a receiver thread, one core each,
// blocking sockets over 127.0.0.1 in a network namespace of the process's own (unshare, lo up).
// The sender writes --chunk bytes at a time (default 64 KiB) from a pattern buffer for the
// warm-up plus --seconds, then shuts down; the receiver reads --chunk at a time and checks every
// byte against the pattern (memcmp: a prime period, so misplaced data cannot match), and reads to
// EOF; the totals must agree. Socket buffers are the kernel's defaults (autotuning).
//
// Reported: MB/s (10^6 bytes) received during the window after a 1 s warm-up, and the CPU time
// each thread spent per MB. Compare with coronet_bulk (coronet <-> coronet over the shared-memory
// wire, the same pattern check). Loopback has a 64 KiB MTU and skips checksums; the wire carries
// 1500-byte frames: the two are not the same link, and the JSON says which was measured.
//
// Output: one JSON object on stdout; human text on stderr. Exits 1 on a mismatch, a short
// stream or a socket error.
//
//   bazel run --config=opt //benchmarks:kernel_bulk -- --seconds=3 --cpus=0,1
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/driver_util.h"

namespace {

using namespace coronet::bench;

struct Params {
  double seconds = 3;
  double warmup = 1;
  long chunk = 64 * 1024;
  std::vector<int> cpus;  // [0] receiver, [1] sender
};

struct SenderResult {
  std::uint64_t sent = 0;
  std::string error;
  double cpu_s = 0;
};

struct ReceiverResult {
  std::uint64_t received = 0;
  std::uint64_t window_bytes = 0;
  double window_s = 0;
  double cpu_window_s = 0;
  std::string error;
};

// Writes pattern chunks until `end` (ns), then half-closes.
void send_loop(int fd, const Params& p, const std::vector<std::byte>& pattern, std::uint64_t end,
               SenderResult& r) {
  const double cpu0 = thread_cpu_seconds();
  const auto chunk = static_cast<std::size_t>(p.chunk);
  while (now_ns() < end) {
    const std::size_t off = r.sent % kPatternPeriod;
    const ssize_t n = ::send(fd, pattern.data() + off, chunk, MSG_NOSIGNAL);
    if (n <= 0) {
      r.error = std::string("send: ") + std::strerror(errno);
      break;
    }
    r.sent += static_cast<std::uint64_t>(n);
  }
  r.cpu_s = thread_cpu_seconds() - cpu0;
  ::shutdown(fd, SHUT_WR);
}

// Reads to EOF, checking every byte; notes bytes and CPU at the window's opening and closing.
void receive_loop(int fd, const Params& p, const std::vector<std::byte>& pattern,
                  std::uint64_t warm_end, std::uint64_t end, ReceiverResult& r) {
  std::vector<std::byte> buf(static_cast<std::size_t>(p.chunk));
  std::uint64_t t_open = 0, bytes_open = 0, t_last = 0;
  double cpu_open = 0;
  bool open = false, closed = false;
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = std::string("recv: ") + std::strerror(errno);
      ::shutdown(fd, SHUT_RDWR);  // unblocks the sender
      return;
    }
    if (n == 0) break;
    const std::size_t off = r.received % kPatternPeriod;
    if (std::memcmp(buf.data(), pattern.data() + off, static_cast<std::size_t>(n)) != 0) {
      r.error = "data differs from what was sent near byte " + std::to_string(r.received);
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
    r.received += static_cast<std::uint64_t>(n);
    const std::uint64_t t = now_ns();
    t_last = t;
    if (!open && t >= warm_end) {
      open = true;
      t_open = t;
      bytes_open = r.received;
      cpu_open = thread_cpu_seconds();
    } else if (open && !closed && t >= end) {
      closed = true;
      r.window_bytes = r.received - bytes_open;
      r.window_s = static_cast<double>(t - t_open) * 1e-9;
      r.cpu_window_s = thread_cpu_seconds() - cpu_open;
    }
  }
  if (!open) {
    r.error = "the stream ended before the measurement window opened";
  } else if (!closed) {
    // The sender's last write straddled the end: the window closes at the last read.
    r.window_bytes = r.received - bytes_open;
    r.window_s = static_cast<double>(t_last - t_open) * 1e-9;
    r.cpu_window_s = thread_cpu_seconds() - cpu_open;
  }
}

// Parses the command line into `p`; false on anything unknown or invalid.
bool parse(int argc, char** argv, Params& p) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string v;
    if (flag(a, "--seconds=", v)) {
      if (!parse_positive(v, p.seconds)) return invalid_value(a);
    } else if (flag(a, "--warmup=", v)) {
      if (!parse_positive(v, p.warmup)) return invalid_value(a);
    } else if (flag(a, "--chunk=", v)) {
      if (!parse_positive(v, p.chunk) || p.chunk > (16 << 20)) return invalid_value(a);
    } else if (flag(a, "--cpus=", v)) {
      if (!parse_cpus(v, p.cpus)) return invalid_value(a);
    } else if (a == "--json") {
      // JSON is always printed on stdout.
    } else {
      std::fprintf(stderr, "unknown argument '%s'\n", a.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  if (!parse(argc, argv, p)) {
    std::fprintf(stderr,
                 "usage: kernel_bulk [--seconds=S] [--warmup=S] [--chunk=BYTES] "
                 "[--cpus=RECEIVER,SENDER] [--json]\n");
    return 2;
  }
  const NetnsInfo ns = private_netns({});
  const std::vector<std::byte> pattern = make_pattern(static_cast<std::size_t>(p.chunk));

  // Connected pair: listen, connect (blocking), accept.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("listener");
    return 1;
  }
  const int tx = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (tx < 0 || ::connect(tx, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    std::perror("connect");
    return 1;
  }
  const int rx = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (rx < 0) {
    std::perror("accept");
    return 1;
  }
  ::close(listener);

  const std::uint64_t t0 = now_ns();
  const std::uint64_t warm_end = t0 + static_cast<std::uint64_t>(p.warmup * 1e9);
  const std::uint64_t end = warm_end + static_cast<std::uint64_t>(p.seconds * 1e9);
  SenderResult sr;
  ReceiverResult rr;
  std::thread receiver([&] {
    (void)pin_slot(p.cpus, 0);
    receive_loop(rx, p, pattern, warm_end, end, rr);
  });
  std::thread sender([&] {
    (void)pin_slot(p.cpus, 1);
    send_loop(tx, p, pattern, end, sr);
  });
  sender.join();
  receiver.join();
  ::close(tx);
  ::close(rx);

  const double mbps =
      rr.window_s > 0 ? static_cast<double>(rr.window_bytes) / rr.window_s / 1e6 : 0;
  const double window_mb = static_cast<double>(rr.window_bytes) / 1e6;
  const double rx_cpu_per_mb = window_mb > 0 ? rr.cpu_window_s / window_mb * 1e6 : 0;
  Json()
      .add("bench", "kernel_bulk")
      .add("stack", "linux")
      .add("link", "loopback")
      .add("seconds", p.seconds)
      .add("warmup_s", p.warmup)
      .add("chunk", static_cast<std::int64_t>(p.chunk))
      .add("cpus", cpus_string(p.cpus))
      .add("netns", ns.isolated)
      .add("mb_per_s", mbps)
      .add("gbit_per_s", mbps * 8 / 1e3)
      .add("receiver_us_per_mb", rx_cpu_per_mb)
      .add("bytes", sr.sent)
      .add("verified", rr.error.empty() && sr.error.empty() && rr.received == sr.sent)
      .print();
  std::fprintf(stderr,
               "kernel loopback bulk, one flow (%s): %.0f MB/s (%.2f Gbit/s) over %.2f s, "
               "receiver %.0f us CPU per MB; %llu bytes sent, %llu received and checked\n",
               ns.isolated ? "private netns" : "host loopback", mbps, mbps * 8 / 1e3, rr.window_s,
               rx_cpu_per_mb, static_cast<unsigned long long>(sr.sent),
               static_cast<unsigned long long>(rr.received));
  if (!sr.error.empty() || !rr.error.empty() || rr.received != sr.sent) {
    std::fprintf(stderr, "FAILED: %s%s%s\n", sr.error.c_str(), rr.error.c_str(),
                 rr.received != sr.sent ? " (received total differs from sent total)" : "");
    return 1;
  }
  return 0;
}
