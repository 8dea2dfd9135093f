// The Linux baseline for mTCP's headline workload (short connections): a plain epoll server
// thread and a plain epoll client thread, one core each, over 127.0.0.1 in a network namespace
// of the process's own (unshare(CLONE_NEWNET), lo brought up; the host's network is neither seen
// nor touched). The client keeps --concurrency non-blocking connections in flight; each does
// connect, write 64 B, read the 64 B echoed back (checked), close. The server accepts with
// accept4(SOCK_NONBLOCK), tries the read at once (the request has usually arrived with the
// handshake), otherwise waits for it in epoll (edge-triggered), writes it back and closes.
//
// Reported: connections/s over --seconds after a 1 s warm-up, connection latency p50/p99 (connect
// start to the last echoed byte), CPU per connection of each thread. Compare with
// `shm_scale_bench --configs=1:1 --json` (coronet <-> coronet over the shared-memory wire) and
// `uring_short_conn` (the same workload through coronet's io_uring socket API).
//
// Closing: by default the client closes normally (FIN; "client_close": "fin"). The server usually
// closes first (its FIN follows the echo), so TIME-WAIT mostly lands on the server, where a new
// SYN with a newer timestamp reuses it; the client's own TIME-WAITs (when its close wins the
// race) are reused by connect() with net.ipv4.tcp_tw_reuse=1 and a wide ip_local_port_range, both
// set inside the private namespace only. connect() failing with EADDRNOTAVAIL (ports exhausted)
// is retried a millisecond later and counted ("addr_unavailable"); it loses nothing.
// --client-close=rst closes with SO_LINGER {1, 0} (an RST, no TIME-WAIT at all) instead.
//
// Output: one JSON object on stdout; human text on stderr. Exits 1 if any connection failed
// (refused, reset, early EOF, echo mismatch, or still open 5 s after the end).
//
//   bazel run --config=opt //benchmarks:kernel_short_conn -- --seconds=3 --cpus=0,1
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
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

// cpus: [0] server, [1] client.
struct Params : ShortConnParams {
  bool rst = false;  // client closes with SO_LINGER {1, 0}
};

constexpr std::uint64_t kListenerTag = ~std::uint64_t{0};
constexpr std::uint64_t kDrainLimitNs = 5'000'000'000;

// The server thread's results.
struct ServerResult {
  std::uint64_t served = 0;
  std::uint64_t errors = 0;  // connections that ended before a full request, or failed writes
  double cpu_window_s = 0;
};

// Per accepted connection: request bytes so far.
struct ServerConn {
  std::uint32_t got = 0;
  std::vector<unsigned char> buf;
};

// Reads what is available on `fd` into `c`; when the request is complete, echoes and closes.
// Returns false when the connection is done with (served, or failed: counted in `r`).
bool serve_step(int fd, ServerConn& c, std::size_t bytes, ServerResult& r) {
  while (c.got < bytes) {
    const ssize_t n = ::read(fd, c.buf.data() + c.got, bytes - c.got);
    if (n > 0) {
      c.got += static_cast<std::uint32_t>(n);
      continue;
    }
    if (n < 0 && errno == EAGAIN) return true;  // wait for the rest
    ++r.errors;                                 // EOF or error before the whole request
    ::close(fd);
    return false;
  }
  if (::write(fd, c.buf.data(), bytes) != static_cast<ssize_t>(bytes)) {
    ++r.errors;
  } else {
    ++r.served;
  }
  ::close(fd);
  return false;
}

// The epoll server: accept4, read, write, close; until `stop`. Samples its CPU time when the
// measurement window opens and closes.
void server_loop(int listener, const Params& p, const Schedule& at, const std::atomic<bool>& stop,
                 ServerResult& r) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  if (ep < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) {
    std::perror("server epoll");
    std::exit(1);
  }
  const std::size_t bytes = static_cast<std::size_t>(p.bytes);
  std::vector<ServerConn> conns;
  std::vector<epoll_event> events(256);
  double cpu_start = -1, cpu_end = -1;
  while (!stop.load(std::memory_order_relaxed)) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 10);
    const std::uint64_t t = now_ns();
    if (cpu_start < 0 && t >= at.warm_end) cpu_start = thread_cpu_seconds();
    if (cpu_end < 0 && t >= at.end) cpu_end = thread_cpu_seconds();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kListenerTag) {
        for (int k = 0; k < 64; ++k) {  // a batch, then let the other events have their turn
          const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          if (static_cast<std::size_t>(fd) >= conns.size()) conns.resize(fd + 1024);
          ServerConn& c = conns[fd];
          c.got = 0;
          c.buf.resize(bytes);
          if (!serve_step(fd, c, bytes, r)) continue;  // served at once
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
          cev.data.u64 = static_cast<std::uint64_t>(fd);
          if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) {
            ++r.errors;
            ::close(fd);
          }
        }
        continue;
      }
      const int fd = static_cast<int>(events[i].data.u64);
      (void)serve_step(fd, conns[fd], bytes, r);  // close() also removes it from epoll
    }
  }
  if (cpu_start >= 0 && cpu_end >= 0) r.cpu_window_s = cpu_end - cpu_start;
  ::close(ep);
}

