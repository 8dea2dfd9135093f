#include "coro/runtime.h"

#include <pthread.h>
#include <sched.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

#include "coro/log.h"

namespace coronet::coro {
namespace detail {

constexpr std::size_t kRingCapacity = 1024;
using Ring = SpscRing<CrossCoreMessage*, kRingCapacity>;

// Everything one core owns: its reactor, its outbound rings (one per other core) with overflow
// lists, and the poll source that flushes outbound and drains inbound once per iteration.
class CoreContext final : public PollSource {
 public:
  CoreContext(Runtime& rt, unsigned core, unsigned n)
      : rt_(rt), core_(core), outbound_(n), overflow_head_(n, nullptr), overflow_tail_(n, nullptr) {
    for (unsigned i = 0; i < n; ++i) outbound_[i] = std::make_unique<Ring>();
  }

  // Producer side, on this core.
  void enqueue(CrossCoreMessage* m, unsigned to) {
    if (overflow_head_[to] == nullptr && outbound_[to]->try_push(m)) {
      dirty_ = true;
      return;
    }
    // Ring full (or older messages already waiting): keep order, retry at the next flush.
    m->next_overflow = nullptr;
    if (overflow_tail_[to] != nullptr) {
      overflow_tail_[to]->next_overflow = m;
    } else {
      overflow_head_[to] = m;
    }
    overflow_tail_[to] = m;
    dirty_ = true;
  }

  // Publishes everything staged this iteration, one release store per destination ring, and wakes
  // destinations that sleep.
  bool flush() {
    if (!dirty_) return false;
    dirty_ = false;
    bool moved = false;
    for (unsigned to = 0; to < outbound_.size(); ++to) {
      Ring& ring = *outbound_[to];
      while (CrossCoreMessage* m = overflow_head_[to]) {
        if (!ring.try_push(m)) {
          dirty_ = true;  // still full: try again next iteration
          break;
        }
        overflow_head_[to] = m->next_overflow;
        if (overflow_head_[to] == nullptr) overflow_tail_[to] = nullptr;
      }
      if (ring.staged() == 0) continue;
      ring.publish();
      moved = true;
      rt_.contexts_[to]->reactor_->wake_if_sleeping();
    }
    return moved;
  }

  // Messages that did not fit in a full ring wait here: come back soon to retry rather than
  // sleeping until woken (the consumer frees space without telling us).
  std::optional<TimePoint> next_event() const override {
    if (!dirty_) return std::nullopt;
    return reactor_->now() + std::chrono::microseconds(20);
  }

  bool poll() override {
    bool progress = flush();
    std::array<CrossCoreMessage*, 64> batch;
    for (unsigned from = 0; from < rt_.contexts_.size(); ++from) {
      if (from == core_) continue;
      Ring& ring = *rt_.contexts_[from]->outbound_[core_];
      std::size_t n;
      while ((n = ring.pop_n(batch)) > 0) {
        progress = true;
        for (std::size_t i = 0; i < n; ++i) {
          CrossCoreMessage* m = batch[i];
          if (m->is_reply) {
            m->waiter->complete();  // resumes the submitter in this reactor's next batch
          } else {
            m->run_on_target(m);
          }
        }
      }
    }
    progress |= flush();  // replies produced by synchronous work above
    return progress;
  }

