// One socket API over either TCP, chosen when the program runs:
//
//   coronet::Stack stack = use_kernel ? coronet::Stack::kernel(driver)   // Linux via io_uring
//                                     : coronet::Stack::user(tcp_layer); // coronet's own TCP
//   auto listener = stack.listen(7);                     // Result<Listener>
//   auto conn = co_await listener->accept();             // Result<Connection>
//   auto n = co_await conn->read(buf);                   // Result<size_t>, 0 = peer closed
//   co_await conn->write(data);
//   co_await conn->close();
//
// A Stack is one core's TCP: a TcpLayer (stack/tcp, the user-level engine of that core) or a
// UringDriver (kernel/, the io_uring of that core's reactor). Listener and Connection carry
// whichever handle their stack made and forward to it: a branch per call, no virtual call and
// no extra coroutine frame on read/write (the backend's own Task is returned). Both backends
// promise the same semantics (stack/tcp/socket.h, kernel/socket.h); tests/conformance holds
// them to it. Handles are used on the thread (core) of the stack that made them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include "coro/clock.h"
#include "coro/result.h"
#include "coro/task.h"
#include "kernel/socket.h"
#include "stack/net/ipv4_addr.h"
#include "stack/tcp/socket.h"

namespace coronet {

using stack::Endpoint;
using stack::Ipv4Address;

enum class StackKind : std::uint8_t { kUser, kKernel };
const char* stack_kind_name(StackKind k);  // "user" / "kernel"
// "user" or "kernel" (as in --stack=...); anything else is an error naming the choices.
Result<StackKind> parse_stack_kind(std::string_view s);

// Send/receive buffer sizes; 0 leaves the backend's default (kernel: autotuning).
struct BufferSizes {
  std::size_t send = 0;
  std::size_t recv = 0;
};

struct ListenOptions {
  std::size_t backlog = 128;
  BufferSizes buffers = {};  // of each accepted connection
  // Kernel stack: the local address to bind (any by default). The user stack listens on its
  // engine's address.
  Ipv4Address address = Ipv4Address::any();
};

struct ConnectOptions {
  std::uint16_t local_port = 0;  // 0: ephemeral
  BufferSizes buffers = {};
};

class Connection {
 public:
  Connection() = default;
  explicit Connection(stack::tcp::Connection c) : v_(std::move(c)) {}
  explicit Connection(kernel::Connection c) : v_(std::move(c)) {}

  bool valid() const;
  StackKind kind() const {
    return std::holds_alternative<kernel::Connection>(v_) ? StackKind::kKernel : StackKind::kUser;
  }
  Endpoint local() const;
  Endpoint remote() const;

  // Received bytes into `buf`: at least one, or 0 once the peer closed and all was read.
  coro::Task<Result<std::size_t>> read(std::span<std::byte> buf);
  // Fills all of `buf`; kNotConnected if the peer closes first.
  coro::Task<Result<void>> read_exactly(std::span<std::byte> buf);
  // All of `data`, waiting for buffer space as needed; the count.
  coro::Task<Result<std::size_t>> write(std::span<const std::byte> data);
  // FIN after the data written; reading stays possible (half-close).
  Result<void> shutdown();
  // shutdown() and waits until everything is acknowledged (a reset if data was left unread).
  coro::Task<Result<void>> close();
  // RST; everything is dropped.
  void abort();

  Result<void> set_no_delay(bool on);
  Result<void> set_keepalive(coro::Duration idle, coro::Duration interval, unsigned count);
  Result<void> set_user_timeout(coro::Duration timeout);

 private:
  std::variant<std::monostate, stack::tcp::Connection, kernel::Connection> v_;
};

class Listener {
 public:
  Listener() = default;
  explicit Listener(stack::tcp::Listener l) : v_(std::move(l)) {}
  explicit Listener(kernel::Listener l) : v_(std::move(l)) {}
  Listener(Listener&&) noexcept = default;

  bool valid() const { return !std::holds_alternative<std::monostate>(v_); }
  std::uint16_t port() const;
  // The next established connection from this core's accept queue.
  coro::Task<Result<Connection>> accept();

 private:
  std::variant<std::monostate, stack::tcp::Listener, kernel::Listener> v_;
};

class StatsBoard;

class Stack {
 public:
  // `board`: the server's per-core counters (coronet/stats.h), when run() keeps them.
  static Stack user(stack::tcp::TcpLayer& layer, const StatsBoard* board = nullptr) {
    return Stack(&layer, nullptr, board);
  }
  static Stack kernel(kernel::UringDriver& driver) { return Stack(nullptr, &driver, nullptr); }

  StackKind kind() const { return kernel_ != nullptr ? StackKind::kKernel : StackKind::kUser; }
  // Listens on `port` (0: an unused one, see Listener::port()).
  Result<Listener> listen(std::uint16_t port, ListenOptions options = {});
  // Active open; completes once established (or refused / timed out / cancelled).
  coro::Task<Result<Connection>> connect(Endpoint remote, ConnectOptions options = {});
  // Every core's counters, readable from any core (null when nobody keeps them: the kernel stack,
  // or a Stack made outside run()).
  const StatsBoard* stats() const { return board_; }

 private:
  Stack(stack::tcp::TcpLayer* u, kernel::UringDriver* k, const StatsBoard* board)
      : user_(u), kernel_(k), board_(board) {}
  stack::tcp::TcpLayer* user_;
  kernel::UringDriver* kernel_;
  const StatsBoard* board_;
};

}  // namespace coronet
