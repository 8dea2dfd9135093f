// echo_server: coronet's own TCP stack over a TAP device, echoing on --port (default 7).
//   sudo ip netns exec NS echo_server --nic=tap:cn0 --addr=198.18.0.2/24
// SIGINT/SIGTERM stop it cleanly.
#include <csignal>
#include <cstdio>

#include "coro/log.h"
#include "coro/reactor.h"
#include "examples/common/net_options.h"
#include "examples/echo/echo.h"
#include "stack/engine.h"
#include "stack/tcp/tcp_layer.h"

namespace {
coronet::coro::Reactor* g_reactor = nullptr;
void on_signal(int) {
  if (g_reactor != nullptr) g_reactor->stop();  // atomic flag + wake: async-signal-safe
}
}  // namespace

int main(int argc, char** argv) {
  using namespace coronet;
  auto opts = examples::parse_net_options(argc, argv, 7);
  if (!opts || !opts->rest.empty()) {
    std::fprintf(stderr, "echo_server: %s\nusage: echo_server [options]\n%s",
                 opts ? ("unknown argument " + opts->rest.front()).c_str()
                      : opts.error().message().c_str(),
                 examples::net_options_usage().c_str());
    return 2;
  }
  auto dev = examples::open_device(*opts);
  if (!dev) {
    std::fprintf(stderr, "echo_server: %s\n", dev.error().message().c_str());
    return 1;
  }
  coro::Reactor reactor(coro::ReactorOptions{.idle = opts->idle});
  stack::Engine engine(reactor, **dev,
                       stack::EngineConfig{.address = opts->addr,
                                           .prefix_len = opts->prefix_len,
                                           .gateway = opts->gateway});
  stack::tcp::TcpLayer tcp(engine);
  g_reactor = &reactor;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  log::info("echo_server: {} on {} ({})", opts->addr.to_string(), opts->nic,
            opts->mac.to_string());
  reactor.spawn(examples::run_server(tcp, opts->port));
  reactor.run();
  log::info("echo_server: stopping; {} connections served, {} retransmissions",
            tcp.stats().connections_opened, tcp.stats().tx_retransmits);
  reactor.shutdown();
  g_reactor = nullptr;
  return 0;
}
