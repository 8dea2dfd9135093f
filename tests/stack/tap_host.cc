#include "tests/stack/tap_host.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "coro/timeout.h"
#include "tests/stack/kernel_peer.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::testing {

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ByteStream

ByteStream::ByteStream(std::uint64_t seed, Mode mode) : seed_(seed), mode_(mode) {
  if (mode_ == Mode::kPeriodic) {
    table_.resize(kPeriod);
    for (std::size_t i = 0; i < kPeriod; ++i) table_[i] = pattern(seed_, i);
  }
}

void ByteStream::fill(std::uint64_t offset, std::span<std::byte> out) const {
  if (mode_ == Mode::kExact) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = pattern(seed_, offset + i);
    return;
  }
  std::size_t done = 0;
  while (done < out.size()) {
    const std::size_t at = static_cast<std::size_t>((offset + done) % kPeriod);
    const std::size_t n = std::min(out.size() - done, kPeriod - at);
    std::memcpy(out.data() + done, table_.data() + at, n);
    done += n;
  }
}

std::optional<std::uint64_t> ByteStream::first_mismatch(std::uint64_t offset,
                                                        std::span<const std::byte> got) const {
  if (mode_ == Mode::kExact) {
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (got[i] != pattern(seed_, offset + i)) return offset + i;
    }
    return std::nullopt;
  }
  std::size_t done = 0;
  while (done < got.size()) {
    const std::size_t at = static_cast<std::size_t>((offset + done) % kPeriod);
    const std::size_t n = std::min(got.size() - done, kPeriod - at);
    if (std::memcmp(got.data() + done, table_.data() + at, n) != 0) {
      for (std::size_t i = 0; i < n; ++i) {
        if (got[done + i] != table_[at + i]) return offset + done + i;
      }
    }
    done += n;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Kernel-side impairment

namespace {

std::string drop_rule(double share) {
  const long threshold = std::lround(std::clamp(share, 0.0, 1.0) * 65536.0);
  return "    ip protocol tcp meta random & 0xffff < " + std::to_string(threshold) +
         " counter drop\n";
}

// Loads `text` with `nft -f` inside `ns`, through a file named after the namespace.
Result<void> load_ruleset(const NetNs& ns, const std::string& text) {
  const std::string file = "/tmp/" + ns.name() + "-loss.nft";
  FILE* f = std::fopen(file.c_str(), "w");
  if (f == nullptr) {
    return Error(Errc::kIoError, "cannot write " + file + ": " + std::strerror(errno));
  }
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  std::fclose(f);
  Result<std::string> r = written ? ns.exec("nft -f " + file)
                                  : Result<std::string>(Error(Errc::kIoError, "short write"));
  unlink(file.c_str());
  if (!r) return r.error();
  return {};
}

}  // namespace

std::string kernel_loss_ruleset(double share) {
  return "table inet coronet_loss {\n"
         "  chain in {\n    type filter hook input priority 0; policy accept;\n" +
         drop_rule(share) +
         "  }\n"
         "  chain out {\n    type filter hook output priority 0; policy accept;\n" +
         drop_rule(share) + "  }\n}\n";
}

Result<void> install_kernel_loss(const NetNs& ns, double share) {
  return load_ruleset(ns, kernel_loss_ruleset(share));
}

std::string bridge_loss_ruleset(double share) {
  return "table bridge coronet_loss {\n"
         "  chain through {\n    type filter hook forward priority 0; policy accept;\n" +
         drop_rule(share) + "  }\n}\n";
}

Result<void> install_bridge_loss(const NetNs& ns, double share) {
  return load_ruleset(ns, bridge_loss_ruleset(share));
}

namespace {
// The first "packets N" after `chain NAME` in `nft list table` output.
std::uint64_t chain_packets(const std::string& listing, const std::string& chain) {
  const auto c = listing.find("chain " + chain + " ");
  if (c == std::string::npos) return 0;
  const auto p = listing.find("packets ", c);
  if (p == std::string::npos) return 0;
  return std::strtoull(listing.c_str() + p + 8, nullptr, 10);
}
}  // namespace

KernelDrops kernel_loss_drops(const NetNs& ns) {
  auto r = ns.exec("nft list table inet coronet_loss");
  if (!r) return {};
  return KernelDrops{chain_packets(*r, "in"), chain_packets(*r, "out")};
}

std::uint64_t bridge_loss_drops(const NetNs& ns) {
  auto r = ns.exec("nft list table bridge coronet_loss");
  if (!r) return 0;
  return chain_packets(*r, "through");
}

std::uint64_t kernel_retransmits(const NetNs& ns) {
  // Two "Tcp:" lines: field names, then values.
  auto r = ns.exec("grep ^Tcp: /proc/net/snmp");
  if (!r) return 0;
  std::istringstream in(*r);
  std::string names, values;
  std::getline(in, names);
  std::getline(in, values);
  std::istringstream n(names), v(values);
  std::string name, value;
  while (n >> name && v >> value) {
    if (name == "RetransSegs") return std::strtoull(value.c_str(), nullptr, 10);
  }
  return 0;
}

Result<void> disable_segment_offloads(const NetNs& ns, const std::string& ifname) {
  auto r = ns.exec("ethtool -K " + ifname + " gso off tso off gro off");
  if (!r) return r.error();
  return {};
}

// ---------------------------------------------------------------------------------------------
// Cleanup on signals

namespace {

std::mutex g_signal_mu;
std::vector<std::string> g_signal_namespaces;

void wait_for_signal(sigset_t set) {
  int sig = 0;
  if (sigwait(&set, &sig) != 0) return;
  std::lock_guard<std::mutex> lock(g_signal_mu);
  for (const std::string& name : g_signal_namespaces) {
    std::string cmd = "ip netns del " + name + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "could not delete namespace %s\n", name.c_str());
    }
  }
  std::fprintf(stderr, "signal %d: removed %zu test namespace(s), exiting\n", sig,
               g_signal_namespaces.size());
  std::_Exit(128 + sig);
}

}  // namespace

