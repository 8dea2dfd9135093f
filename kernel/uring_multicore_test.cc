// One io_uring driver per core under coro::Runtime, each core with its own SO_REUSEPORT listener
// on the same port: the kernel spreads connections over the cores, nothing is shared between them.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "coro/coro.h"
#include "kernel/socket.h"
#include "kernel/uring_driver.h"

namespace coronet::kernel {
namespace {

using coro::Task;

constexpr Ipv4Address kLoopback(127, 0, 0, 1);
constexpr unsigned kCores = 2;

// What one core owns; touched only on that core (and read after Runtime::run has joined it).
struct CoreNet {
  std::unique_ptr<UringDriver> driver;
  Listener listener;
  int accepted = 0;
  std::string error;
};

Task<void> echo(Connection c) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = co_await c.read(buf);
    if (!n || *n == 0) co_return;
    if (!co_await c.write(std::span(buf).first(*n))) co_return;
  }
}

Task<void> serve(CoreNet& net) {
  for (;;) {
    auto c = co_await net.listener.accept();
    if (!c) co_return;  // the listener was closed at the end of the test
    ++net.accepted;
    coro::spawn(echo(std::move(*c)));
  }
}

// Runs on its own core: driver, listener on `port` (0 = pick one), accept loop. A coroutine, not
// a plain function: submit_to runs plain functions inside the reactor's poll of its cross-core
// rings, and adding a poll source (the driver) from inside a poll is not allowed.
Task<Result<std::uint16_t>> start_core(CoreNet& net, std::uint16_t port) {
  auto d = UringDriver::create(*coro::Reactor::current());
  if (!d) co_return d.error();
  net.driver = std::move(*d);
  auto l = listen(*net.driver, port, {.backlog = 256, .address = kLoopback, .reuse_port = true});
  if (!l) co_return l.error();
  net.listener = std::move(*l);
  coro::spawn(serve(net));
  co_return net.listener.port();
}

Task<std::string> client(std::uint16_t port, int id) {
  auto c = co_await connect(Endpoint{kLoopback, port});  // this core's driver
  if (!c) co_return "connect: " + c.error().message();
  const std::string msg = "message " + std::to_string(id);
  if (!co_await c->write(std::as_bytes(std::span(msg.data(), msg.size())))) co_return "write";
  std::string back(msg.size(), '\0');
  auto r = co_await c->read_exactly(std::as_writable_bytes(std::span(back.data(), back.size())));
  if (!r) co_return "read: " + r.error().message();
  if (back != msg) co_return "echo differs";
  auto cl = co_await c->close();
  co_return cl ? "" : "close: " + cl.error().message();
}

TEST(UringMultiCore, ReusePortListenersOnEveryCoreShareTheConnections) {
  std::array<CoreNet, kCores> nets;
  std::vector<std::string> results;
  coro::Runtime rt({.cores = kCores});
  int rc = rt.run([&]() -> Task<int> {
    auto port = co_await coro::submit_to(0, [&] { return start_core(nets[0], 0); });
    if (!port) {
      nets[0].error = port.error().message();
      co_return 1;
    }
    for (unsigned c = 1; c < kCores; ++c) {
      auto p = co_await coro::submit_to(c, [&, c] { return start_core(nets[c], *port); });
      if (!p) {
        nets[c].error = p.error().message();
        co_return 1;
      }
    }
    // Clients on core 0; each server core echoes what its listener accepted.
    std::vector<Task<std::string>> clients;
    for (int i = 0; i < 64; ++i) clients.push_back(client(*port, i));
    results = co_await coro::when_all(std::move(clients));
    // Tear down on each core, before the runtime destroys the reactors the drivers poll.
    for (unsigned c = 0; c < kCores; ++c) {
      (void)co_await coro::submit_to(c, [&, c]() -> Task<void> {
        nets[c].listener = Listener();
        nets[c].driver.reset();
        co_return;
      });
    }
    co_return 0;
  });
  ASSERT_EQ(rc, 0) << nets[0].error << nets[1].error;
  for (std::size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i], "") << "client " << i;
  int total = 0;
  for (unsigned c = 0; c < kCores; ++c) {
    std::printf("core %u accepted %d connections\n", c, nets[c].accepted);
    EXPECT_GT(nets[c].accepted, 0) << "core " << c << " accepted nothing";
    total += nets[c].accepted;
  }
  EXPECT_EQ(total, 64);
}

}  // namespace
}  // namespace coronet::kernel
