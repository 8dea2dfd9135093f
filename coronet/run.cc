#include "coronet/run.h"

#include <pthread.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "coro/log.h"
#include "coro/reactor.h"
#include "coro/runtime.h"
#include "coro/timeout.h"
#include "coronet/stats.h"
#include "kernel/uring_driver.h"
#include "nic/rss/port_selector.h"
#include "stack/engine.h"
#include "stack/tcp/tcp_layer.h"

namespace coronet {
namespace {

// SIGINT/SIGTERM call the stop function. The signals are blocked in all threads and taken by one
// watcher thread with sigwait(), so stopping needs nothing async-signal-safe. Made before any
// other thread exists (DPDK's EAL starts threads of its own), so every thread inherits the mask.
class SignalStop {
 public:
  SignalStop() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR2);  // our own wake-up at the end
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    watcher_ = std::thread([this] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set_, &sig) != 0 || sig == SIGUSR2) return;
        log::info("signal {}: stopping", sig);
        std::lock_guard<std::mutex> lock(mu_);
        signalled_.store(true);
        if (stop_) stop_();
      }
    });
  }
  // What a signal does from now on.
  void set_stop(std::function<void()> stop) {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = std::move(stop);
  }
  ~SignalStop() {
    pthread_kill(watcher_.native_handle(), SIGUSR2);
    watcher_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  // A signal came (possibly before the runtime could take a stop()).
  bool signalled() const { return signalled_.load(); }

 private:
  std::mutex mu_;
  std::function<void()> stop_;
  sigset_t set_;
  sigset_t old_;
  std::thread watcher_;
  std::atomic<bool> signalled_{false};
};

// Suspends forever: the run's main task waits here until the runtime stops and destroys it.
struct Forever {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  void await_resume() const noexcept {}
};

// How often each user-stack core copies its counters to the StatsBoard.
constexpr auto kStatsInterval = std::chrono::milliseconds(100);

CoreStats snapshot(const stack::tcp::TcpLayer& tcp, const stack::Engine& engine,
                   nic::Device& dev, std::uint16_t queue) {
  const auto& t = tcp.stats();
  const stack::EngineStats e = engine.stats();
  const auto& pool = dev.pool(queue).stats();
  CoreStats s;
  s.connections_opened = t.connections_opened;
  s.connections_reset = t.connections_reset;
  s.connections_timed_out = t.connections_timed_out;
  s.live_connections = tcp.connection_count();
  s.time_wait = t.time_wait;
  s.rx_segments = t.rx_segments;
  s.tx_segments = t.tx_segments;
  s.tx_retransmits = t.tx_retransmits;
  s.rto_expiries = t.rto_expiries;
  s.rx_no_connection = t.rx_no_connection;
  s.syn_cookies_sent = t.syn_cookies_sent;
  s.syn_cookies_accepted = t.syn_cookies_accepted;
  s.syn_dropped_backlog = t.syn_dropped_backlog;
  s.rx_memory_drops = t.rx_memory_drops;
  s.rx_frames = e.rx_frames;
  s.tx_frames = e.tx_frames;
  s.rx_device_drops = dev.rx_stats(queue).drops;
  s.tx_device_full = e.tx_device_full;
  s.pool_in_use = pool.in_use;
  s.pool_capacity = pool.capacity;
  return s;
}

// What one core owns while the server runs (built and destroyed on that core's thread).
struct Core {
  // user stack
  std::unique_ptr<stack::Engine> engine;
  std::unique_ptr<stack::tcp::TcpLayer> tcp;
  // kernel stack
  std::unique_ptr<kernel::UringDriver> driver;
  std::optional<Stack> stack;
};

// Everything run() shares between its cores: set up before the runtime starts, read-only after
// (each core touches only its own Core and its own StatsBoard slot).
struct Server {
  Server(const Options& o, const std::function<coro::Task<void>(Stack&)>& f)
      : options(o), serve(f) {}
  const Options& options;
  const std::function<coro::Task<void>(Stack&)>& serve;
  std::vector<std::unique_ptr<Core>> cores;
  std::atomic<bool> failed{false};
  // user stack
  nic::Device* device = nullptr;
  std::optional<nic::rss::Toeplitz> hash;
  std::optional<nic::rss::PortSelector> selector;
  std::optional<StatsBoard> board;
};

