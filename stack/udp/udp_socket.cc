#include "stack/udp/udp_socket.h"

#include <utility>

#include "nic/packet_pool.h"

namespace coronet::stack::udp {

namespace {

Result<void> closed_error(const UdpSocketState* s) {
  if (s == nullptr) return Error(Errc::kInvalidArgument, "UDP socket is closed");
  return Error(Errc::kShuttingDown, "the engine of this UDP socket is gone");
}

// Takes the socket's pending error, if any.
std::optional<Error> take_error(UdpSocketState& s) {
  std::optional<Error> e = std::move(s.error);
  s.error.reset();
  return e;
}

// Copies the oldest queued datagram out, or reports that none is queued (nullopt).
std::optional<Datagram> pop_into(UdpSocketState& s, std::span<std::byte> buf) {
  UdpSocketState::Queued q = s.pop();
  if (q.packet == nullptr) return std::nullopt;
  Datagram d;
  d.size = q.packet->chain_size();
  d.from = q.from;
  d.truncated = d.size > buf.size();
  if (d.truncated) ++s.stats.rx_truncated;
  q.packet->copy_out(buf);
  nic::PacketPool::free(q.packet);
  return d;
}

}  // namespace

Result<UdpSocket> UdpSocket::bind(Engine& engine, std::uint16_t port, UdpSocketOptions options) {
  UdpLayer& layer = engine.udp();
  const std::size_t queue =
      options.receive_queue > 0 ? options.receive_queue : layer.config().default_receive_queue;
  auto state = std::make_unique<UdpSocketState>(queue);
  Result<void> r = layer.bind(*state, port);
  if (!r) return r.error();
  UdpSocket s;
  s.state_ = std::move(state);
  s.address_ = engine.address();
  return s;
}

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
  if (this != &other) {
    close();
    state_ = std::move(other.state_);
    address_ = other.address_;
  }
  return *this;
}

Endpoint UdpSocket::local() const {
  return Endpoint{address_, state_ ? state_->port : std::uint16_t{0}};
}

void UdpSocket::close() {
  if (!state_) return;
  if (state_->layer != nullptr) state_->layer->unbind(*state_);
  state_.reset();
}

coro::Task<Result<Datagram>> UdpSocket::recv_from(std::span<std::byte> buf) {
  return recv_impl(state_.get(), buf);
}

coro::Task<Result<Datagram>> UdpSocket::recv_impl(UdpSocketState* s, std::span<std::byte> buf) {
  for (;;) {
    if (s == nullptr || s->layer == nullptr) co_return closed_error(s).error();
    if (std::optional<Error> e = take_error(*s)) co_return std::move(*e);
    if (std::optional<Datagram> d = pop_into(*s, buf)) co_return *d;
    // Woken by a datagram, an error, or the engine going away; re-check all three. Another
    // reader may have taken the datagram first: then wait again.
    Result<void> w = co_await s->readers.wait();
    if (!w) co_return w.error();  // cancelled: `s` may be gone, do not touch it
  }
}

Result<Datagram> UdpSocket::try_recv_from(std::span<std::byte> buf) {
  UdpSocketState* s = state_.get();
  if (s == nullptr || s->layer == nullptr) return closed_error(s).error();
  if (std::optional<Error> e = take_error(*s)) return std::move(*e);
  if (std::optional<Datagram> d = pop_into(*s, buf)) return *d;
  return Error(Errc::kResourceExhausted, "no datagram queued");
}

Result<void> UdpSocket::send_impl(UdpSocketState* s, std::span<const std::byte> data, Endpoint to) {
  if (s == nullptr || s->layer == nullptr) return closed_error(s);
  if (std::optional<Error> e = take_error(*s)) return std::move(*e);
  return s->layer->send(*s, data, to);
}

Result<void> UdpSocket::send_to_now(std::span<const std::byte> data, Endpoint to) {
  return send_impl(state_.get(), data, to);
}

coro::Task<Result<void>> UdpSocket::send_to(std::span<const std::byte> data, Endpoint to) {
  return send_task(state_.get(), data, to);
}

coro::Task<Result<void>> UdpSocket::send_task(UdpSocketState* s, std::span<const std::byte> data,
                                              Endpoint to) {
  // Sending never waits (ARP queues, the device batch is flushed by the engine): the Task only
  // makes send_to composable with with_timeout/when_all like every other operation.
  co_return send_impl(s, data, to);
}

}  // namespace coronet::stack::udp
