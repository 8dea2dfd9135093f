// IPv4 configuration of one engine.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "coro/clock.h"

namespace coronet::stack::ipv4 {

struct Ipv4Config {
  std::uint8_t default_ttl = 64;  // RFC 1700 / RFC 1122 §3.2.1.7 recommended default
  // Fragments: reassembled within this time and memory, otherwise dropped with a counter.
  // RFC 1122 §3.3.2 suggests 60-120 s; shorter bounds what an attacker can pin down.
  coro::Duration reassembly_timeout = std::chrono::seconds(30);
  // Per engine, counted in packet-buffer bytes held (a tiny fragment still pins a whole buffer).
  std::size_t reassembly_max_bytes = 1 << 20;
  std::size_t reassembly_max_datagrams = 64;
  // Datagrams sent to our own address are looped back through a queue this long (more: dropped).
  std::size_t loopback_queue = 64;
};

}  // namespace coronet::stack::ipv4
