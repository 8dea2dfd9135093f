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
// Each connection is timed on its client engine (connect start to the last echoed byte, two clock
// reads) into a fixed-bucket log histogram per engine, merged after the run: p50/p99 latency.
//
// Usage: shm_scale_bench [--conns=N | --seconds=S] [--concurrency=N] [--bytes=N] [--repeat=N]
//                        [--pin | --cpus=A,B,...] [--spin-us=N] [--configs=1:1,2:1,2:2] [--json]
// --seconds: each run lasts S seconds (clients stop opening connections then) instead of --conns.
// --spin-us: how long an idle reactor polls before sleeping (default 50, or 0 when there are more
// engine threads than CPUs: a spinning thread then takes the CPU from the one it waits for).
// --pin: engine threads pinned round-robin over all CPUs; --cpus: over these (servers first).
// --json: one JSON object per configuration on stdout (the table goes to stderr), as the other
// drivers print (benchmarks/driver_util.h); `--configs=1:1 --json` is the coronet side of
// kernel_short_conn and uring_short_conn.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/driver_util.h"
#include "coro/when_all.h"
#include "nic/rss/port_selector.h"
#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"
#include "nic/wire/shm_wire.h"
#include "tests/stack/sim_hosts.h"

namespace {

using namespace coronet;
namespace ct = coronet::testing;
using bench::LatencyHistogram;
using bench::now_ns;

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
  std::vector<int> cpus;  // engine thread t runs on cpus[t % size] (servers first)
  double seconds = 0;     // > 0: runs are timed instead of counted
  bool json = false;
  std::FILE* out = stdout;  // the human table (stderr with --json)
  bool verbose = false;     // each engine's TCP counters after every run
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
  LatencyHistogram latency;  // every client engine's, merged
};

using bench::thread_cpu_seconds;

// Pins engine thread `slot` as asked: --cpus list, --pin round-robin over every CPU, or not at all.
void pin_engine(const Params& p, unsigned slot) {
  if (!p.cpus.empty()) {
    (void)bench::pin_slot(p.cpus, slot);
  } else if (p.pin) {
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    (void)bench::pin_to_cpu(static_cast<int>(slot % n));
  }
}

// What one client coroutine did.
struct ClientTally {
  int started = 0;
  int ok = 0;
};

