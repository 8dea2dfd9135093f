#include "coronet/run.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "coro/log.h"
#include "coro/reactor.h"
#include "kernel/uring_driver.h"
#include "coronet/stats.h"
#include "nic/rss/port_selector.h"
#include "stack/engine.h"
#include "stack/tcp/tcp_layer.h"

namespace coronet {
namespace {

// SIGINT/SIGTERM stop every registered reactor. The signals are blocked in all threads and taken
// by one watcher thread with sigwait(), so stopping needs nothing async-signal-safe.
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
        for (coro::Reactor* r : reactors_) r->stop();
        stopped_ = true;
      }
    });
  }
  ~SignalStop() {
    pthread_kill(watcher_.native_handle(), SIGUSR2);
    watcher_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void add(coro::Reactor* r) {
    std::lock_guard<std::mutex> lock(mu_);
    reactors_.push_back(r);
    if (stopped_) r->stop();
  }
  void remove(coro::Reactor* r) {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(reactors_, r);
  }

 private:
  sigset_t set_;
  sigset_t old_;
  std::thread watcher_;
  std::mutex mu_;
  std::vector<coro::Reactor*> reactors_;
  bool stopped_ = false;
};

void pin_to_cpu(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// One core of the kernel stack: its reactor, its io_uring, `serve` on them until stopped.
int kernel_core(unsigned core, const Options& o,
                const std::function<coro::Task<void>(Stack&)>& serve, SignalStop& signals) {
  if (o.cores > 1) pin_to_cpu(core);
  coro::Reactor reactor(coro::ReactorOptions{.core = core, .idle = o.idle});
  auto driver = kernel::UringDriver::create(reactor);
  if (!driver) {
    log::error("core {}: io_uring: {}", core, driver.error().message());
    return 1;
  }
  Stack stack = Stack::kernel(**driver);
  signals.add(&reactor);
  reactor.spawn(serve(stack));
  reactor.run();
  signals.remove(&reactor);
  reactor.shutdown();  // the core's tasks (and their connections) go before the driver
  return 0;
}

// Engines sharing one multi-queue device see ARP only on queue 0 (the device steers everything
// but TCP there). Core 0's ARP cache reports each translation it confirms, and every other core
// takes them from its inbox: a poll source on that core's reactor, so learn() runs on the core
// that owns the cache. Control plane only (a handful of neighbours), so a mutex is fine; the
// reactor's poll costs one atomic exchange per iteration.
class ArpInbox final : public coro::PollSource {
 public:
  void attach(coro::Reactor& reactor, stack::arp::ArpCache& arp) {
    reactor_ = &reactor;
    arp_ = &arp;
    reactor.add_poll_source(this);
  }
  void detach() {
    if (reactor_ != nullptr) reactor_->remove_poll_source(this);
  }
  // Any thread, after attach().
  void post(stack::Ipv4Address ip, const nic::MacAddress& mac) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      items_.emplace_back(ip, mac);
    }
    pending_.store(true, std::memory_order_release);
    reactor_->wake();
  }
  bool poll() override {
    if (!pending_.exchange(false, std::memory_order_acq_rel)) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      taken_.swap(items_);
    }
    for (const auto& [ip, mac] : taken_) arp_->learn(ip, mac);
    taken_.clear();
    return true;
  }

 private:
  coro::Reactor* reactor_ = nullptr;
  stack::arp::ArpCache* arp_ = nullptr;
  std::atomic<bool> pending_{false};
  std::mutex mu_;
  std::vector<std::pair<stack::Ipv4Address, nic::MacAddress>> items_;
  std::vector<std::pair<stack::Ipv4Address, nic::MacAddress>> taken_;
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

