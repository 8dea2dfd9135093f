// Scaling of shared-nothing engines (issue: sharding): mTCP's short-connection echo (connect,
// 64 bytes each way, close) between coronet client engines and coronet server engines over the
// shared-memory wire, each engine on its own thread. The wire steers each end's receive side by
// the symmetric Toeplitz hash through a round-robin RETA (the NIC's RSS); client engines pick
// their local ports so that the replies come back to them (nic/rss/port_selector.h).
//
// Every configuration runs in the same invocation, so the ratios compare like with like:
//   servers x clients = 1x1, 2x1, 2x2 (override with --configs=S:C,S:C,...).
// For each it reports the connection rate (median of --repeat runs, min-max), and the CPU time
// each side spent per connection (CLOCK_THREAD_CPUTIME_ID of every engine thread), from which
// the rate per server core: connections / server CPU-seconds. On a machine with fewer cores than
// threads the wall-clock rate is capped by the cores; the CPU cost per connection is the number
// that says whether engines scale (shared-nothing engines should keep it flat).
//
// Usage: shm_scale_bench [--conns=N] [--concurrency=N] [--bytes=N] [--repeat=N] [--pin]
//                        [--spin-us=N] [--configs=1:1,2:1,2:2]
// --spin-us: how long an idle reactor polls before sleeping (default 50, or 0 when there are more
// engine threads than CPUs: a spinning thread then takes the CPU from the one it waits for).
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "coro/when_all.h"
#include "nic/rss/port_selector.h"
#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"
#include "nic/wire/shm_wire.h"
#include "tests/stack/sim_hosts.h"

