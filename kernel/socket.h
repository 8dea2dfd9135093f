// The coroutine socket API of stack/tcp/socket.h, over kernel TCP sockets driven by io_uring:
//
//   auto drv = kernel::UringDriver::create(reactor);        // one per reactor/core
//   auto listener = kernel::listen(**drv, 7);               // Result<Listener>, SO_REUSEPORT
//   auto conn = co_await listener->accept();                // Result<Connection>
//   auto n = co_await conn->read(buf);                      // Result<size_t>, 0 = peer closed
//   co_await conn->write(data);                             // done once the kernel has the bytes
//   co_await conn->close();                                 // FIN, waits until it is acknowledged
//
// Same names, result types, error codes and semantics as the user-level stack, so code written
// against one compiles against the other by switching the namespace:
//  - read() copies from the provided receive buffers the kernel filled (one copy), returns at
//    least one byte, or 0 once the peer closed and everything was read; data that arrives while
//    a read is being cancelled is kept for the next read, never lost.
//  - write() completes when all bytes are in the kernel's send buffer (writers take turns, so
//    concurrent writes never interleave); a partial write before an error is reported in the
//    error's detail. On a quiet driver the write first tries a non-blocking send(2) and completes
//    without suspending; what does not fit, or any write while the ring carries batches, goes
//    through an IORING_OP_SEND (UringOptions::direct_sends_per_poll). IORING_OP_SEND_ZC is not
//    used: on loopback (kernel 6.18, 2 vCPUs, uring_bench BM_SendZc, 64 B to 1 MiB) it took 1.5x
//    to 40x the wall time and more CPU per send than IORING_OP_SEND at every size, as loopback
//    copies the data anyway and the buffer only comes back (notification CQE) after the ACK.
//  - Every wait honours coro/ cancellation: with_timeout(conn.read(buf), 5s) gives
//    Errc::kTimedOut, and the kernel operation behind it is cancelled (io_uring async cancel).
//  - Errors are values: kConnectionRefused, kConnectionReset, kBrokenPipe, kTimedOut,
//    kNotConnected, kAddressInUse, kConnectionAborted, kShuttingDown (driver destroyed), ...
//
// Handles must be used on the thread of the driver that created them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "coro/clock.h"
#include "coro/result.h"
#include "coro/task.h"
#include "kernel/uring_driver.h"
#include "stack/net/ipv4_addr.h"

namespace coronet::kernel {

using stack::Endpoint;
using stack::Ipv4Address;

// SO_SNDBUF / SO_RCVBUF (0: the kernel's default and autotuning).
struct BufferSizes {
  std::size_t send = 0;
  std::size_t recv = 0;
};

namespace detail {
class ConnState;
class ListenerState;
}  // namespace detail

class Connection {
 public:
  Connection() = default;
  explicit Connection(detail::ConnState* s) : s_(s) {}
  Connection(Connection&& o) noexcept;
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Dropping the handle closes the connection like close(2): FIN after the data already written
  // (RST if received data was never read), finished in the background.
  ~Connection();

  bool valid() const { return s_ != nullptr; }
  Endpoint local() const;
  Endpoint remote() const;
  // The kernel socket, for options this API does not cover; -1 for an empty handle.
  int fd() const;

  // Copies received bytes into `buf`: at least one byte, or 0 once the peer closed and all data
  // was read. Waits while nothing is available.
  coro::Task<Result<std::size_t>> read(std::span<std::byte> buf);
  // Fills all of `buf`; an error (kNotConnected) if the peer closes first.
  coro::Task<Result<void>> read_exactly(std::span<std::byte> buf);
  // Hands all of `data` to the kernel, waiting for send-buffer space as needed. Returns the count.
  coro::Task<Result<std::size_t>> write(std::span<const std::byte> data);
  // Sends FIN after the data already written; reading stays possible (half-close).
  Result<void> shutdown();
  // shutdown() and waits until the FIN (and so all data) is acknowledged, or the connection ends.
  // With received data unread, resets the connection instead (kConnectionAborted), as the user
  // stack does (RFC 2525 §2.17).
  coro::Task<Result<void>> close();
  // Sends RST and drops everything (SO_LINGER 0).
  void abort();

  // TCP_NODELAY: Nagle's algorithm off.
  Result<void> set_no_delay(bool on);
  // SO_KEEPALIVE with TCP_KEEPIDLE/KEEPINTVL/KEEPCNT (whole seconds, rounded up); idle = 0 turns
  // it off. A peer that stops answering ends the connection with Errc::kTimedOut.
  Result<void> set_keepalive(coro::Duration idle, coro::Duration interval, unsigned count);
  // TCP_USER_TIMEOUT (RFC 5482): data unacknowledged this long ends the connection with
  // Errc::kTimedOut. Zero turns it off.
  Result<void> set_user_timeout(coro::Duration timeout);

 private:
  Result<void> check_usable() const;
  detail::ConnState* s_ = nullptr;
};

struct ListenOptions {
  std::size_t backlog = 128;  // kernel backlog, and the accept queue's bound
  BufferSizes buffers = {};   // inherited by every accepted connection
  Ipv4Address address = Ipv4Address::any();
  // SO_REUSEPORT: one listener per core on the same port, the kernel spreading connections.
  bool reuse_port = true;
};

class Listener {
 public:
  Listener() = default;
  explicit Listener(detail::ListenerState* l) : l_(l) {}
  Listener(Listener&& o) noexcept;
  Listener& operator=(Listener&& o) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  // Stops accepting; connections accepted but not yet taken are closed.
  ~Listener();

  bool valid() const { return l_ != nullptr; }
  std::uint16_t port() const;
  Endpoint local() const;
  // The next established connection from the accept queue.
  coro::Task<Result<Connection>> accept();

 private:
  detail::ListenerState* l_ = nullptr;
};

// Listens on `port` (0: an ephemeral port, see Listener::port()). Accepting starts at once: a
// multishot accept (single-shot where the kernel lacks it) fills the listener's accept queue.
Result<Listener> listen(UringDriver& driver, std::uint16_t port, ListenOptions options = {});
// The same on the calling thread's driver (kNotOnReactor when it has none).
Result<Listener> listen(std::uint16_t port, ListenOptions options = {});

struct ConnectOptions {
  std::uint16_t local_port = 0;  // 0: ephemeral
  BufferSizes buffers = {};
};
// Active open; completes once established (or refused / unreachable / timed out / cancelled).
coro::Task<Result<Connection>> connect(UringDriver& driver, Endpoint remote,
                                       ConnectOptions options = {});
coro::Task<Result<Connection>> connect(Endpoint remote, ConnectOptions options = {});

// The coronet error code for a socket errno (ECONNRESET -> kConnectionReset, ...).
Errc socket_errc(int err);

}  // namespace coronet::kernel
