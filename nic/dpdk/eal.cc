// EAL bring-up, once per process. rte_eal_init parses its options with getopt, pins the calling
// thread, starts service threads and cannot be called twice (not even after a failure), so
// coronet guards it here and remembers both the arguments and any failure.
#include <dirent.h>
#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "coro/log.h"
#include "nic/dpdk/dpdk_device.h"

namespace coronet::nic {
namespace {

enum class EalState { kNotYet, kUp, kFailed };

struct Eal {
  std::mutex mu;
  EalState state = EalState::kNotYet;
  std::vector<std::string> args;
  std::string failure;
  std::vector<std::string> argv_storage;  // what rte_eal_init saw, kept for the process
  std::vector<char*> argv;
};

// Never destroyed: EAL (and DpdkDevices in static storage) may outlive static destructors.
Eal& eal() {
  static Eal* e = new Eal;
  return *e;
}

std::string join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return "[" + s + "]";
}

bool has_option(const std::vector<std::string>& args, const std::string& opt) {
  return std::any_of(args.begin(), args.end(),
                     [&](const std::string& a) { return a == opt || a.rfind(opt + "=", 0) == 0; });
}

// Free huge pages of any size, from sysfs; 0 when there are none (or sysfs says nothing).
long free_hugepages() {
  long total = 0;
  const char* base = "/sys/kernel/mm/hugepages";
  DIR* dir = opendir(base);
  if (dir == nullptr) return 0;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name.rfind("hugepages-", 0) != 0) continue;
    std::ifstream in(std::string(base) + "/" + name + "/free_hugepages");
    long n = 0;
    if (in >> n) total += n;
  }
  closedir(dir);
  return total;
}

std::string init_failure_text(const std::vector<std::string>& args, int err) {
  std::string text = "rte_eal_init" + join(args) + " failed: " + rte_strerror(err);
  if (!has_option(args, "--no-huge") && free_hugepages() == 0) {
    return "no hugepages: add --no-huge -m 256 to the EAL args (" + text + ")";
  }
  if (err == EALREADY) return text + " (EAL was initialised outside coronet's DpdkDevice)";
  if (err == EINVAL) return text + " (EAL printed which option it rejected above)";
  return text;
}

// EAL creates /var/run/dpdk/<file-prefix>/ and leaves it behind, empty, even after
// rte_eal_cleanup; with a per-process prefix these pile up. Registered before rte_eal_init, so it
// runs after EAL's own exit handlers (telemetry unlinks its socket there); rmdir only removes an
// empty directory, so a directory another process still uses is safe.
void remove_empty_runtime_dir() {
  const char* dir = rte_eal_get_runtime_dir();
  if (dir != nullptr && dir[0] != '\0') (void)rmdir(dir);
}

// The ports EAL knows; EAL must be up.
std::string describe_ports_unlocked() {
  std::string s;
  std::uint16_t port;
  RTE_ETH_FOREACH_DEV(port) {
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_info info{};
    (void)rte_eth_dev_get_name_by_port(port, name);
    bool have_info = rte_eth_dev_info_get(port, &info) == 0 && info.driver_name != nullptr;
    if (!s.empty()) s += ", ";
    s += std::to_string(port) + " " + name;
    if (have_info) s += std::string(" (") + info.driver_name + ")";
  }
  return s.empty() ? "none" : s;
}

}  // namespace

Result<void> dpdk_init_eal(const std::vector<std::string>& eal_args) {
  Eal& e = eal();
  std::lock_guard lock(e.mu);
  switch (e.state) {
    case EalState::kUp:
      if (eal_args == e.args) return {};
      return Error(Errc::kInvalidArgument,
                   "EAL is process-wide and already initialised with " + join(e.args) +
                       "; this DpdkConfig asks for " + join(eal_args) +
                       ": pass the same eal_args to every create() in a process");
    case EalState::kFailed:
      return Error(
          Errc::kInvalidArgument,
          "EAL initialisation failed earlier in this process and cannot be retried: " + e.failure);
    case EalState::kNotYet:
      break;
  }

  // EAL may keep pointers into argv (and getopt permutes it): the strings live for the process.
  std::vector<std::string>& storage = e.argv_storage;
  storage.push_back("coronet");
  storage.insert(storage.end(), eal_args.begin(), eal_args.end());
  std::vector<char*>& argv = e.argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  std::atexit(remove_empty_runtime_dir);
  cpu_set_t saved;
  bool have_saved = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
  int rc = rte_eal_init(static_cast<int>(storage.size()), argv.data());
  int err = rte_errno;
  // rte_eal_init pinned this thread to the main lcore; give the caller its CPUs back.
  if (have_saved) (void)pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
  if (rc < 0) {
    e.state = EalState::kFailed;
    e.failure = init_failure_text(eal_args, err);
    log::error("dpdk: {}", e.failure);
    return Error(Errc::kInvalidArgument, e.failure);
  }
  e.state = EalState::kUp;
  e.args = eal_args;
  log::info("dpdk: EAL up with {}; ports: {}", join(eal_args), describe_ports_unlocked());
  return {};
}

std::string dpdk_describe_ports() {
  Eal& e = eal();
  std::lock_guard lock(e.mu);
  if (e.state != EalState::kUp) return "none (EAL not initialised)";
  return describe_ports_unlocked();
}

Result<void> dpdk_register_thread() {
  if (rte_lcore_id() != LCORE_ID_ANY) return {};  // an EAL thread or registered already
  if (rte_thread_register() != 0) {
    return Error(Errc::kResourceExhausted,
                 std::string("rte_thread_register failed: ") + rte_strerror(rte_errno));
  }
  return {};
}

}  // namespace coronet::nic