// Engines sharing one multi-queue device see ARP only on queue 0 (the device steers everything
// but TCP there): core 0 passes each translation its ARP cache confirms to the other cores.
coro::Task<void> share_arp(Server& server, stack::Ipv4Address ip, nic::MacAddress mac) {
  for (unsigned c = 1; c < server.cores.size(); ++c) {
    (void)co_await coro::submit_to(c, [&server, c, ip, mac] {
      server.cores[c]->engine->arp().learn(ip, mac);
    });
  }
}

void start_user_core(Server& s, unsigned c, coro::Reactor& reactor) {
  const Options& o = s.options;
  Core& core = *s.cores[c];
  const auto q = static_cast<std::uint16_t>(c);
  core.engine = std::make_unique<stack::Engine>(
      reactor, *s.device,
      stack::EngineConfig{.address = o.addr,
                          .prefix_len = o.prefix_len,
                          .gateway = o.gateway,
                          .queue = q,
                          .announce_on_start = c == 0});
  core.tcp = std::make_unique<stack::tcp::TcpLayer>(*core.engine);
  if (s.selector) core.tcp->set_port_selector(&*s.selector);
  if (c == 0 && s.cores.size() > 1) {
    core.engine->arp().set_learn_hook(
        [](void* ctx, stack::Ipv4Address ip, const nic::MacAddress& mac) {
          coro::spawn(share_arp(*static_cast<Server*>(ctx), ip, mac));
        },
        &s);
  }
  core.stack = Stack::user(*core.tcp, &*s.board);
  reactor.spawn([](Server& s, unsigned c, std::uint16_t q) -> coro::Task<void> {
    Core& core = *s.cores[c];
    for (;;) {
      s.board->publish(c, snapshot(*core.tcp, *core.engine, *s.device, q));
      (void)co_await coro::sleep_for(kStatsInterval);
    }
  }(s, c, q));
}

// --metrics-port: a minimal HTTP responder on each core (any request gets the Prometheus text of
// every core's counters, then the connection closes). For scrapers and curl, not for load.
coro::Task<void> serve_metrics(Stack& stack, std::uint16_t port, const StatsBoard& board) {
  auto listener = stack.listen(port);
  if (!listener) {
    log::error("metrics: listen on port {}: {}", port, listener.error().message());
    co_return;
  }
  if (coro::Runtime::current_core() == 0) log::info("metrics: Prometheus text on port {}", port);
  for (;;) {
    auto conn = co_await listener->accept();
    if (!conn) continue;
    coro::spawn([](Connection c, const StatsBoard& b) -> coro::Task<void> {
      // Read the request head (up to 4 KiB, 2 s), whatever it asks.
      std::array<std::byte, 4096> buf;
      std::size_t have = 0;
      while (have < buf.size()) {
        auto n = co_await coro::with_timeout(c.read(std::span(buf).subspan(have)), std::chrono::seconds(2));
        if (!n || *n == 0) break;
        have += *n;
        const std::string_view text(reinterpret_cast<const char*>(buf.data()), have);
        if (text.find("\r\n\r\n") != std::string_view::npos || text.find("\n\n") != std::string_view::npos) break;
      }
      const std::string body = b.prometheus("coronet");
      const std::string response = fmt::format(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n"
          "Connection: close\r\n\r\n{}",
          body.size(), body);
      (void)co_await c.write(std::as_bytes(std::span(response)));
      (void)co_await c.close();
    }(std::move(*conn), board));
  }
}

void stop_user_core(Server& s, unsigned c) {
  Core& core = *s.cores[c];
  if (core.tcp == nullptr) return;
  s.board->publish(c, snapshot(*core.tcp, *core.engine, *s.device, static_cast<std::uint16_t>(c)));
  core.tcp.reset();  // the TCP layer before the engine under it
  core.engine.reset();
}

