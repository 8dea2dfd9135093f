// The Linux kernel as a TCP peer in a test-made namespace: plain blocking sockets (10 s
// timeouts) on a thread that has entered the namespace, and the byte-pattern helpers that check
// transfers byte for byte.
#pragma once

#include <cstdint>
#include <future>

#include <netinet/in.h>

#include "stack/net/ipv4_addr.h"
#include "tests/netns/netns.h"

namespace coronet::testing {

// The socket address of `e` (network byte order).
sockaddr_in to_sockaddr(stack::Endpoint e);
// Connects to `to`; the socket fd or -1.
int kernel_connect(stack::Endpoint to);
// Listens on `at`; the socket fd or -1.
int kernel_listen(stack::Endpoint at);
// Accepts one connection (10 s timeout); the fd or -1.
int kernel_accept(int listen_fd);
// Sends `total` pattern bytes of stream `seed`; false on an error.
bool kernel_send_pattern(int fd, std::uint64_t seed, std::uint64_t total);
// Reads to EOF checking every byte; the byte count, or -1 on an error or a mismatch.
std::int64_t kernel_receive_pattern(int fd, std::uint64_t seed);

// One-connection kernel servers on a thread inside `ns`. Each returns once the socket listens;
// the future gives the outcome.
//  - echo-like: receive pattern `seed_in` to EOF, send `bytes_out` of pattern `seed_out`, close;
//    the bytes received (negative on an error or mismatch).
//  - reset: accept, then close with SO_LINGER 0 (an RST); true when a connection was accepted.
std::future<std::int64_t> kernel_serve_once(const NetNs& ns, stack::Endpoint at,
                                            std::uint64_t seed_in, std::uint64_t seed_out,
                                            std::uint64_t bytes_out);
std::future<bool> kernel_reset_once(const NetNs& ns, stack::Endpoint at);

// Runs `fn` on a thread inside `ns`.
template <typename F>
auto in_namespace(const NetNs& ns, F fn) {
  return std::async(std::launch::async, [&ns, fn]() {
    NetNs::Enter in(ns);
    return fn();
  });
}

}  // namespace coronet::testing