void remove_namespace_on_signal(const std::string& name) {
  static std::once_flag started;
  std::call_once(started, [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread(wait_for_signal, set).detach();
  });
  std::lock_guard<std::mutex> lock(g_signal_mu);
  g_signal_namespaces.push_back(name);
}

void forget_namespace_on_signal(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_signal_mu);
  auto it = std::find(g_signal_namespaces.begin(), g_signal_namespaces.end(), name);
  if (it != g_signal_namespaces.end()) g_signal_namespaces.erase(it);
}

Result<std::unique_ptr<GuardedNetNs>> GuardedNetNs::create(const std::string& tag) {
  auto r = NetNs::create(tag);
  if (!r) return r.error();
  remove_namespace_on_signal(r->name());
  return std::unique_ptr<GuardedNetNs>(new GuardedNetNs(std::move(*r)));
}

GuardedNetNs::~GuardedNetNs() {
  // Hold the registry lock while deleting, so a signal arriving now does not race the deletion.
  std::string name = ns_.name();
  std::lock_guard<std::mutex> lock(g_signal_mu);
  { NetNs gone(std::move(ns_)); }
  // NetNs ignores a failed deletion; check, retry once and say so rather than leave it behind.
  if (access(("/run/netns/" + name).c_str(), F_OK) == 0) {
    auto r = shell("ip netns del " + name);
    std::fprintf(stderr, "namespace %s survived its deletion; retry: %s\n", name.c_str(),
                 r ? "deleted" : r.error().message().c_str());
  }
  auto it = std::find(g_signal_namespaces.begin(), g_signal_namespaces.end(), name);
  if (it != g_signal_namespaces.end()) g_signal_namespaces.erase(it);
}

// ---------------------------------------------------------------------------------------------
// TapHost

namespace {
// The veth pair of a bridged TapHost: the kernel's end and the bridge's end.
constexpr char kVethKernel[] = "cnvk0";
constexpr char kVethBridge[] = "cnvb0";
constexpr char kNoIpv6[] = "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6";
}  // namespace

