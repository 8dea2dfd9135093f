// UdpSocket: a UDP port bound on one engine, used from coroutines on that engine's reactor.
//
//   auto sock = udp::UdpSocket::bind(engine, 5353);               // Result<UdpSocket>
//   std::array<std::byte, 2048> buf;
//   auto d = co_await sock->recv_from(buf);                         // Result<Datagram>
//   if (d && !d->truncated) co_await sock->send_to(std::span(buf).first(d->size), d->from);
//   auto t = co_await coro::with_timeout(sock->recv_from(buf), 1s);  // kTimedOut as a value
//
// recv_from never truncates silently: a datagram larger than the buffer fills it, reports
// truncated = true and its full size. An ICMP error about a datagram this socket sent (port
// unreachable, host unreachable, ...) or a failed ARP resolution is returned, once, by the next
// recv_from or send_to. Waiting honours cancellation (with_timeout, when_any).
//
// The socket is move-only; its state lives at a fixed address, so moving it while a recv_from is
// pending is fine. Destroying it while a coroutine waits in recv_from leaves that coroutine
// suspended (it is destroyed with the reactor); cancel such waits first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "coro/result.h"
#include "coro/task.h"
#include "stack/engine.h"
#include "stack/net/ipv4_addr.h"
#include "stack/udp/udp_layer.h"

namespace coronet::stack::udp {

struct Datagram {
  std::size_t size = 0;  // the datagram's full payload size
  Endpoint from;
  bool truncated = false;  // size > the buffer: only the buffer's worth was copied
};

struct UdpSocketOptions {
  std::size_t receive_queue = 0;  // datagrams; 0: the engine's UdpConfig default
};

class UdpSocket {
 public:
  // Binds `port` (0: an ephemeral port) on `engine`. kAddressInUse when taken.
  static Result<UdpSocket> bind(Engine& engine, std::uint16_t port = 0,
                                UdpSocketOptions options = {});

  UdpSocket() = default;
  UdpSocket(UdpSocket&&) noexcept = default;
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  ~UdpSocket() { close(); }

  bool is_open() const { return state_ != nullptr; }
  Endpoint local() const;

  // The next datagram, copied into `buf`. Errors: a pending ICMP/local error, kCancelled,
  // kShuttingDown (engine destroyed), kInvalidArgument (socket closed).
  coro::Task<Result<Datagram>> recv_from(std::span<std::byte> buf);
  // Sends one datagram. Errors: a pending ICMP/local error, kMessageTooLong (larger than the
  // MTU allows), kNoBufferSpace, kHostUnreachable (no route), kInvalidArgument.
  coro::Task<Result<void>> send_to(std::span<const std::byte> data, Endpoint to);

  // Non-suspending forms of the same operations for code that polls. try_recv_from reports
  // Errc::kResourceExhausted when no datagram is queued.
  Result<Datagram> try_recv_from(std::span<std::byte> buf);
  Result<void> send_to_now(std::span<const std::byte> data, Endpoint to);

  std::size_t queued() const { return state_ ? state_->queued() : 0; }
  const UdpSocketStats* stats() const { return state_ ? &state_->stats : nullptr; }

  // Unbinds and frees queued datagrams. Idempotent.
  void close();

 private:
  static coro::Task<Result<Datagram>> recv_impl(UdpSocketState* s, std::span<std::byte> buf);
  static coro::Task<Result<void>> send_task(UdpSocketState* s, std::span<const std::byte> data,
                                            Endpoint to);
  static Result<void> send_impl(UdpSocketState* s, std::span<const std::byte> data, Endpoint to);

  std::unique_ptr<UdpSocketState> state_;
  Ipv4Address address_;
};

}  // namespace coronet::stack::udp