bool start_kernel_core(Server& s, unsigned c, coro::Reactor& reactor) {
  auto driver = kernel::UringDriver::create(reactor);
  if (!driver) {
    log::error("core {}: io_uring: {}", c, driver.error().message());
    return false;
  }
  s.cores[c]->driver = std::move(*driver);
  s.cores[c]->stack = Stack::kernel(*s.cores[c]->driver);
  return true;
}

// Opens the device and prepares the RSS port choice (user stack). False after logging why not.
bool open_user_device(Server& s, std::unique_ptr<nic::Device>& owned) {
  const Options& o = s.options;
  auto dev = open_device(o);
  if (!dev) {
    log::error("{}: {}", o.nic, dev.error().message());
    return false;
  }
  owned = std::move(dev->device);
  s.device = owned.get();
  // Multi-queue: connect() on a core picks local ports whose replies the device steers back to
  // it (the Toeplitz function and the redirection table the device's steering uses).
  if (dev->steering) {
    s.hash.emplace(dev->steering->key);
    s.selector.emplace(*s.hash, dev->steering->reta);
  }
  s.board.emplace(o.cores);
  log::info("user stack: {} on {} ({}), {} core(s){}", o.addr.to_string(), o.nic,
            s.device->info().mac.to_string(), o.cores,
            o.cores > 1 ? ", flows steered by RSS" : "");
  return true;
}

void log_user_totals(const Server& s) {
  std::string per_core;
  for (unsigned c = 0; c < s.cores.size(); ++c) {
    per_core += fmt::format("{}core {}: {}", c == 0 ? "" : ", ", c,
                            s.board->read(c).connections_opened);
  }
  const CoreStats total = s.board->total();
  log::info("user stack: stopping; {} connections served ({}), {} retransmissions",
            total.connections_opened, per_core, total.tx_retransmits);
}

}  // namespace

int run(const Options& o, std::function<coro::Task<void>(Stack&)> serve) {
  SignalStop signals;
  Server s(o, serve);
  for (unsigned c = 0; c < o.cores; ++c) s.cores.push_back(std::make_unique<Core>());
  const bool user = o.stack == StackKind::kUser;
  std::unique_ptr<nic::Device> device;
  if (user && !open_user_device(s, device)) return 1;

  coro::IdleMode idle = o.idle;
  if (user && o.nic.starts_with("dpdk:") && idle != coro::IdleMode::kBusyPoll) {
    // A DPDK queue has no file descriptor to sleep on: its core polls it, as DPDK intends.
    log::info("{}: DPDK queues are polled continuously (one busy core per engine)", o.nic);
    idle = coro::IdleMode::kBusyPoll;
  }
  coro::RuntimeOptions ro{.cores = o.cores, .pin = o.cores > 1, .idle = idle};
  ro.on_core_start = [&s, user](unsigned c, coro::Reactor& reactor) {
    bool ok = false;
    try {
      ok = user ? (start_user_core(s, c, reactor), true) : start_kernel_core(s, c, reactor);
    } catch (const std::exception& e) {
      log::error("core {}: {}", c, e.what());
    }
    if (!ok) {
      s.failed.store(true);
      coro::Runtime::current()->stop();
      return;
    }
    reactor.spawn(s.serve(*s.cores[c]->stack));
    // On every core: the device steers each metrics connection to one of them.
    if (user && s.options.metrics_port != 0) {
      reactor.spawn(serve_metrics(*s.cores[c]->stack, s.options.metrics_port, *s.board));
    }
  };
  ro.on_core_stop = [&s, user](unsigned c) {
    // The core's tasks (and their connections) are gone; now what they used.
    if (user) stop_user_core(s, c);
    s.cores[c]->stack.reset();
    s.cores[c]->driver.reset();
  };
  coro::Runtime runtime(ro);
  signals.set_stop([&runtime] { runtime.stop(); });
  if (!user) log::info("kernel stack (io_uring) on {} core(s)", o.cores);
  runtime.run([&]() -> coro::Task<void> {
    if (signals.signalled()) runtime.stop();  // a signal that came before the runtime ran
    co_await Forever{};
  });
  signals.set_stop(nullptr);  // the runtime goes out of scope
  if (user) log_user_totals(s);
  return s.failed.load() ? 1 : 0;
}

}  // namespace coronet
