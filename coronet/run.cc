#include "coronet/run.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "coro/log.h"
#include "coro/reactor.h"
#include "kernel/uring_driver.h"
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

int run_user(const Options& o, const std::function<coro::Task<void>(Stack&)>& serve,
             SignalStop& signals) {
  auto dev = open_device(o);
  if (!dev) {
    log::error("{}: {}", o.nic, dev.error().message());
    return 1;
  }
  coro::Reactor reactor(coro::ReactorOptions{.idle = o.idle});
  stack::Engine engine(reactor, **dev,
                       stack::EngineConfig{.address = o.addr,
                                           .prefix_len = o.prefix_len,
                                           .gateway = o.gateway});
  stack::tcp::TcpLayer tcp(engine);
  Stack stack = Stack::user(tcp);
  log::info("user stack: {} on {} ({})", o.addr.to_string(), o.nic, o.mac.to_string());
  signals.add(&reactor);
  reactor.spawn(serve(stack));
  reactor.run();
  signals.remove(&reactor);
  log::info("user stack: stopping; {} connections served, {} retransmissions",
            tcp.stats().connections_opened, tcp.stats().tx_retransmits);
  reactor.shutdown();  // tasks and their connections before the TCP layer and engine
  return 0;
}

}  // namespace

int run(const Options& o, std::function<coro::Task<void>(Stack&)> serve) {
  if (o.stack == StackKind::kUser && o.cores != 1) {
    log::error("--stack=user --nic={} runs on one core: a TAP device has a single queue, so "
               "there is nothing to spread over more (use --stack=kernel for --cores={})",
               o.nic, o.cores);
    return 2;
  }
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