// mTCP's short-connection client, timed: up to `count` connections one after another (fewer if
// `deadline_ns` passes first), each connect, write `bytes` (a pattern that differs per connection),
// read them back, compare, close. Each intact connection's latency (connect start to the last
// echoed byte) goes into `h`.
coro::Task<void> timed_echo_client(stack::tcp::TcpLayer& tcp, stack::Endpoint to, int count,
                                   std::uint64_t deadline_ns, std::size_t bytes,
                                   LatencyHistogram& h, ClientTally& tally) {
  std::vector<std::byte> msg(bytes);
  std::vector<std::byte> back(bytes);
  for (int i = 0; i < count && now_ns() < deadline_ns; ++i) {
    ++tally.started;
    for (std::size_t k = 0; k < bytes; ++k) msg[k] = ct::pattern(static_cast<std::uint64_t>(i), k);
    const std::uint64_t start = now_ns();
    // (No co_await inside conditions: a GCC 12 coroutine frame bug.)
    auto c = co_await stack::tcp::connect(tcp, to);
    if (!c) continue;
    auto w = co_await c->write(msg);
    if (w) {
      auto r = co_await c->read_exactly(back);
      if (r && msg == back) {
        h.add(now_ns() - start);
        ++tally.ok;
      }
    }
    (void)co_await c->close();
  }
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

// One engine's TCP counters, one line (--verbose).
void print_counters(std::FILE* out, const char* side, unsigned engine,
                    const stack::tcp::TcpStats& st) {
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::fprintf(out,
               "    %s %u: opened %llu, RTOs %llu, retransmits %llu, RSTs out %llu, resets %llu, "
               "challenge ACKs %llu, out of window %llu, PAWS %llu, TIME-WAIT reused %llu, "
               "SYNs over backlog %llu, no connection %llu\n",
               side, engine, u(st.connections_opened), u(st.rto_expiries), u(st.tx_retransmits),
               u(st.tx_rst), u(st.connections_reset), u(st.challenge_acks), u(st.rx_out_of_window),
               u(st.paws_rejected), u(st.time_wait_reused), u(st.syn_dropped_backlog),
               u(st.rx_no_connection));
}

// One run of configuration `cfg`: `conns` connections, or as many as `seconds` allows (> 0).
Outcome run_once(const Config& cfg, const Params& p, int conns, double seconds) {
  nic::rss::Toeplitz hash(nic::rss::kSymmetricKey);
  const nic::rss::Reta client_reta = nic::rss::Reta::round_robin(cfg.clients);
  const nic::rss::Reta server_reta = nic::rss::Reta::round_robin(cfg.servers);
  const nic::rss::PortSelector selector(hash, client_reta);
  const auto queues = static_cast<std::uint16_t>(std::max(cfg.servers, cfg.clients));
  auto wire = ct::shm_wire_or_exit("scale", 1024, 8192, queues,
                                   ct::rss_steering(hash, client_reta),
                                   ct::rss_steering(hash, server_reta));
  const int parties = cfg.servers + cfg.clients;
  const coro::Duration spin = std::chrono::microseconds(
      p.spin_us >= 0
          ? p.spin_us
          : (static_cast<unsigned>(parties) > std::thread::hardware_concurrency() ? 0 : 50));
  StartGate gate(parties);
  Outcome out;
  out.served_by.assign(cfg.servers, 0);
  const int loops = std::max(1, p.concurrency / cfg.clients);
  const int per_loop =
      seconds > 0 ? std::numeric_limits<int>::max() : std::max(1, conns / cfg.clients / loops);
  std::vector<std::atomic<coro::Reactor*>> server_reactors(cfg.servers);
  std::vector<double> server_cpu(cfg.servers, 0), client_cpu(cfg.clients, 0);
  std::vector<std::vector<ClientTally>> tallies(cfg.clients, std::vector<ClientTally>(loops));
  std::vector<LatencyHistogram> latency(cfg.clients);
  std::uint64_t deadline = std::numeric_limits<std::uint64_t>::max();
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
      pin_engine(p, q);
      gate.wait_turn(q);
      ct::ShmCore core(*wire, wire->b(), kServer, q, {}, spin);
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
      if (p.verbose) print_counters(p.out, "server", q, core.tcp.stats());
    });
  }
  for (std::uint16_t c = 0; c < cfg.clients; ++c) {
    threads.emplace_back([&, c] {
      pin_engine(p, cfg.servers + c);
      gate.wait_turn(cfg.servers + c);
      ct::ShmCore core(*wire, wire->a(), kClient, c, {}, spin);
      if (cfg.clients > 1) core.tcp.set_port_selector(&selector);
      gate.built();
      gate.wait_all();
      // One connection first, so ARP is resolved before the clock starts (the first SYNs of a
      // burst beyond ARP's queue for an unresolved address would wait for a 1 s RTO).
      primed_ok[c] =
          core.reactor.block_on(ct::short_echo_client(core.tcp, {kServer, kPort}, 1, p.bytes));
      primed.fetch_add(1);
      while (primed.load() != cfg.clients) std::this_thread::yield();
      if (c == 0) {
        start = std::chrono::steady_clock::now();
        if (seconds > 0) deadline = now_ns() + static_cast<std::uint64_t>(seconds * 1e9);
        started.store(true, std::memory_order_release);
      }
      while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
      const double cpu0 = thread_cpu_seconds();
      std::vector<coro::Task<void>> tasks;
      for (int i = 0; i < loops; ++i) {
        tasks.push_back(timed_echo_client(core.tcp, {kServer, kPort}, per_loop, deadline, p.bytes,
                                          latency[c], tallies[c][i]));
      }
      (void)core.reactor.block_on(coro::when_all(std::move(tasks)));
      client_end[c] = std::chrono::steady_clock::now();
      client_cpu[c] = thread_cpu_seconds() - cpu0;
      // The last closes finish while the servers still run.
      core.reactor.block_on(
          []() -> coro::Task<void> { co_await coro::sleep_for(std::chrono::milliseconds(20)); }());
      clients_done.fetch_add(1);
      core.reactor.shutdown();
      misrouted[cfg.servers + c] = core.tcp.stats().rx_no_connection;
      rtos[c] = core.tcp.stats().rto_expiries;
      if (p.verbose) print_counters(p.out, "client", c, core.tcp.stats());
    });
  }
  while (clients_done.load() != cfg.clients)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& r : server_reactors) r.load()->stop();
  for (auto& t : threads) t.join();

  out.wall_s =
      std::chrono::duration<double>(*std::max_element(client_end.begin(), client_end.end()) - start)
          .count();
  for (double s : server_cpu) out.server_cpu_s += s;
  for (double s : client_cpu) out.client_cpu_s += s;
  for (const auto& per_client : tallies) {
    for (const ClientTally& t : per_client) {
      out.ok += t.ok;
      out.expected += t.started;
    }
  }
  for (const auto& h : latency) out.latency.merge(h);
  for (int n : out.served_by) out.served += n;
  for (int n : primed_ok) out.served -= n;  // the priming connections are not part of the run
  for (auto m : misrouted) out.misrouted += m;
  for (auto r : rtos) out.client_rtos += r;
  for (std::uint16_t q = 0; q < queues; ++q) {
    out.wire_drops += wire->a().tx_stats(q).drops + wire->b().tx_stats(q).drops;
  }
  return out;
}