// The client thread's results.
struct ClientResult {
  std::uint64_t completed = 0;  // all phases
  std::uint64_t in_window = 0;  // completed inside the measurement window
  std::uint64_t failed = 0;
  std::uint64_t unfinished = 0;  // still open when the drain limit passed
  std::uint64_t addr_unavailable = 0;
  std::string first_error;
  LatencyHistogram latency;
  double cpu_window_s = 0;
};

struct Slot {
  int fd = -1;
  std::uint32_t gen = 0;  // tags epoll events, so one of a finished connection is ignored
  bool wrote = false;
  std::uint32_t got = 0;
  std::uint64_t seq = 0;
  std::uint64_t start_ns = 0;
  std::vector<unsigned char> buf;
};

class Client {
 public:
  Client(const Params& p, sockaddr_in server, const Schedule& at)
      : p_(p),
        bytes_(static_cast<std::size_t>(p.bytes)),
        server_(server),
        at_(at),
        slots_(static_cast<std::size_t>(p.concurrency)),
        msg_(bytes_) {}

  // Runs the warm-up, the window and the drain; fills `r`.
  void run(ClientResult& r) {
    r_ = &r;
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      std::perror("client epoll");
      std::exit(1);
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].buf.resize(bytes_);
      start(i);
    }
    std::vector<epoll_event> events(256);
    double cpu_start = -1, cpu_end = -1;
    for (;;) {
      const int timeout = retry_.empty() ? 10 : 1;
      const int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout);
      now_ = now_ns();
      if (cpu_start < 0 && now_ >= at_.warm_end) cpu_start = thread_cpu_seconds();
      if (cpu_end < 0 && now_ >= at_.end) cpu_end = thread_cpu_seconds();
      for (int i = 0; i < n; ++i) {
        const std::size_t s = events[i].data.u64 & 0xffffffffu;
        if (slots_[s].fd < 0 || slots_[s].gen != (events[i].data.u64 >> 32)) continue;
        step(s, events[i].events);
      }
      if (!retry_.empty()) {
        std::vector<std::size_t> again;
        again.swap(retry_);
        for (std::size_t s : again) start(s);
      }
      if (now_ >= at_.end && in_flight_ == 0) break;
      if (now_ >= at_.end + kDrainLimitNs) {
        r.unfinished = in_flight_;
        for (auto& slot : slots_) {
          if (slot.fd >= 0) ::close(slot.fd);
        }
        break;
      }
    }
    if (cpu_start >= 0 && cpu_end >= 0) r.cpu_window_s = cpu_end - cpu_start;
    ::close(ep_);
  }

 private:
  // Opens the next connection in slot `s` (nothing once the window has closed).
  void start(std::size_t s) {
    Slot& slot = slots_[s];
    if (now_ns() >= at_.end) return;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(s, std::string("socket: ") + std::strerror(errno), -1);
    slot.seq = next_seq_++;
    slot.wrote = false;
    slot.got = 0;
    slot.start_ns = now_ns();
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&server_), sizeof(server_));
    if (rc != 0 && errno == EADDRNOTAVAIL) {
      // Every local port is taken (TIME-WAIT): try again shortly; nothing was lost.
      ::close(fd);
      ++r_->addr_unavailable;
      retry_.push_back(s);
      return;
    }
    if (rc != 0 && errno != EINPROGRESS) {
      return fail(s, std::string("connect: ") + std::strerror(errno), fd);
    }
    slot.fd = fd;
    ++slot.gen;
    ++in_flight_;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (static_cast<std::uint64_t>(slot.gen) << 32) | s;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return finish(s, false, std::string("epoll_ctl: ") + std::strerror(errno));
    }
    if (rc == 0) step(s, EPOLLOUT);
  }

  // Advances slot `s`'s connection on an epoll event: the write once connected, then the reads.
  void step(std::size_t s, std::uint32_t events) {
    Slot& slot = slots_[s];
    if (!slot.wrote) {
      if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
      for (std::size_t k = 0; k < bytes_; ++k) msg_[k] = request_byte(slot.seq, k);
      const ssize_t w = ::write(slot.fd, msg_.data(), bytes_);
      if (w < 0 && errno == EAGAIN) return;  // still connecting
      if (w != static_cast<ssize_t>(bytes_)) {
        return finish(s, false, std::string("write: ") + (w < 0 ? std::strerror(errno) : "short"));
      }
      slot.wrote = true;
    }
    while (slot.got < bytes_) {
      const ssize_t n = ::read(slot.fd, slot.buf.data() + slot.got, bytes_ - slot.got);
      if (n > 0) {
        slot.got += static_cast<std::uint32_t>(n);
        continue;
      }
      if (n < 0 && errno == EAGAIN) return;
      return finish(s, false,
                    n == 0 ? "EOF before the echo" : std::string("read: ") + std::strerror(errno));
    }
    for (std::size_t k = 0; k < bytes_; ++k) {
      if (slot.buf[k] != request_byte(slot.seq, k)) return finish(s, false, "echo mismatch");
    }
    finish(s, true, "");
  }

  // Ends slot `s`'s connection (counted as a success or a failure) and opens the next one.
  void finish(std::size_t s, bool ok, const std::string& error) {
    Slot& slot = slots_[s];
    const std::uint64_t t = now_ns();
    if (ok) {
      ++r_->completed;
      if (at_.in_window(t)) {
        ++r_->in_window;
        r_->latency.add(t - slot.start_ns);
      }
    } else {
      ++r_->failed;
      if (r_->first_error.empty()) r_->first_error = error;
    }
    if (p_.rst) {
      const linger lg{1, 0};
      (void)::setsockopt(slot.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    ::close(slot.fd);
    slot.fd = -1;
    --in_flight_;
    start(s);
  }

  // A failure before the connection was in flight.
  void fail(std::size_t s, const std::string& error, int fd) {
    if (fd >= 0) ::close(fd);
    ++r_->failed;
    if (r_->first_error.empty()) r_->first_error = error;
    if (r_->failed < 1000) retry_.push_back(s);
  }

  const Params& p_;
  const std::size_t bytes_;
  sockaddr_in server_;
  const Schedule at_;
  std::vector<Slot> slots_;
  std::vector<unsigned char> msg_;
  std::vector<std::size_t> retry_;
  ClientResult* r_ = nullptr;
  int ep_ = -1;
  std::uint64_t now_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t in_flight_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Params p;
  const auto client_close = [&p](const std::string& v) {
    p.rst = v == "rst";
    return v == "fin" || v == "rst";
  };
  parse_flags(argc, argv, short_conn_flags(p, {{"--client-close=", client_close}}),
              "kernel_short_conn [--seconds=S] [--warmup=S] [--concurrency=N] "
              "[--bytes=N (<=4096)] [--cpus=SERVER,CLIENT] [--client-close=fin|rst] [--json]");
  const NetnsInfo ns =
      private_netns({{"tcp_tw_reuse", "1"}, {"ip_local_port_range", "1024 65535"}});

  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const int one = 1;
  (void)::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listener, 4096) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("listener");
    return 1;
  }

  const Schedule at = Schedule::starting_now(p);
  std::atomic<bool> stop{false};
  ServerResult sr;
  ClientResult cr;
  std::thread server([&] {
    (void)pin_slot(p.cpus, 0);
    server_loop(listener, p, at, stop, sr);
  });
  std::thread client([&] {
    (void)pin_slot(p.cpus, 1);
    Client(p, addr, at).run(cr);
  });
  client.join();
  stop.store(true);
  server.join();
  ::close(listener);

  const ShortConnFigures f(p, cr.in_window, cr.latency, sr.cpu_window_s, cr.cpu_window_s);
  short_conn_record("kernel_short_conn", "epoll", p, ns, p.rst ? "rst" : "fin", f)
      .add("addr_unavailable", cr.addr_unavailable)
      .add("failed", cr.failed + cr.unfinished + sr.errors)
      .print();
  std::fprintf(stderr,
               "kernel epoll short connections (%ld x %ld B, close %s, %s): %s; %llu completed in "
               "all, %llu served, %llu EADDRNOTAVAIL retries\n",
               p.concurrency, p.bytes, p.rst ? "rst" : "fin",
               ns.isolated ? "private netns" : "host loopback", f.summary().c_str(),
               static_cast<unsigned long long>(cr.completed),
               static_cast<unsigned long long>(sr.served),
               static_cast<unsigned long long>(cr.addr_unavailable));
  if (cr.failed + cr.unfinished + sr.errors != 0 || sr.served != cr.completed ||
      cr.in_window == 0) {
    std::fprintf(
        stderr,
        "FAILED: %llu client failures (first: %s), %llu unfinished after 5 s, %llu "
        "server errors, served %llu vs completed %llu\n",
        static_cast<unsigned long long>(cr.failed),
        cr.first_error.empty() ? "-" : cr.first_error.c_str(),
        static_cast<unsigned long long>(cr.unfinished), static_cast<unsigned long long>(sr.errors),
        static_cast<unsigned long long>(sr.served), static_cast<unsigned long long>(cr.completed));
    return 1;
  }
  return 0;
}