Result<std::unique_ptr<TapHost>> TapHost::create(const TapHostConfig& config) {
  std::unique_ptr<TapHost> h(new TapHost(config));
  auto g = GuardedNetNs::create(config.ns_tag);
  if (!g) return g.error();
  h->guard_ = std::move(*g);
  if (config.bridged) {
    auto b = GuardedNetNs::create(config.ns_tag + "-br");
    if (!b) return b.error();
    h->bridge_ = std::move(*b);
  }
  const NetNs& kernel = h->ns();
  const NetNs& tap_ns = config.bridged ? h->bridge_->ns() : kernel;
  {
    NetNs::Enter in(tap_ns);
    if (!in.ok()) return Error(Errc::kIoError, in.error());
    nic::TapConfig cfg;
    cfg.ifname = config.ifname;
    cfg.mac = nic::MacAddress({0x02, 0, 0, 0, 0x06, 0x02});
    cfg.pool = nic::PacketPoolConfig{.name = "tap", .count = config.pool_packets};
    auto t = nic::TapDevice::open(cfg);
    if (!t) return t.error();
    h->tap_ = std::move(*t);
  }
  // No IPv6 anywhere: nothing but the test's own traffic crosses the links.
  const std::string kernel_if = config.bridged ? kVethKernel : config.ifname;
  if (config.bridged) {
    const NetNs& br = h->bridge_->ns();
    if (auto r = shell(std::string("ip link add ") + kVethKernel + " netns " + kernel.name() +
                       " type veth peer name " + kVethBridge + " netns " + br.name());
        !r) {
      return r.error();
    }
    const std::string bridge_setup =
        std::string(kNoIpv6) + " && ip link add br0 type bridge && ip link set " + config.ifname +
        " master br0 && ip link set " + kVethBridge + " master br0 && ip link set " +
        config.ifname + " up && ip link set " + kVethBridge + " up && ip link set br0 up";
    if (auto r = br.exec(bridge_setup); !r) return r.error();
    if (!config.kernel_offloads) {
      if (auto r = disable_segment_offloads(br, kVethBridge); !r) return r.error();
    }
    if (config.bridge_loss > 0) {
      if (auto r = install_bridge_loss(br, config.bridge_loss); !r) return r.error();
    }
  }
  const std::string setup = std::string(kNoIpv6) + " && ip addr add " +
                            config.kernel_addr.to_string() + "/24 dev " + kernel_if +
                            " && ip link set " + kernel_if + " up";
  if (auto r = kernel.exec(setup); !r) return r.error();
  if (!config.kernel_offloads) {
    if (auto r = disable_segment_offloads(kernel, kernel_if); !r) return r.error();
  }
  if (config.kernel_loss > 0) {
    if (auto r = install_kernel_loss(kernel, config.kernel_loss); !r) return r.error();
  }
  coro::ReactorOptions ro = config.reactor;
  ro.clock = nullptr;  // the kernel peer lives in real time
  h->reactor_ = std::make_unique<coro::Reactor>(ro);
  nic::Device* dev = h->tap_.get();
  if (config.impair_tx.active() || config.impair_rx.active()) {
    h->impaired_ = std::make_unique<nic::ImpairedDevice>(*h->tap_, h->reactor_->clock(),
                                                         config.impair_tx, config.impair_rx);
    dev = h->impaired_.get();
  }
  h->engine_ = std::make_unique<stack::Engine>(
      *h->reactor_, *dev, stack::EngineConfig{.address = config.coronet_addr, .prefix_len = 24});
  h->tcp_ = std::make_unique<stack::tcp::TcpLayer>(*h->engine_, config.tcp);
  return h;
}

TapHost::~TapHost() {
  // Suspended tasks hold connection handles: destroy them while TCP is still there.
  if (reactor_) reactor_->shutdown();
  tcp_.reset();
  engine_.reset();
  impaired_.reset();
  reactor_.reset();
  tap_.reset();
  bridge_.reset();
  guard_.reset();
}

std::string TapHost::counters() {
  std::ostringstream o;
  if (impaired_) {
    auto line = [&o](const char* dir, const nic::ImpairmentStats& s) {
      o << "  impair " << dir << ": submitted " << s.submitted << ", dropped " << s.dropped
        << ", duplicated " << s.duplicated << ", reordered " << s.reordered << ", corrupted "
        << s.corrupted << ", delayed " << s.delayed << ", queue overflow " << s.queue_overflow
        << "\n";
    };
    line("tx (coronet->kernel)", impaired_->tx_impairment(0));
    line("rx (kernel->coronet)", impaired_->rx_impairment(0));
  }
  const stack::tcp::TcpStats& t = tcp_->stats();
  o << "  coronet tcp: segments in " << t.rx_segments << " out " << t.tx_segments
    << ", retransmits " << t.tx_retransmits << ", fast retransmits " << t.fast_retransmits
    << ", RTO expiries " << t.rto_expiries << ", bad checksums " << t.rx_bad_checksum
    << ", out of order " << t.rx_out_of_order << ", duplicates " << t.rx_duplicate << "\n";
  KernelDrops d = kernel_loss_drops(ns());
  o << "  kernel: nft drops in " << d.input << " out " << d.output;
  if (bridge_) o << ", bridge drops " << bridge_loss_drops(bridge_->ns());
  o << ", retransmitted segments " << kernel_retransmits(ns()) << "\n";
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// Kernel sockets

namespace {


void set_timeouts(int fd, std::chrono::seconds s) {
  timeval tv{static_cast<time_t>(s.count()), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

}  // namespace

int kernel_connect_within(stack::Endpoint to, std::chrono::seconds limit, std::string* error) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = errno_text("socket");
    return -1;
  }
  set_timeouts(fd, limit);  // connect() waits at most SO_SNDTIMEO
  sockaddr_in a = to_sockaddr(to);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    *error = errno_text("connect");
    close(fd);
    return -1;
  }
  set_timeouts(fd, std::chrono::seconds(1));
  return fd;
}

