// Sharded<T>: one instance of T per core, each constructed, used and destroyed on its own core.
// local() is a plain pointer dereference; other cores reach an instance only through
// invoke_on()/invoke_on_all(), i.e. through submit_to, never by sharing memory.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "coro/runtime.h"

namespace coronet::coro {

template <typename T>
class Sharded {
 public:
  Sharded() = default;
  Sharded(const Sharded&) = delete;
  Sharded& operator=(const Sharded&) = delete;

  // Constructs T(args...) on every core (args are copied to each core). Call from a runtime core.
  template <typename... A>
  Task<Result<void>> start(A... args) {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) co_return Error(Errc::kNotOnReactor, "Sharded::start outside a runtime");
    if (!instances_.empty()) co_return Error(Errc::kInvalidArgument, "Sharded already started");
    instances_.resize(rt->cores());
    for (unsigned c = 0; c < rt->cores(); ++c) {
      auto r = co_await submit_to(c, [this, c, args...] {
        instances_[c] = std::make_unique<T>(args...);
      });
      if (!r) co_return r;
    }
    co_return Result<void>{};
  }

  // Destroys every instance on its own core.
  Task<Result<void>> stop() {
    for (unsigned c = 0; c < instances_.size(); ++c) {
      auto r = co_await submit_to(c, [this, c] { instances_[c].reset(); });
      if (!r) co_return r;
    }
    instances_.clear();
    co_return Result<void>{};
  }

  bool started() const { return !instances_.empty(); }

  // This core's instance. Throws TaskError when not started or not on a runtime core.
  T& local() {
    int core = Runtime::current_core();
    if (core < 0 || static_cast<std::size_t>(core) >= instances_.size() || !instances_[core]) {
      throw TaskError("Sharded::local: not started, or not called on a runtime core");
    }
    return *instances_[core];
  }

  // Runs fn(instance) on `core`; Result of fn's return value (kNoSuchCore for a bad core).
  template <typename F>
  auto invoke_on(unsigned core, F fn) {
    return submit_to(core, [this, core, fn = std::move(fn)]() mutable {
      return fn(*instances_.at(core));
    });
  }

  // Runs fn(instance) on every core, one after another; stops at the first error.
  template <typename F>
  Task<Result<void>> invoke_on_all(F fn) {
    for (unsigned c = 0; c < instances_.size(); ++c) {
      auto r = co_await submit_to(c, [this, c, &fn] { fn(*instances_[c]); });
      if (!r) co_return r;
    }
    co_return Result<void>{};
  }

 private:
  std::vector<std::unique_ptr<T>> instances_;
};

}  // namespace coronet::coro