// Setter for --configs=S:C,...: the configurations to run, 1-8 engines on each side.
bench::FlagSetter config_list(std::vector<Config>& configs) {
  return [&configs](const std::string& list) {
    configs.clear();
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
      configs.push_back({static_cast<std::uint16_t>(s), static_cast<std::uint16_t>(c)});
      pos = end + 1;
    }
    return true;
  };
}

// How the engine threads were placed, for the table and the JSON record.
std::string placement(const Params& p) {
  if (!p.cpus.empty()) return "pinned to CPUs " + bench::cpus_string(p.cpus);
  return p.pin ? "threads pinned round-robin" : "threads not pinned";
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  bench::parse_flags(argc, argv,
                     {{"--conns=", bench::positive(p.conns)},
                      {"--seconds=", bench::positive(p.seconds)},
                      {"--concurrency=", bench::positive(p.concurrency)},
                      {"--bytes=", bench::positive(p.bytes)},
                      {"--repeat=", bench::positive(p.repeat)},
                      {"--spin-us=", bench::zero_or_positive(p.spin_us)},
                      {"--verbose", bench::set_true(p.verbose)},
                      {"--pin", bench::set_true(p.pin)},
                      {"--json", bench::set_true(p.json)},
                      {"--cpus=", bench::cpu_list(p.cpus)},
                      {"--configs=", config_list(p.configs)}},
                     "shm_scale_bench [--conns=N | --seconds=S] [--concurrency=N] [--bytes=N] "
                     "[--repeat=N] [--pin | --cpus=A,B,...] [--spin-us=N] [--configs=S:C,...] "
                     "[--json] [--verbose]");
  if (p.json) p.out = stderr;
  std::FILE* out = p.out;
  if (p.seconds > 0) {
    std::fprintf(out, "short-connection echo over the shared-memory wire: %.1f s runs x %zu B, ",
                 p.seconds, p.bytes);
  } else {
    std::fprintf(out, "short-connection echo over the shared-memory wire: %d connections x %zu B, ",
                 p.conns, p.bytes);
  }
  std::fprintf(out, "concurrency %d, %u CPUs, %s\n", p.concurrency,
               std::thread::hardware_concurrency(), placement(p).c_str());
  std::fprintf(out, "%-7s %-7s %12s %14s %12s %12s %16s %8s %9s %9s\n", "servers", "clients",
               "conns/s", "(min-max)", "srv us/conn", "cli us/conn", "conns/srv-core-s", "misrtd",
               "p50 us", "p99 us");
  struct Row {
    Config cfg;
    double rate, per_core;
  };
  std::vector<Row> rows;
  bool failed = false;
  for (const Config& cfg : p.configs) {
    // Warm-up: pools, page faults, ARP (a second at most in timed mode).
    if (p.seconds > 0) {
      (void)run_once(cfg, p, 0, std::min(1.0, p.seconds));
    } else {
      (void)run_once(cfg, p, std::min(p.conns, 2000), 0);
    }
    std::vector<Outcome> runs;
    for (int r = 0; r < p.repeat; ++r) runs.push_back(run_once(cfg, p, p.conns, p.seconds));
    std::vector<double> rates;
    std::uint64_t lost = 0;
    for (const auto& o : runs) {
      rates.push_back(o.ok / o.wall_s);
      lost += static_cast<std::uint64_t>(std::abs(o.expected - o.ok)) +
              static_cast<std::uint64_t>(std::abs(o.expected - o.served));
    }
    std::vector<double> sorted = rates;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t mid = runs.size() / 2;
    const auto median_at = std::find(rates.begin(), rates.end(), sorted[mid]) - rates.begin();
    const Outcome& m = runs[static_cast<std::size_t>(median_at)];
    const double srv_us = m.server_cpu_s / m.ok * 1e6;
    const double cli_us = m.client_cpu_s / m.ok * 1e6;
    const double per_core = m.ok / m.server_cpu_s;
    const double p50 = m.latency.quantile_ns(0.5) / 1e3;
    const double p99 = m.latency.quantile_ns(0.99) / 1e3;
    std::uint64_t misrouted = 0;
    for (const auto& o : runs) misrouted += o.misrouted;
    char range[64];
    std::snprintf(range, sizeof(range), "%.0f-%.0f", sorted.front(), sorted.back());
    std::fprintf(out, "%-7u %-7u %12.0f %14s %12.2f %12.2f %16.0f %8llu %9.1f %9.1f\n", cfg.servers,
                 cfg.clients, sorted[mid], range, srv_us, cli_us, per_core,
                 static_cast<unsigned long long>(misrouted), p50, p99);
    std::fprintf(out, "        served per engine:");
    for (int s : m.served_by) std::fprintf(out, " %d", s);
    std::fprintf(out, "; client RTOs %llu; frames dropped at full rings %llu\n",
                 static_cast<unsigned long long>(m.client_rtos),
                 static_cast<unsigned long long>(m.wire_drops));
    if (misrouted != 0 || lost != 0) failed = true;
    if (p.json) {
      bench::Json()
          .add("bench", "shm_scale_bench")
          .add("stack", "coronet")
          .add("link", "shm_wire")
          .add("servers", static_cast<unsigned>(cfg.servers))
          .add("clients", static_cast<unsigned>(cfg.clients))
          .add("concurrency", p.concurrency)
          .add("bytes", static_cast<std::uint64_t>(p.bytes))
          .add("seconds", p.seconds)
          .add("repeat", p.repeat)
          .add("cpus", !p.cpus.empty() ? bench::cpus_string(p.cpus)
                       : p.pin         ? "round-robin"
                                       : "")
          .add("client_close", "fin")
          .add("conns", m.ok)
          .add("conns_per_s", sorted[mid])
          .add("conns_per_s_min", sorted.front())
          .add("conns_per_s_max", sorted.back())
          .add("server_us_per_conn", srv_us)
          .add("client_us_per_conn", cli_us)
          .add("conns_per_server_core_s", per_core)
          .add("p50_us", p50)
          .add("p99_us", p99)
          .add("client_rtos", m.client_rtos)
          .add("wire_drops", m.wire_drops)
          .add("misrouted", misrouted)
          .add("failed", lost)
          .print();
    }
    rows.push_back({cfg, sorted[mid], per_core});
  }
  if (!rows.empty()) {
    std::fprintf(out, "ratios against %u:%u (same run):\n", rows[0].cfg.servers,
                 rows[0].cfg.clients);
    for (const Row& r : rows) {
      std::fprintf(out, "  %u:%u  rate %.2fx  per server core %.2fx\n", r.cfg.servers,
                   r.cfg.clients, r.rate / rows[0].rate, r.per_core / rows[0].per_core);
    }
  }
  if (failed) {
    std::fprintf(out, "FAILED: connections lost or misrouted\n");
    return 1;
  }
  return 0;
}