int kernel_listen_at(stack::Endpoint at, std::string* error) {
  int fd = kernel_listen(at);  // (kernel_peer.h)
  if (fd < 0) {
    *error = errno_text("socket/bind/listen");
    return -1;
  }
  set_timeouts(fd, std::chrono::seconds(1));  // accept() wakes every second
  return fd;
}

int kernel_accept_within(int listen_fd, std::chrono::seconds limit, const std::atomic<bool>* stop,
                         std::string* error) {
  const auto start = Clock::now();
  for (;;) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      set_timeouts(fd, std::chrono::seconds(1));
      return fd;
    }
    if (!would_block(errno)) {
      *error = errno_text("accept");
      return -1;
    }
    if (stop != nullptr && stop->load()) {
      *error = "accept: stopped";
      return -1;
    }
    if (Clock::now() - start > limit) {
      *error = "accept: nobody connected within " + std::to_string(limit.count()) + " s";
      return -1;
    }
  }
}

Transfer kernel_send(int fd, const ByteStream& stream, std::uint64_t total,
                     std::chrono::seconds stall, const std::atomic<bool>* stop) {
  Transfer t;
  std::vector<std::byte> buf(1 << 20);
  const auto start = Clock::now();
  auto progress = start;
  while (t.bytes < total) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - t.bytes));
    stream.fill(t.bytes, std::span(buf.data(), n));
    std::size_t off = 0;
    while (off < n) {
      ssize_t w = ::send(fd, buf.data() + off, n - off, MSG_NOSIGNAL);
      if (w > 0) {
        off += static_cast<std::size_t>(w);
        progress = Clock::now();
        continue;
      }
      const int err = errno;
      const std::uint64_t at = t.bytes + off;
      if (w < 0 && would_block(err)) {
        if (stop != nullptr && stop->load()) {
          t.error = "kernel send stopped after " + std::to_string(at) + " bytes";
        } else if (Clock::now() - progress > stall) {
          t.error = "kernel send made no progress for " + std::to_string(stall.count()) +
                    " s after " + std::to_string(at) + " bytes";
        } else {
          continue;
        }
      } else {
        t.error =
            "kernel send failed after " + std::to_string(at) + " bytes: " + std::strerror(err);
      }
      t.bytes = at;
      t.seconds = seconds_since(start);
      return t;
    }
    t.bytes += n;
  }
  t.seconds = seconds_since(start);
  return t;
}

Transfer kernel_receive(int fd, const ByteStream& stream, std::chrono::seconds stall,
                        const std::atomic<bool>* stop) {
  Transfer t;
  std::vector<std::byte> buf(1 << 20);
  const auto start = Clock::now();
  auto progress = start;
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      const auto got = std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n));
      if (auto bad = stream.first_mismatch(t.bytes, got)) {
        t.error = "kernel received a wrong byte at offset " + std::to_string(*bad);
        break;
      }
      t.bytes += static_cast<std::uint64_t>(n);
      progress = Clock::now();
      continue;
    }
    if (n == 0) break;  // EOF
    const int err = errno;
    if (!would_block(err)) {
      t.error =
          "kernel recv failed after " + std::to_string(t.bytes) + " bytes: " + std::strerror(err);
      break;
    }
    if (stop != nullptr && stop->load()) {
      t.error = "kernel recv stopped after " + std::to_string(t.bytes) + " bytes";
      break;
    }
    if (Clock::now() - progress > stall) {
      t.error = "kernel recv made no progress for " + std::to_string(stall.count()) + " s after " +
                std::to_string(t.bytes) + " bytes";
      break;
    }
  }
  t.seconds = seconds_since(start);
  return t;
}

// ---------------------------------------------------------------------------------------------
// coronet sockets

