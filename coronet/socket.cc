#include "coronet/socket.h"

#include <string>

namespace coronet {

namespace {

template <class T>
coro::Task<Result<T>> failed(Error e) {
  co_return e;
}

Error empty(const char* what) { return Error(Errc::kNotConnected, std::string("empty ") + what); }

stack::tcp::BufferSizes user_sizes(BufferSizes b) { return {.send = b.send, .recv = b.recv}; }
kernel::BufferSizes kernel_sizes(BufferSizes b) { return {.send = b.send, .recv = b.recv}; }

}  // namespace

const char* stack_kind_name(StackKind k) { return k == StackKind::kKernel ? "kernel" : "user"; }

Result<StackKind> parse_stack_kind(std::string_view s) {
  if (s == "user") return StackKind::kUser;
  if (s == "kernel") return StackKind::kKernel;
  return Error(Errc::kInvalidArgument,
               "unknown stack '" + std::string(s) + "' (choose user or kernel)");
}

// Connection: forward to whichever handle this is. The coroutine-returning calls hand back the
// backend's own Task (no frame of ours in between).
#define CORONET_FORWARD(call, on_empty)                                  \
  if (auto* u = std::get_if<stack::tcp::Connection>(&v_)) return u->call; \
  if (auto* k = std::get_if<kernel::Connection>(&v_)) return k->call;    \
  return on_empty

bool Connection::valid() const {
  if (auto* u = std::get_if<stack::tcp::Connection>(&v_)) return u->valid();
  if (auto* k = std::get_if<kernel::Connection>(&v_)) return k->valid();
  return false;
}
Endpoint Connection::local() const { CORONET_FORWARD(local(), Endpoint{}); }
Endpoint Connection::remote() const { CORONET_FORWARD(remote(), Endpoint{}); }
coro::Task<Result<std::size_t>> Connection::read(std::span<std::byte> buf) {
  CORONET_FORWARD(read(buf), failed<std::size_t>(empty("connection handle")));
}
coro::Task<Result<void>> Connection::read_exactly(std::span<std::byte> buf) {
  CORONET_FORWARD(read_exactly(buf), failed<void>(empty("connection handle")));
}
coro::Task<Result<std::size_t>> Connection::write(std::span<const std::byte> data) {
  CORONET_FORWARD(write(data), failed<std::size_t>(empty("connection handle")));
}
Result<void> Connection::shutdown() { CORONET_FORWARD(shutdown(), empty("connection handle")); }
coro::Task<Result<void>> Connection::close() {
  CORONET_FORWARD(close(), failed<void>(empty("connection handle")));
}
void Connection::abort() {
  if (auto* u = std::get_if<stack::tcp::Connection>(&v_)) u->abort();
  if (auto* k = std::get_if<kernel::Connection>(&v_)) k->abort();
}
Result<void> Connection::set_no_delay(bool on) {
  CORONET_FORWARD(set_no_delay(on), empty("connection handle"));
}
Result<void> Connection::set_keepalive(coro::Duration idle, coro::Duration interval,
                                       unsigned count) {
  CORONET_FORWARD(set_keepalive(idle, interval, count), empty("connection handle"));
}
Result<void> Connection::set_user_timeout(coro::Duration timeout) {
  CORONET_FORWARD(set_user_timeout(timeout), empty("connection handle"));
}

#undef CORONET_FORWARD

std::uint16_t Listener::port() const {
  if (auto* u = std::get_if<stack::tcp::Listener>(&v_)) return u->port();
  if (auto* k = std::get_if<kernel::Listener>(&v_)) return k->port();
  return 0;
}

coro::Task<Result<Connection>> Listener::accept() {
  if (auto* u = std::get_if<stack::tcp::Listener>(&v_)) {
    auto c = co_await u->accept();
    if (!c) co_return c.error();
    co_return Connection(std::move(*c));
  }
  if (auto* k = std::get_if<kernel::Listener>(&v_)) {
    auto c = co_await k->accept();
    if (!c) co_return c.error();
    co_return Connection(std::move(*c));
  }
  co_return empty("listener handle");
}

Result<Listener> Stack::listen(std::uint16_t port, ListenOptions options) {
  if (kernel_ != nullptr) {
    kernel::ListenOptions o;
    o.backlog = options.backlog;
    o.buffers = kernel_sizes(options.buffers);
    o.address = options.address;
    auto l = kernel::listen(*kernel_, port, o);
    if (!l) return l.error();
    return Listener(std::move(*l));
  }
  auto l = stack::tcp::listen(*user_, port,
                              {.backlog = options.backlog, .buffers = user_sizes(options.buffers)});
  if (!l) return l.error();
  return Listener(std::move(*l));
}

coro::Task<Result<Connection>> Stack::connect(Endpoint remote, ConnectOptions options) {
  if (kernel_ != nullptr) {
    auto c = co_await kernel::connect(
        *kernel_, remote,
        {.local_port = options.local_port, .buffers = kernel_sizes(options.buffers)});
    if (!c) co_return c.error();
    co_return Connection(std::move(*c));
  }
  auto c = co_await stack::tcp::connect(
      *user_, remote, {.local_port = options.local_port, .buffers = user_sizes(options.buffers)});
  if (!c) co_return c.error();
  co_return Connection(std::move(*c));
}

}  // namespace coronet
