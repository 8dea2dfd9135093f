// Command-line options of a coronet program (the examples, the load generator, yours):
//   --stack=user|kernel      coronet's own TCP (default) or the kernel's through io_uring
//   --cores=N                engines (reactor threads), one per core (default 1)
//   --nic=tap:IFACE          user stack: a TAP device (created by this process), one queue per
//                            core; the kernel steers flows over the queues by RSS (an eBPF program)
//   --nic=dpdk:PORT          user stack: a DPDK ethdev port (named, e.g. net_tap0), one queue per
//   --eal='ARGS'             core, RSS programmed with the same key; EAL arguments space-separated
//   --addr=A.B.C.D/N         coronet's address and on-link prefix (default 198.18.0.2/24)
//   --gateway=A.B.C.D        default route
//   --mac=02:..              coronet's MAC (default 02:00:00:00:00:02)
//   --port=N                 service port
//   --busy-poll              never sleep (dedicated core); default: sleep on the device fd
//   --metrics-port=N         user stack: every core's counters as Prometheus text over HTTP
// Bad values are errors with a message, never silently replaced by defaults.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coro/reactor.h"
#include "coro/result.h"
#include "nic/device.h"
#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"
#include "stack/net/ipv4_addr.h"

#include "coronet/socket.h"

namespace coronet {

struct Options {
  StackKind stack = StackKind::kUser;
  unsigned cores = 1;
  std::string nic = "tap:cn0";
  stack::Ipv4Address addr{198, 18, 0, 2};
  unsigned prefix_len = 24;
  std::optional<stack::Ipv4Address> gateway;
  nic::MacAddress mac{{0x02, 0, 0, 0, 0, 0x02}};
  std::uint16_t port = 7;
  coro::IdleMode idle = coro::IdleMode::kSleep;
  std::uint16_t metrics_port = 0;  // 0: none
  std::vector<std::string> eal;   // --nic=dpdk: EAL arguments
  std::vector<std::string> rest;  // arguments this parser does not know, in order
};

// Parses the flags above; anything else lands in `rest` for the program to handle.
Result<Options> parse_options(int argc, char** argv, std::uint16_t default_port);

// The device named by --nic, with one queue per core (--cores), and how it steers received flows
// over the queues (multi-queue only), so that connect() on a core picks local ports whose replies
// come back to that core.
struct OpenedDevice {
  struct Steering {
    nic::rss::Key key;
    nic::rss::Reta reta;
  };
  std::unique_ptr<nic::Device> device;
  std::optional<Steering> steering;
};

// Opens the device named by --nic (user stack).
Result<OpenedDevice> open_device(const Options& options);

std::string options_usage();

}  // namespace coronet