coro::Task<Transfer> coronet_send(stack::tcp::Connection& c, const ByteStream& stream,
                                  std::uint64_t total, coro::Duration stall, std::size_t chunk) {
  Transfer t;
  std::vector<std::byte> buf(chunk);
  const auto start = Clock::now();
  while (t.bytes < total) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - t.bytes));
    stream.fill(t.bytes, std::span(buf.data(), n));
    auto w = co_await coro::with_timeout(c.write(std::span<const std::byte>(buf.data(), n)), stall);
    if (!w) {
      t.error = "coronet write failed after " + std::to_string(t.bytes) +
                " bytes: " + w.error().message();
      break;
    }
    t.bytes += n;
  }
  t.seconds = seconds_since(start);
  co_return t;
}

coro::Task<Transfer> coronet_receive(stack::tcp::Connection& c, const ByteStream& stream,
                                     coro::Duration stall, std::size_t chunk) {
  Transfer t;
  std::vector<std::byte> buf(chunk);
  const auto start = Clock::now();
  for (;;) {
    auto n = co_await coro::with_timeout(c.read(buf), stall);
    if (!n) {
      t.error =
          "coronet read failed after " + std::to_string(t.bytes) + " bytes: " + n.error().message();
      break;
    }
    if (*n == 0) break;  // EOF
    if (auto bad = stream.first_mismatch(t.bytes, std::span<const std::byte>(buf.data(), *n))) {
      t.error = "coronet received a wrong byte at offset " + std::to_string(*bad);
      break;
    }
    t.bytes += *n;
  }
  t.seconds = seconds_since(start);
  co_return t;
}

}  // namespace coronet::testing

// ---------------------------------------------------------------------------------------------
// Whole bulk transfers

