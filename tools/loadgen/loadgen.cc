// loadgen: a load generator on coronet itself. The same binary drives a server over coronet's
// user-level TCP (a TAP or DPDK NIC it opens) or over the kernel's TCP (io_uring), one engine per
// core:
//   loadgen --stack=kernel --cores=2 --target=127.0.0.1:7 --mode=keepalive --duration=5
//   loadgen --nic=tap:lg0 --addr=198.18.6.2/24 --target=198.18.6.1:80 --mode=http --pipeline=4
// Prints requests, requests/s, connections/s, latency percentiles and errors by kind (text, or
// one JSON object on stdout with --json) and a progress line on stderr every second.
// Exit status: 0 when every request in the window succeeded; 3 when some failed or none
// succeeded (the results are printed all the same); 1 when the stack could not be set up or
// --wait expired; 2 for bad arguments.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "coronet/run.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/load_run.h"

namespace {

using coronet::loadgen::LoadRun;

// Prints the usage text to `out`.
void usage(FILE* out) {
  std::fprintf(out,
               "usage: loadgen [coronet options] --target=A.B.C.D:PORT --mode=short|keepalive|http "
               "[options]\ncoronet options:\n%sload options:\n%s"
               "exit status: 0 all requests succeeded, 3 some failed or none succeeded (results "
               "printed), 1 set-up failed or --wait expired, 2 bad arguments\n",
               coronet::options_usage().c_str(), coronet::loadgen::config_usage().c_str());
}

// Prints requests/s and errors to stderr once a second until stop(), from its own thread (with
// SIGINT/SIGTERM blocked: those belong to coronet::run's signal watcher).
class ProgressLine {
 public:
  // Starts the thread.
  explicit ProgressLine(const LoadRun& run) : run_(run), thread_([this] { loop(); }) {}
  // Stops and joins it.
  ~ProgressLine() { stop(); }
  // Ends the thread (idempotent).
  void stop() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  // One line per second: the rate over the last second, totals so far.
  void loop() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::uint64_t last = 0;
    unsigned second = 0;
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) {
      const auto [requests, errors] = run_.progress();
      std::fprintf(stderr, "loadgen: %us: %llu requests/s, %llu requests, %llu errors so far\n",
                   ++second, static_cast<unsigned long long>(requests - last),
                   static_cast<unsigned long long>(requests),
                   static_cast<unsigned long long>(errors));
      last = requests;
    }
  }

  const LoadRun& run_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

// coronet's options, then ours; run; report; exit status as documented at the top.
int main(int argc, char** argv) {
  auto opts = coronet::parse_options(argc, argv, 7);
  if (!opts) {
    std::fprintf(stderr, "loadgen: %s\n", opts.error().message().c_str());
    usage(stderr);
    return 2;
  }
  auto config = coronet::loadgen::parse_config(opts->rest);
  if (!config) {
    std::fprintf(stderr, "loadgen: %s\n", config.error().message().c_str());
    usage(stderr);
    return 2;
  }
  if (config->help) {
    usage(stdout);
    return 0;
  }
  LoadRun load(*config, opts->cores);
  int rc = 0;
  {
    ProgressLine progress(load);
    rc = coronet::run(*opts, [&load](coronet::Stack& stack) { return load.serve(stack); });
  }
  if (rc != 0) {
    std::fprintf(stderr, "loadgen: the %s stack could not be set up (see the log above)\n",
                 coronet::stack_kind_name(opts->stack));
    return 1;
  }
  if (load.target_unreachable()) {
    std::fprintf(stderr, "loadgen: %s did not accept a connection within --wait: %s\n",
                 config->target.to_string().c_str(), load.wait_error().c_str());
    return 1;
  }
  const coronet::loadgen::Report report = load.report(opts->stack);
  const std::string text = coronet::loadgen::format_text(report);
  if (config->json) {
    std::fputs(text.c_str(), stderr);
    std::printf("%s\n", coronet::loadgen::format_json(report).c_str());
  } else {
    std::fputs(text.c_str(), stdout);
  }
  std::fflush(stdout);
  const bool clean =
      report.total.error_total() == 0 && report.total.requests > 0 && !report.overran;
  return clean ? 0 : 3;
}
