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
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/driver_util.h"

namespace {

using namespace coronet::bench;

// cpus: [0] receiver, [1] sender.
using Params = BulkParams;

struct SenderResult {
  std::uint64_t sent = 0;
  std::string error;
  double cpu_s = 0;
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

// Reads to EOF into `r` (which checks every byte and measures the window).
void receive_loop(int fd, const Params& p, BulkReceiver& r) {
  std::vector<std::byte> buf(static_cast<std::size_t>(p.chunk));
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.set_error(std::string("recv: ") + std::strerror(errno));
      ::shutdown(fd, SHUT_RDWR);  // unblocks the sender
      return;
    }
    if (n == 0) break;
    if (!r.add(std::span(buf).first(static_cast<std::size_t>(n)))) {
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
  }
  r.finish();
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  parse_flags(argc, argv, bulk_flags(p),
              "kernel_bulk [--seconds=S] [--warmup=S] [--chunk=BYTES] [--cpus=RECEIVER,SENDER] "
              "[--json]");
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

  const Schedule at = Schedule::starting_now(p);
  SenderResult sr;
  BulkReceiver rr(pattern, at);
  std::thread receiver([&] {
    (void)pin_slot(p.cpus, 0);
    receive_loop(rx, p, rr);
  });
  std::thread sender([&] {
    (void)pin_slot(p.cpus, 1);
    send_loop(tx, p, pattern, at.end, sr);
  });
  sender.join();
  receiver.join();
  ::close(tx);
  ::close(rx);

  const std::string failure = rr.failure(sr.sent, sr.error);
  Json record = bulk_record("kernel_bulk", "linux", "loopback", p);
  record.add("netns", ns.isolated);
  rr.add_figures(record, sr.sent);
  record.add("verified", failure.empty()).print();
  std::fprintf(stderr, "kernel loopback bulk, one flow (%s): %s\n",
               ns.isolated ? "private netns" : "host loopback", rr.summary(sr.sent).c_str());
  if (!failure.empty()) {
    std::fprintf(stderr, "FAILED: %s\n", failure.c_str());
    return 1;
  }
  return 0;
}