// One user-stack core: its reactor, its engine on device queue `core`, its TCP, `serve` on them.
// Its counters go to `board` every kStatsInterval and when it stops.
void user_core(unsigned core, const Options& o, nic::Device& dev,
                               const nic::rss::PortSelector* selector, StatsBoard& board,
                               std::vector<std::unique_ptr<ArpInbox>>& inboxes,
                               std::latch& ready,
                               const std::function<coro::Task<void>(Stack&)>& serve,
                               SignalStop& signals) {
  if (o.cores > 1) pin_to_cpu(core);
  coro::Reactor reactor(coro::ReactorOptions{.core = core, .idle = o.idle});
  stack::Engine engine(reactor, dev,
                       stack::EngineConfig{.address = o.addr,
                                           .prefix_len = o.prefix_len,
                                           .gateway = o.gateway,
                                           .queue = static_cast<std::uint16_t>(core),
                                           .announce_on_start = core == 0});
  stack::tcp::TcpLayer tcp(engine);
  tcp.set_port_selector(selector);
  if (core == 0) {
    engine.arp().set_learn_hook(
        [](void* ctx, stack::Ipv4Address ip, const nic::MacAddress& mac) {
          auto& all = *static_cast<std::vector<std::unique_ptr<ArpInbox>>*>(ctx);
          for (std::size_t c = 1; c < all.size(); ++c) all[c]->post(ip, mac);
        },
        &inboxes);
  } else {
    inboxes[core]->attach(reactor, engine.arp());
  }
  // Every inbox is attached before core 0 runs (and so before it can post to one).
  ready.arrive_and_wait();
  Stack stack = Stack::user(tcp, &board);
  signals.add(&reactor);
  const auto q = static_cast<std::uint16_t>(core);
  reactor.spawn([](StatsBoard& b, unsigned c, stack::tcp::TcpLayer& t, stack::Engine& e,
                   nic::Device& d, std::uint16_t q) -> coro::Task<void> {
    for (;;) {
      b.publish(c, snapshot(t, e, d, q));
      co_await coro::sleep_for(kStatsInterval);
    }
  }(board, core, tcp, engine, dev, q));
  reactor.spawn(serve(stack));
  reactor.run();
  signals.remove(&reactor);
  reactor.shutdown();  // tasks and their connections before the TCP layer and engine
  board.publish(core, snapshot(tcp, engine, dev, q));
  if (core != 0) inboxes[core]->detach();
}

int run_user(const Options& o, const std::function<coro::Task<void>(Stack&)>& serve,
             SignalStop& signals) {
  auto dev = open_device(o);
  if (!dev) {
    log::error("{}: {}", o.nic, dev.error().message());
    return 1;
  }
  nic::Device& device = *dev->device;
  // Multi-queue: connect() on a core picks local ports whose replies the device steers back to
  // it (the Toeplitz function and the redirection table the device's steering uses).
  std::optional<nic::rss::Toeplitz> hash;
  std::optional<nic::rss::PortSelector> selector;
  if (dev->steering) {
    hash.emplace(dev->steering->key);
    selector.emplace(*hash, dev->steering->reta);
  }
  log::info("user stack: {} on {} ({}), {} core(s){}", o.addr.to_string(), o.nic,
            o.mac.to_string(), o.cores, o.cores > 1 ? ", flows steered by RSS" : "");
  std::vector<std::unique_ptr<ArpInbox>> inboxes;
  for (unsigned c = 0; c < o.cores; ++c) inboxes.push_back(std::make_unique<ArpInbox>());
  std::latch ready(o.cores);
  StatsBoard board(o.cores);
  const nic::rss::PortSelector* sel = selector ? &*selector : nullptr;
  std::vector<std::thread> threads;
  for (unsigned c = 1; c < o.cores; ++c) {
    threads.emplace_back([&, c] {
      user_core(c, o, device, sel, board, inboxes, ready, serve, signals);
    });
  }
  user_core(0, o, device, sel, board, inboxes, ready, serve, signals);
  for (auto& t : threads) t.join();
  // Every core published its last counters when it stopped.
  std::string per_core;
  for (unsigned c = 0; c < o.cores; ++c) {
    per_core += fmt::format("{}core {}: {}", c == 0 ? "" : ", ", c,
                            board.read(c).connections_opened);
  }
  const CoreStats total = board.total();
  log::info("user stack: stopping; {} connections served ({}), {} retransmissions",
            total.connections_opened, per_core, total.tx_retransmits);
  return 0;
}

}  // namespace

int run(const Options& o, std::function<coro::Task<void>(Stack&)> serve) {
  SignalStop signals;
  if (o.stack == StackKind::kUser) return run_user(o, serve, signals);
  log::info("kernel stack (io_uring) on {} core(s)", o.cores);
  std::vector<int> status(o.cores, 0);
  std::vector<std::thread> threads;
  for (unsigned c = 1; c < o.cores; ++c) {
    threads.emplace_back([&, c] { status[c] = kernel_core(c, o, serve, signals); });
  }
  status[0] = kernel_core(0, o, serve, signals);
  for (auto& t : threads) t.join();
  for (int s : status) {
    if (s != 0) return s;
  }
  return 0;
}

}  // namespace coronet