namespace coronet::testing {
namespace {

// Sets `stop` when the caller leaves, before the futures declared earlier are waited for.
struct RaiseOnExit {
  std::atomic<bool>& flag;
  ~RaiseOnExit() { flag = true; }
};

void conclude(Bulk& b, std::uint64_t total) {
  // When one side fails the other is told to stop, so with two errors both are worth reading.
  if (!b.sent.ok() && !b.received.ok()) {
    b.error = "sender: " + b.sent.error + "; receiver: " + b.received.error;
  } else if (!b.received.ok()) {
    b.error = b.received.error;
  } else if (!b.sent.ok()) {
    b.error = b.sent.error;
  } else if (b.received.bytes != total || b.sent.bytes != total) {
    b.error = "sent " + std::to_string(b.sent.bytes) + " and received " +
              std::to_string(b.received.bytes) + " bytes of " + std::to_string(total);
  }
}

constexpr std::chrono::seconds kOpenLimit{90};  // SYN retransmissions included

}  // namespace

namespace {

// A kernel socket in `ns` that listens at `at` (listening is set once it does, or failed),
// accepts one connection and receives `stream` from it to EOF.
std::future<Transfer> kernel_receiver(const NetNs& ns, stack::Endpoint at, const ByteStream& stream,
                                      std::chrono::seconds stall, std::atomic<bool>& stop,
                                      std::promise<void>& listening) {
  return std::async(std::launch::async, [&ns, at, &stream, stall, &stop, &listening]() {
    NetNs::Enter in(ns);
    Transfer t;
    int lfd = in.ok() ? kernel_listen_at(at, &t.error) : -1;
    if (!in.ok()) t.error = in.error();
    listening.set_value();
    if (lfd < 0) return t;
    int fd = kernel_accept_within(lfd, kOpenLimit, &stop, &t.error);
    close(lfd);
    if (fd < 0) return t;
    t = kernel_receive(fd, stream, stall, &stop);
    close(fd);
    return t;
  });
}

// Ends a successful coronet-side transfer with close(), within the stall limit.
coro::Task<void> close_within(stack::tcp::Connection& c, Transfer& t,
                              std::chrono::seconds stall) {
  if (!t.ok()) co_return;
  if (auto r = co_await coro::with_timeout(c.close(), stall); !r) {
    t.error = "coronet close: " + r.error().message();
  }
}

// The coronet side's transfer, or why it did not finish within `limit`.
Transfer finished_within(Result<Transfer> r, std::chrono::seconds limit) {
  if (r) return std::move(*r);
  Transfer t;
  t.error = "coronet's side did not finish within " + std::to_string(limit.count()) +
            " s: " + r.error().message();
  return t;
}

}  // namespace

Bulk linux_to_coronet(TapHost& h, std::uint16_t port, const ByteStream& stream, std::uint64_t total,
                      std::chrono::seconds stall, std::chrono::seconds limit) {
  Bulk b;
  auto listener = stack::tcp::listen(h.tcp(), port);
  if (!listener) {
    b.error = "coronet listen: " + listener.error().message();
    return b;
  }
  std::atomic<bool> stop{false};
  const stack::Endpoint to{h.config().coronet_addr, port};
  auto kernel = std::async(std::launch::async, [&]() -> Transfer {
    NetNs::Enter in(h.ns());
    Transfer t;
    if (!in.ok()) {
      t.error = in.error();
      return t;
    }
    int fd = kernel_connect_within(to, kOpenLimit, &t.error);
    if (fd < 0) return t;
    t = kernel_send(fd, stream, total, stall, &stop);
    shutdown(fd, SHUT_WR);
    // coronet closes once it has read everything: wait for its FIN, expecting no data.
    Transfer tail = kernel_receive(fd, stream, stall, &stop);
    if (t.ok() && !tail.ok()) t.error = "Linux waiting for coronet's FIN: " + tail.error;
    if (t.ok() && tail.bytes != 0) t.error = "coronet sent data nobody asked for";
    close(fd);
    return t;
  });
  RaiseOnExit stop_kernel{stop};
  auto server = [&]() -> coro::Task<Result<Transfer>> {
    auto c = co_await coro::with_timeout(listener->accept(), kOpenLimit);
    if (!c) co_return c.error();
    Transfer t = co_await coronet_receive(*c, stream, stall);
    co_await close_within(*c, t, stall);
    co_return t;
  };
  auto got = h.reactor().block_on(coro::with_timeout(server(), limit));
  if (!got || !got->ok()) stop = true;
  b.sent = kernel.get();
  b.received = finished_within(std::move(got), limit);
  conclude(b, total);
  return b;
}

Bulk coronet_to_linux(TapHost& h, std::uint16_t port, const ByteStream& stream, std::uint64_t total,
                      std::chrono::seconds stall, std::chrono::seconds limit) {
  Bulk b;
  std::atomic<bool> stop{false};
  std::promise<void> listening;
  auto ready = listening.get_future();
  const stack::Endpoint at{h.config().kernel_addr, port};
  auto kernel = kernel_receiver(h.ns(), at, stream, stall, stop, listening);
  RaiseOnExit stop_kernel{stop};
  ready.wait();
  auto client = [&]() -> coro::Task<Result<Transfer>> {
    auto c = co_await coro::with_timeout(stack::tcp::connect(h.tcp(), at), kOpenLimit);
    if (!c) co_return c.error();
    Transfer t = co_await coronet_send(*c, stream, total, stall);
    co_await close_within(*c, t, stall);
    co_return t;
  };
  auto sent = h.reactor().block_on(coro::with_timeout(client(), limit));
  if (!sent || !sent->ok()) stop = true;
  b.received = kernel.get();
  b.sent = finished_within(std::move(sent), limit);
  conclude(b, total);
  return b;
}

Bulk linux_to_linux(const NetNs& sender_ns, const NetNs& receiver_ns, stack::Endpoint receiver,
                    const ByteStream& stream, std::uint64_t total, std::chrono::seconds stall,
                    std::chrono::seconds limit) {
  Bulk b;
  std::atomic<bool> stop{false};
  std::promise<void> listening;
  auto ready = listening.get_future();
  auto rx = kernel_receiver(receiver_ns, receiver, stream, stall, stop, listening);
  RaiseOnExit stop_rx{stop};
  ready.wait();
  auto tx = std::async(std::launch::async, [&]() -> Transfer {
    NetNs::Enter in(sender_ns);
    Transfer t;
    if (!in.ok()) {
      t.error = in.error();
      return t;
    }
    int fd = kernel_connect_within(receiver, kOpenLimit, &t.error);
    if (fd < 0) return t;
    t = kernel_send(fd, stream, total, stall, &stop);
    close(fd);
    return t;
  });
  RaiseOnExit stop_tx{stop};
  if (rx.wait_for(limit) != std::future_status::ready) stop = true;
  b.received = rx.get();
  b.sent = tx.get();
  if (stop && b.received.ok()) {
    b.received.error = "not finished within " + std::to_string(limit.count()) + " s";
  }
  conclude(b, total);
  return b;
}

}  // namespace coronet::testing