namespace {

using namespace coronet;
namespace ct = coronet::testing;

constexpr stack::Ipv4Address kClient{198, 18, 0, 1};
constexpr stack::Ipv4Address kServer{198, 18, 0, 2};
constexpr std::uint16_t kPort = 8000;

struct Config {
  std::uint16_t servers = 1;
  std::uint16_t clients = 1;
};

struct Params {
  int conns = 20000;
  int concurrency = 64;
  std::size_t bytes = 64;
  int repeat = 3;
  bool pin = false;
  bool verbose = false;  // each engine's TCP counters after every run
  int spin_us = -1;  // reactor spin before sleeping; -1: 50 us, or 0 when threads outnumber CPUs
  std::vector<Config> configs = {{1, 1}, {2, 1}, {2, 2}};
};

struct Outcome {
  double wall_s = 0;
  double server_cpu_s = 0;
  double client_cpu_s = 0;
  int expected = 0;  // connections the clients set out to make
  int ok = 0;
  int served = 0;
  std::uint64_t misrouted = 0;  // segments an engine had no connection for
  std::uint64_t client_rtos = 0;
  std::uint64_t wire_drops = 0;  // frames refused by a full ring
  std::vector<int> served_by;
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void pin_to(unsigned slot) {
  const unsigned n = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(slot % n, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Threads build their engines one at a time, in order (each engine announces itself by ARP
// when constructed, and every wake-up hook must be in place before anything is sent to its
// queue); then all wait until every engine exists.
class StartGate {
 public:
  explicit StartGate(int parties) : parties_(parties) {}
  void wait_turn(int i) const {
    while (built_.load(std::memory_order_acquire) != i) std::this_thread::yield();
  }
  void built() { built_.fetch_add(1, std::memory_order_acq_rel); }
  void wait_all() const {
    while (built_.load(std::memory_order_acquire) != parties_) std::this_thread::yield();
  }

 private:
  int parties_;
  std::atomic<int> built_{0};
};

void print_counters(const char* side, unsigned engine, const stack::tcp::TcpStats& st) {
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("    %s %u: opened %llu, RTOs %llu, retransmits %llu, RSTs out %llu, resets %llu, "
              "challenge ACKs %llu, out of window %llu, PAWS %llu, TIME-WAIT reused %llu, "
              "SYNs over backlog %llu, no connection %llu\n",
              side, engine, u(st.connections_opened), u(st.rto_expiries), u(st.tx_retransmits),
              u(st.tx_rst), u(st.connections_reset), u(st.challenge_acks), u(st.rx_out_of_window),
              u(st.paws_rejected), u(st.time_wait_reused), u(st.syn_dropped_backlog),
              u(st.rx_no_connection));
}

Outcome run_once(const Config& cfg, const Params& p, int conns) {
  nic::rss::Toeplitz hash(nic::rss::kSymmetricKey);
  const nic::rss::Reta client_reta = nic::rss::Reta::round_robin(cfg.clients);
  const nic::rss::Reta server_reta = nic::rss::Reta::round_robin(cfg.servers);
  const nic::rss::PortSelector selector(hash, client_reta);
  nic::ShmWireConfig wc;
  wc.name = "scale";
  wc.slots = 1024;
  wc.queues = std::max(cfg.servers, cfg.clients);
  wc.mac_a = nic::MacAddress{{0x02, 0, 0, 0, 0, 1}};
  wc.mac_b = nic::MacAddress{{0x02, 0, 0, 0, 0, 2}};
  wc.pool = {.count = 8192, .buffer_size = 2048, .headroom = 128};
  wc.steer_a = ct::rss_steering(hash, client_reta);
  wc.steer_b = ct::rss_steering(hash, server_reta);
  auto wire = nic::ShmWire::create(wc);
  if (!wire) {
    std::fprintf(stderr, "shm wire: %s\n", wire.error().message().c_str());
    std::exit(1);
  }
  const int parties = cfg.servers + cfg.clients;
  const coro::Duration spin = std::chrono::microseconds(
      p.spin_us >= 0 ? p.spin_us
                     : (static_cast<unsigned>(parties) > std::thread::hardware_concurrency() ? 0
                                                                                              : 50));
  StartGate gate(parties);
  Outcome out;
  out.served_by.assign(cfg.servers, 0);
  const int loops = std::max(1, p.concurrency / cfg.clients);
  const int per_loop = std::max(1, conns / cfg.clients / loops);
  out.expected = per_loop * loops * cfg.clients;
  std::vector<std::atomic<coro::Reactor*>> server_reactors(cfg.servers);
  std::vector<double> server_cpu(cfg.servers, 0), client_cpu(cfg.clients, 0);
  std::vector<int> client_ok(cfg.clients, 0);
  std::vector<std::uint64_t> misrouted(parties, 0), rtos(cfg.clients, 0);
  std::vector<std::chrono::steady_clock::time_point> client_end(cfg.clients);
  std::atomic<int> clients_done{0};
  std::atomic<int> primed{0};
  std::vector<int> primed_ok(cfg.clients, 0);
  std::chrono::steady_clock::time_point start;
  std::atomic<bool> started{false};

  std::vector<std::thread> threads;
  for (std::uint16_t q = 0; q < cfg.servers; ++q) {
    threads.emplace_back([&, q] {
      if (p.pin) pin_to(q);
      gate.wait_turn(q);
      ct::ShmCore core(**wire, (*wire)->b(), kServer, q, {}, spin);
      auto l = stack::tcp::listen(core.tcp, kPort, {.backlog = 4096});
      if (!l) std::abort();
      core.reactor.spawn(ct::short_echo_server(*l, &out.served_by[q], p.bytes));
      server_reactors[q].store(&core.reactor);
      gate.built();
      gate.wait_all();
      const double cpu0 = thread_cpu_seconds();
      core.reactor.run();  // until every client is done
      server_cpu[q] = thread_cpu_seconds() - cpu0;
      core.reactor.shutdown();
      misrouted[q] = core.tcp.stats().rx_no_connection;
      if (p.verbose) print_counters("server", q, core.tcp.stats());
    });
  }
  for (std::uint16_t c = 0; c < cfg.clients; ++c) {
    threads.emplace_back([&, c] {
      if (p.pin) pin_to(cfg.servers + c);
      gate.wait_turn(cfg.servers + c);
      ct::ShmCore core(**wire, (*wire)->a(), kClient, c, {}, spin);
      if (cfg.clients > 1) core.tcp.set_port_selector(&selector);
      gate.built();
      gate.wait_all();
      // One connection first, so ARP is resolved before the clock starts (the first SYNs of a
      // burst beyond ARP's queue for an unresolved address would wait for a 1 s RTO).
      primed_ok[c] = core.reactor.block_on(
          ct::short_echo_client(core.tcp, {kServer, kPort}, 1, p.bytes));
      primed.fetch_add(1);
      while (primed.load() != cfg.clients) std::this_thread::yield();
      if (c == 0) {
        start = std::chrono::steady_clock::now();
        started.store(true, std::memory_order_release);
      }
      while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
      const double cpu0 = thread_cpu_seconds();
      std::vector<coro::Task<int>> tasks;
      for (int i = 0; i < loops; ++i) {
        tasks.push_back(ct::short_echo_client(core.tcp, {kServer, kPort}, per_loop, p.bytes));
      }
      for (int n : core.reactor.block_on(coro::when_all(std::move(tasks)))) client_ok[c] += n;
      client_end[c] = std::chrono::steady_clock::now();
      client_cpu[c] = thread_cpu_seconds() - cpu0;
      // The last closes finish while the servers still run.
      core.reactor.block_on([]() -> coro::Task<void> {
        co_await coro::sleep_for(std::chrono::milliseconds(20));
      }());
      clients_done.fetch_add(1);
      core.reactor.shutdown();
      misrouted[cfg.servers + c] = core.tcp.stats().rx_no_connection;
      rtos[c] = core.tcp.stats().rto_expiries;
      if (p.verbose) print_counters("client", c, core.tcp.stats());
    });
  }
  while (clients_done.load() != cfg.clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& r : server_reactors) r.load()->stop();
  for (auto& t : threads) t.join();

  out.wall_s = std::chrono::duration<double>(
                   *std::max_element(client_end.begin(), client_end.end()) - start)
                   .count();
  for (double s : server_cpu) out.server_cpu_s += s;
  for (double s : client_cpu) out.client_cpu_s += s;
  for (int n : client_ok) out.ok += n;
  for (int n : out.served_by) out.served += n;
  for (int n : primed_ok) out.served -= n;  // the priming connections are not part of the run
  for (auto m : misrouted) out.misrouted += m;
  for (auto r : rtos) out.client_rtos += r;
  for (std::uint16_t q = 0; q < wc.queues; ++q) {
    out.wire_drops += (*wire)->a().tx_stats(q).drops + (*wire)->b().tx_stats(q).drops;
  }
  return out;
}

bool parse(int argc, char** argv, Params& p) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::size_t n = std::strlen(name);
      return a.compare(0, n, name) == 0 ? a.c_str() + n : nullptr;
    };
    if (const char* v = value("--conns=")) {
      p.conns = std::atoi(v);
    } else if (const char* v = value("--concurrency=")) {
      p.concurrency = std::atoi(v);
    } else if (const char* v = value("--bytes=")) {
      p.bytes = static_cast<std::size_t>(std::atol(v));
    } else if (const char* v = value("--repeat=")) {
      p.repeat = std::atoi(v);
    } else if (const char* v = value("--spin-us=")) {
      p.spin_us = std::atoi(v);
    } else if (a == "--verbose") {
      p.verbose = true;
    } else if (a == "--pin") {
      p.pin = true;
    } else if (const char* v = value("--configs=")) {
      p.configs.clear();
      std::string list = v;
      for (std::size_t pos = 0; pos <= list.size();) {
        std::size_t end = list.find(',', pos);
        if (end == std::string::npos) end = list.size();
        unsigned s = 0, c = 0;
        if (std::sscanf(list.substr(pos, end - pos).c_str(), "%u:%u", &s, &c) != 2 || s == 0 ||
            c == 0 || s > 8 || c > 8) {
          std::fprintf(stderr, "--configs: '%s' is not SERVERS:CLIENTS (1-8 each)\n",
                       list.substr(pos, end - pos).c_str());
          return false;
        }
        p.configs.push_back({static_cast<std::uint16_t>(s), static_cast<std::uint16_t>(c)});
        pos = end + 1;
      }
    } else {
      std::fprintf(stderr, "unknown argument '%s'\n", a.c_str());
      return false;
    }
  }
  if (p.conns <= 0 || p.concurrency <= 0 || p.bytes == 0 || p.repeat <= 0) {
    std::fprintf(stderr, "--conns, --concurrency, --bytes and --repeat must be positive\n");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  if (!parse(argc, argv, p)) {
    std::fprintf(stderr,
                 "usage: shm_scale_bench [--conns=N] [--concurrency=N] [--bytes=N] [--repeat=N] "
                 "[--pin] [--spin-us=N] [--configs=S:C,...]\n");
    return 2;
  }
  std::printf("short-connection echo over the shared-memory wire: %d connections x %zu B, "
              "concurrency %d, %u CPUs, %s\n",
              p.conns, p.bytes, p.concurrency, std::thread::hardware_concurrency(),
              p.pin ? "threads pinned round-robin" : "threads not pinned");
  std::printf("%-7s %-7s %12s %14s %12s %12s %16s %8s\n", "servers", "clients", "conns/s",
              "(min-max)", "srv us/conn", "cli us/conn", "conns/srv-core-s", "misrtd");
  struct Row {
    Config cfg;
    double rate, per_core;
  };
  std::vector<Row> rows;
  bool failed = false;
  for (const Config& cfg : p.configs) {
    (void)run_once(cfg, p, std::min(p.conns, 2000));  // warm-up: pools, page faults, ARP
    std::vector<Outcome> runs;
    for (int r = 0; r < p.repeat; ++r) runs.push_back(run_once(cfg, p, p.conns));
    std::vector<double> rates;
    for (const auto& o : runs) {
      rates.push_back(o.ok / o.wall_s);
      if (o.ok != o.expected || o.served != o.expected) failed = true;
    }
    std::vector<double> sorted = rates;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t mid = runs.size() / 2;
    const auto median_at = std::find(rates.begin(), rates.end(), sorted[mid]) - rates.begin();
    const Outcome& m = runs[static_cast<std::size_t>(median_at)];
    const double srv_us = m.server_cpu_s / m.ok * 1e6;
    const double cli_us = m.client_cpu_s / m.ok * 1e6;
    const double per_core = m.ok / m.server_cpu_s;
    std::uint64_t misrouted = 0;
    for (const auto& o : runs) misrouted += o.misrouted;
    char range[64];
    std::snprintf(range, sizeof(range), "%.0f-%.0f", sorted.front(), sorted.back());
    std::printf("%-7u %-7u %12.0f %14s %12.2f %12.2f %16.0f %8llu\n", cfg.servers, cfg.clients,
                sorted[mid], range, srv_us, cli_us, per_core,
                static_cast<unsigned long long>(misrouted));
    std::printf("        served per engine:");
    for (int s : m.served_by) std::printf(" %d", s);
    std::printf("; client RTOs %llu; frames dropped at full rings %llu\n",
                static_cast<unsigned long long>(m.client_rtos),
                static_cast<unsigned long long>(m.wire_drops));
    if (misrouted != 0) failed = true;
    rows.push_back({cfg, sorted[mid], per_core});
  }
  if (!rows.empty()) {
    std::printf("ratios against %u:%u (same run):\n", rows[0].cfg.servers, rows[0].cfg.clients);
    for (const Row& r : rows) {
      std::printf("  %u:%u  rate %.2fx  per server core %.2fx\n", r.cfg.servers, r.cfg.clients,
                  r.rate / rows[0].rate, r.per_core / rows[0].per_core);
    }
  }
  if (failed) {
    std::printf("FAILED: connections lost or misrouted\n");
    return 1;
  }
  return 0;
}
