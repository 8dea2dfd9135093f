#include "tests/stack/sim_hosts.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "stack/net/bytes.h"

namespace coronet::testing {

nic::SteeringFn rss_steering(const nic::rss::Toeplitz& hash, const nic::rss::Reta& reta) {
  return [&hash, &reta](const nic::Packet& f, std::uint16_t) {
    nic::Steering s;
    const std::byte* d = f.data();
    if (f.size() < 14) return s;
    const std::uint16_t type = stack::load_be16(d + 12);
    if (type == 0x0806) {
      s.all_queues = true;
      return s;
    }
    if (type != 0x0800 || f.size() < 14 + 20 + 4 || static_cast<std::uint8_t>(d[23]) != 6) {
      return s;
    }
    const std::size_t ihl = (static_cast<std::size_t>(d[14]) & 0xf) * 4;
    if (f.size() < 14 + ihl + 4) return s;
    const std::byte* l4 = d + 14 + ihl;
    nic::rss::Ipv4Tuple t{stack::load_be32(d + 26), stack::load_be32(d + 30),
                          stack::load_be16(l4), stack::load_be16(l4 + 2)};
    const std::uint32_t h = hash.hash(t);
    s.queue = reta.queue_of(h);
    s.rss_hash = h;
    return s;
  };
}

nic::ImpairmentConfig harsh_link(std::uint64_t seed) {
  using namespace std::chrono_literals;
  nic::ImpairmentConfig imp;
  imp.loss = 0.05;
  imp.duplicate = 0.01;
  imp.reorder = 0.25;
  imp.delay = 10ms;
  imp.jitter = 5ms;
  imp.corrupt = 0.001;
  imp.seed = seed;
  return imp;
}

nic::WireEndConfig end_config(const char* name, std::uint8_t last, nic::ImpairmentConfig imp,
                              std::uint16_t queues) {
  nic::WireEndConfig c;
  c.name = name;
  c.mac = nic::MacAddress({0x02, 0, 0, 0, 0, last});
  c.queues = queues;
  c.pool = nic::PacketPoolConfig{.name = std::string(name) + "-rx", .count = 8192};
  c.rx_ring_size = 4096;
  c.tx_impairment = imp;
  return c;
}

SimPair::SimPair(nic::ImpairmentConfig a_to_b, nic::ImpairmentConfig b_to_a,
                 stack::tcp::TcpConfig tcp_config) {
  wire = std::make_unique<nic::Wire>(v.clock, end_config("a", 1, a_to_b),
                                     end_config("b", 2, b_to_a));
  a = std::make_unique<SimHost>(v.reactor, wire->a(), kAddrA, tcp_config);
  b = std::make_unique<SimHost>(v.reactor, wire->b(), kAddrB, tcp_config);
}

coro::Task<Result<void>> send_pattern(stack::tcp::Connection& c, std::uint64_t seed,
                                      std::uint64_t total, std::size_t chunk) {
  std::vector<std::byte> buf(chunk);
  std::uint64_t sent = 0;
  while (sent < total) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - sent));
    for (std::size_t i = 0; i < n; ++i) buf[i] = pattern(seed, sent + i);
    auto w = co_await c.write(std::span<const std::byte>(buf.data(), n));
    if (!w) co_return w.error();
    sent += n;
  }
  co_return Result<void>{};
}

coro::Task<Result<std::uint64_t>> receive_pattern(stack::tcp::Connection& c, std::uint64_t seed,
                                                  std::size_t chunk) {
  std::vector<std::byte> buf(chunk);
  std::uint64_t got = 0;
  for (;;) {
    auto n = co_await c.read(buf);
    if (!n) co_return n.error();
    if (*n == 0) co_return got;
    for (std::size_t i = 0; i < *n; ++i) {
      if (buf[i] != pattern(seed, got + i)) {
        co_return Error(Errc::kInvalidArgument,
                        "byte " + std::to_string(got + i) + " differs from what was sent");
      }
    }
    got += *n;
  }
}

coro::Task<Result<std::uint64_t>> send_then_receive(stack::tcp::TcpLayer& tcp, stack::Endpoint to,
                                                    std::uint64_t seed_up, std::uint64_t up,
                                                    std::uint64_t seed_down) {
  auto c = co_await stack::tcp::connect(tcp, to);
  if (!c) co_return c.error();
  if (auto r = co_await send_pattern(*c, seed_up, up, 65536); !r) co_return r.error();
  (void)c->shutdown();
  co_return co_await receive_pattern(*c, seed_down, 65536);
}

coro::Task<Result<std::size_t>> connect_and_read(stack::tcp::TcpLayer& tcp, stack::Endpoint to) {
  auto c = co_await stack::tcp::connect(tcp, to);
  if (!c) co_return c.error();
  std::byte buf[16];
  co_return co_await c->read(buf);
}

coro::Task<void> short_echo_server(stack::tcp::Listener& l, int* served, std::size_t bytes,
                                   int count) {
  std::vector<std::byte> buf(bytes);
  for (int i = 0; count < 0 || i < count; ++i) {
    auto c = co_await l.accept();
    if (!c) co_return;
    if (co_await c->read_exactly(buf) && co_await c->write(buf) && co_await c->close()) {
      ++*served;
    }
  }
}

coro::Task<int> short_echo_client(stack::tcp::TcpLayer& tcp, stack::Endpoint to, int count,
                                  std::size_t bytes) {
  std::vector<std::byte> msg(bytes);
  std::vector<std::byte> back(bytes);
  int ok = 0;
  for (int i = 0; i < count; ++i) {
    auto c = co_await stack::tcp::connect(tcp, to);
    if (!c) continue;
    for (std::size_t k = 0; k < bytes; ++k) msg[k] = pattern(static_cast<std::uint64_t>(i), k);
    if (co_await c->write(msg) && co_await c->read_exactly(back) && msg == back) ++ok;
    (void)co_await c->close();
  }
  co_return ok;
}

std::unique_ptr<nic::ShmWire> shm_wire_or_exit(const char* name, std::uint32_t slots,
                                               std::uint32_t buffers, std::uint16_t queues,
                                               nic::SteeringFn steer_a, nic::SteeringFn steer_b) {
  nic::ShmWireConfig wc;
  wc.name = name;
  wc.slots = slots;
  wc.queues = queues;
  wc.mac_a = nic::MacAddress{{0x02, 0, 0, 0, 0, 1}};
  wc.mac_b = nic::MacAddress{{0x02, 0, 0, 0, 0, 2}};
  wc.pool = {.count = buffers, .buffer_size = 2048, .headroom = 128};
  wc.steer_a = std::move(steer_a);
  wc.steer_b = std::move(steer_b);
  auto wire = nic::ShmWire::create(wc);
  if (!wire) {
    std::fprintf(stderr, "shm wire: %s\n", wire.error().message().c_str());
    std::exit(1);
  }
  return std::move(*wire);
}

}  // namespace coronet::testing
