// Test-network helpers: a network namespace the test itself creates (and always deletes), in which
// kernel peers live. Addresses inside come from 198.18.0.0/15 (see ../shared/DESIGN.md). Needs root
// (CI runs as root); tag such tests ["no-sandbox", "exclusive"].
#pragma once

#include <sched.h>

#include <string>

#include "coro/result.h"

namespace coronet::testing {

class NetNs {
 public:
  // Creates "coronet-<tag>-<pid>" with its loopback up. A stale namespace of the same name (a
  // crashed earlier run of this pid) is removed first.
  static Result<NetNs> create(const std::string& tag);

  NetNs(NetNs&& o) noexcept;
  NetNs& operator=(NetNs&&) = delete;
  NetNs(const NetNs&) = delete;
  ~NetNs();  // deletes the namespace (and everything in it)

  const std::string& name() const { return name_; }

  // Runs a shell command inside the namespace (`ip netns exec`), returning its stdout, or an error
  // with the exit status and output.
  Result<std::string> exec(const std::string& command) const;

  // While alive, the calling thread lives in the namespace (sockets, TAP devices and DPDK's
  // net_tap PMD created meanwhile belong to it). Restores the previous namespace on destruction.
  class Enter {
   public:
    explicit Enter(const NetNs& ns);
    ~Enter();
    Enter(const Enter&) = delete;
    Enter& operator=(const Enter&) = delete;
    bool ok() const { return ok_; }
    const std::string& error() const { return error_; }

   private:
    int saved_fd_ = -1;
    bool ok_ = false;
    std::string error_;
  };

 private:
  explicit NetNs(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// Runs a shell command in the current namespace; stdout or an error with status and output.
Result<std::string> shell(const std::string& command);

}  // namespace coronet::testing
