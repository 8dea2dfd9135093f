// echo_kernel_client: a load client on the Linux kernel's TCP (plain blocking sockets, one thread
// per connection) for driving an echo server: C connections, each sending M messages of S bytes
// and waiting for each echo. Prints requests/s and latency percentiles; exits non-zero if any
// echo differs from what was sent.
//   echo_kernel_client HOST PORT [--conns=C] [--seconds=T] [--size=S]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Result {
  std::vector<double> latencies_us;
  long errors = 0;
  long mismatches = 0;
};

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool recv_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

void run_conn(sockaddr_in addr, std::size_t size, std::chrono::steady_clock::time_point end,
              int id, Result& out) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ++out.errors;
    close(fd);
    return;
  }
  std::vector<char> msg(size);
  std::vector<char> back(size);
  for (long i = 0; std::chrono::steady_clock::now() < end; ++i) {
    for (std::size_t k = 0; k < size; ++k) msg[k] = static_cast<char>((i * 31 + k + id) & 0xff);
    auto t0 = std::chrono::steady_clock::now();
    if (!send_all(fd, msg.data(), size) || !recv_all(fd, back.data(), size)) {
      ++out.errors;
      break;
    }
    auto t1 = std::chrono::steady_clock::now();
    if (back != msg) ++out.mismatches;
    out.latencies_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s HOST PORT [--conns=C] [--seconds=T] [--size=S]\n", argv[0]);
    return 2;
  }
  int conns = 4;
  double seconds = 3;
  std::size_t size = 64;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--conns=", 0) == 0) conns = std::stoi(a.substr(8));
    else if (a.rfind("--seconds=", 0) == 0) seconds = std::stod(a.substr(10));
    else if (a.rfind("--size=", 0) == 0) size = std::stoul(a.substr(7));
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (conns < 1 || conns > 1000 || seconds <= 0 || seconds > 600 || size < 1 || size > 65536) {
    std::fprintf(stderr, "out of range: conns 1-1000, seconds (0,600], size 1-65536\n");
    return 2;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(argv[2])));
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
    std::fprintf(stderr, "bad host %s\n", argv[1]);
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(seconds));
  std::vector<Result> results(static_cast<std::size_t>(conns));
  std::vector<std::thread> threads;
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back(run_conn, addr, size, end, c, std::ref(results[static_cast<std::size_t>(c)]));
  }
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  long errors = 0, mismatches = 0;
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    errors += r.errors;
    mismatches += r.mismatches;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))];
  };
  std::printf("requests: %zu in %.2f s = %.0f requests/s over %d connections (%zu-byte echoes)\n",
              all.size(), elapsed, all.size() / elapsed, conns, size);
  std::printf("latency: p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us\n", pct(0.5),
              pct(0.9), pct(0.99), all.empty() ? 0.0 : all.back());
  std::printf("errors: %ld, mismatched echoes: %ld\n", errors, mismatches);
  return (errors == 0 && mismatches == 0 && !all.empty()) ? 0 : 1;
}