  Runtime& rt_;
  unsigned core_;
  Reactor* reactor_ = nullptr;
  std::vector<std::unique_ptr<Ring>> outbound_;
  std::vector<CrossCoreMessage*> overflow_head_;
  std::vector<CrossCoreMessage*> overflow_tail_;
  bool dirty_ = false;
};

namespace {
thread_local Runtime* tls_runtime = nullptr;
thread_local int tls_core = -1;
}  // namespace

void reply(CrossCoreMessage* msg) {
  msg->is_reply = true;
  Runtime::current()->send(msg);
}

}  // namespace detail

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {
  if (options_.cores == 0) throw std::invalid_argument("Runtime: cores must be at least 1");
  if (!options_.cpus.empty() && options_.cpus.size() != options_.cores) {
    throw std::invalid_argument("Runtime: cpus lists " + std::to_string(options_.cpus.size()) +
                                " CPUs for " + std::to_string(options_.cores) + " cores");
  }
}

Runtime::~Runtime() = default;

Runtime* Runtime::current() { return detail::tls_runtime; }
int Runtime::current_core() { return detail::tls_core; }

void Runtime::send(detail::CrossCoreMessage* msg) {
  unsigned to = msg->is_reply ? msg->origin : msg->target;
  contexts_[detail::tls_core]->enqueue(msg, to);
}

void Runtime::stop() {
  stopping_.store(true, std::memory_order_release);
  std::lock_guard lock(reactors_mu_);
  for (auto& c : contexts_) {
    if (c->reactor_ != nullptr) c->reactor_->stop();
  }
}

namespace detail {
// Phases every core passes together, so no core tears down while another may still touch it.
struct Phases {
  explicit Phases(std::ptrdiff_t n) : started(n), stopped(n) {}
  std::barrier<> started;  // every reactor exists: messages may go anywhere
  std::barrier<> stopped;  // no loop runs anymore: nobody reads a ring or a frame of another core
};
}  // namespace detail

void Runtime::run_cores(std::function<Task<void>()> main_body) {
  if (running_.exchange(true)) throw TaskError("Runtime::run: already running");
  stopping_.store(false);
  contexts_.clear();
  for (unsigned i = 0; i < options_.cores; ++i) {
    contexts_.push_back(std::make_unique<detail::CoreContext>(*this, i, options_.cores));
  }
  unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  if (options_.pin && options_.cores > hw) {
    log::warn("runtime: {} cores on {} CPUs: cores share CPUs", options_.cores, hw);
  }
  detail::Phases phases(options_.cores);
  std::vector<std::thread> threads;
  threads.reserve(options_.cores);
  for (unsigned i = 0; i < options_.cores; ++i) {
    threads.emplace_back([this, i, &main_body, &phases] { core_thread(i, main_body, phases); });
  }
  for (auto& t : threads) t.join();
  contexts_.clear();
  running_.store(false);
}

void Runtime::core_thread(unsigned core, std::function<Task<void>()>& main_body,
                          detail::Phases& phases) {
  if (options_.pin) {
    unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    int cpu = options_.cpus.empty() ? static_cast<int>(core % hw) : options_.cpus[core];
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set); rc != 0) {
      log::warn("runtime: cannot pin core {} to CPU {}: {}", core, cpu, std::strerror(rc));
    }
  }
  detail::tls_runtime = this;
  detail::tls_core = static_cast<int>(core);
  detail::CoreContext& ctx = *contexts_[core];
  {
    Reactor reactor(ReactorOptions{.core = core,
                                   .clock = nullptr,
                                   .timer_tick = options_.timer_tick,
                                   .idle = options_.idle,
                                   .spin_before_sleep = options_.spin_before_sleep});
    {
      std::lock_guard lock(reactors_mu_);
      ctx.reactor_ = &reactor;
    }
    reactor.add_poll_source(&ctx);
    if (options_.on_core_start) {
      try {
        options_.on_core_start(core, reactor);
      } catch (const std::exception& e) {
        log::error("runtime: core {} start-up failed: {}", core, e.what());
        stop();
      }
    }
    phases.started.arrive_and_wait();
    if (stopping()) reactor.stop();  // stop() before every core existed
    if (core == 0) reactor.spawn(main_body());
    reactor.run();
    phases.stopped.arrive_and_wait();
    reactor.shutdown();  // this core's unfinished tasks, destroyed on their own thread
    if (options_.on_core_stop) {
      try {
        options_.on_core_stop(core);
      } catch (const std::exception& e) {
        log::error("runtime: core {} tear-down failed: {}", core, e.what());
      }
    }
    reactor.remove_poll_source(&ctx);
    std::lock_guard lock(reactors_mu_);
    ctx.reactor_ = nullptr;
  }
  detail::tls_runtime = nullptr;
  detail::tls_core = -1;
}

}  // namespace coronet::coro
