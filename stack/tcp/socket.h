// The coroutine socket API over coronet's TCP:
//
//   auto listener = tcp::listen(layer, 7);                 // Result<Listener>
//   auto conn = co_await listener->accept();               // Result<Connection>
//   auto n = co_await conn->read(buf);                     // Result<size_t>, 0 = peer closed
//   co_await conn->write(data);                            // queued (back-pressure when full)
//   co_await conn->close();                                // FIN, waits until it is acknowledged
//
// Every wait honours coro/ cancellation, so with_timeout(conn.read(buf), 5s) works. Errors are
// values: connection refused / reset / timed out / broken pipe, each with a message.
#pragma once

#include <cstdint>
#include <span>

#include "coro/task.h"
#include "stack/tcp/tcp_layer.h"

namespace coronet::stack::tcp {

class Connection {
 public:
  Connection() = default;
  explicit Connection(Tcb* t) : t_(t) {}
  Connection(Connection&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Dropping the handle closes the sending side gracefully (like close(2)); the connection
  // finishes in the background.
  ~Connection();

  bool valid() const { return t_ != nullptr; }
  Endpoint local() const;
  Endpoint remote() const;
  State state() const;

  // Copies received bytes into `buf`: at least one byte, or 0 once the peer closed and all data
  // was read. Waits while nothing is available.
  coro::Task<Result<std::size_t>> read(std::span<std::byte> buf);
  // Fills all of `buf`; an error (kNotConnected) if the peer closes first.
  coro::Task<Result<void>> read_exactly(std::span<std::byte> buf);
  // Queues all of `data` for sending, waiting for buffer space as needed. Returns the count.
  coro::Task<Result<std::size_t>> write(std::span<const std::byte> data);
  // Sends FIN after the queued data; reading stays possible (half-close).
  Result<void> shutdown();
  // shutdown() and waits until the FIN (and so all data) is acknowledged, or the connection ends.
  coro::Task<Result<void>> close();
  // Sends RST and drops everything (RFC 9293 §3.10.5).
  void abort();

  // Socket options. no-delay turns Nagle's algorithm off (small writes go out at once).
  Result<void> set_no_delay(bool on);
  // Keepalive (RFC 1122 §4.2.3.6): after `idle` without traffic, `count` probes `interval`
  // apart; no answer ends the connection with Errc::kTimedOut. idle = 0 turns it off.
  Result<void> set_keepalive(coro::Duration idle, coro::Duration interval, unsigned count);
  // RFC 9293 §3.8.4 / RFC 5482 user timeout: when sent data stays unacknowledged this long the
  // connection ends with "timed out". Zero turns it off (max_retries still applies).
  Result<void> set_user_timeout(coro::Duration timeout);

 private:
  Result<void> check_usable() const;
  Tcb* t_ = nullptr;
};

struct ListenOptions {
  std::size_t backlog = 128;
  BufferSizes buffers = {};  // send/receive buffer of each accepted connection (0: default)
};

class Listener {
 public:
  Listener() = default;
  Listener(TcpLayer& layer, ListenerState* l) : layer_(&layer), l_(l) {}
  Listener(Listener&& o) noexcept
      : layer_(o.layer_), l_(std::exchange(o.l_, nullptr)) {}
  Listener& operator=(Listener&&) = delete;
  Listener(const Listener&) = delete;
  ~Listener();

  std::uint16_t port() const { return l_ != nullptr ? l_->port : 0; }
  // The next established connection from the accept queue.
  coro::Task<Result<Connection>> accept();

 private:
  TcpLayer* layer_ = nullptr;
  ListenerState* l_ = nullptr;
};

Result<Listener> listen(TcpLayer& layer, std::uint16_t port, ListenOptions options = {});

struct ConnectOptions {
  std::uint16_t local_port = 0;  // 0: ephemeral
  BufferSizes buffers = {};      // send/receive buffer sizes (0: the layer's default)
};
// Active open; completes once ESTABLISHED (or refused / timed out / cancelled).
coro::Task<Result<Connection>> connect(TcpLayer& layer, Endpoint remote,
                                       ConnectOptions options = {});

}  // namespace coronet::stack::tcp
