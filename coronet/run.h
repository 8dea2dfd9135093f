// Running a server on whichever stack the command line chose:
//
//   int main(int argc, char** argv) {
//     auto options = coronet::parse_options(argc, argv, 7);   // --stack, --cores, --nic, ...
//     if (!options) { ...print options.error() and coronet::options_usage()... }
//     return coronet::run(*options, [](coronet::Stack& stack) -> coronet::coro::Task<void> {
//       auto listener = stack.listen(7);                      // on every core
//       for (;;) { auto conn = co_await listener->accept(); ... }
//     });
//   }
//
// `serve` runs once per core with that core's Stack, until SIGINT/SIGTERM stops every core (its
// tasks are then destroyed, connections closed). Cores share nothing:
//   --stack=kernel  one thread per core, each with its reactor and io_uring; listeners on the same
//                   port use SO_REUSEPORT, so the kernel spreads connections over the cores;
//   --stack=user    one coronet engine per core, each owning one queue of the --nic device
//                   (a multi-queue TAP whose kernel side steers flows by RSS: an eBPF program
//                   computing the symmetric Toeplitz hash), its own connections, timers, pools
//                   and listener clone; connect() picks local ports whose replies come back to
//                   the calling core. ARP arrives on queue 0; core 0 passes what it learns on.
#pragma once

#include <functional>

#include "coro/task.h"
#include "coronet/options.h"
#include "coronet/socket.h"

namespace coronet {

// Returns the process exit status: 0 after a clean stop, 1 when a stack could not be set up
// (the reason is logged), 2 for options this build cannot honour.
int run(const Options& options, std::function<coro::Task<void>(Stack&)> serve);

}  // namespace coronet
