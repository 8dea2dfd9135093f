// echo_server: echoes on --port (default 7), on coronet's own TCP over a TAP device or on the
// kernel's TCP through io_uring:
//   sudo ip netns exec NS echo_server --nic=tap:cn0 --addr=198.18.0.2/24    (user stack)
//   echo_server --stack=kernel --cores=2                                     (kernel stack)
// SIGINT/SIGTERM stop it cleanly.
#include <cstdio>

#include "coronet/run.h"
#include "examples/echo/echo.h"

int main(int argc, char** argv) {
  using namespace coronet;
  auto opts = parse_options(argc, argv, 7);
  if (!opts || !opts->rest.empty()) {
    std::fprintf(stderr, "echo_server: %s\nusage: echo_server [options]\n%s",
                 opts ? ("unknown argument " + opts->rest.front()).c_str()
                      : opts.error().message().c_str(),
                 options_usage().c_str());
    return 2;
  }
  const std::uint16_t port = opts->port;
  return run(*opts, [port](Stack& stack) { return examples::run_server(stack, port); });
}
