// coronet's TCP against the Linux kernel over DPDK's net_tap PMD (no hugepages, no NIC), in a
// namespace the test creates: both directions of open, multi-megabyte transfers byte-exact,
// refusal. One test (EAL initialises once per process). Needs root.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include "coro/reactor.h"
#include "coro/timeout.h"
#include "nic/dpdk/dpdk_device.h"
#include "stack/engine.h"
#include "stack/tcp/socket.h"
#include "stack/tcp/tcp_layer.h"
#include "tests/netns/netns.h"
#include "tests/stack/kernel_peer.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::testing {
namespace {

using namespace std::chrono_literals;

constexpr stack::Ipv4Address kKernel{198, 18, 5, 1};
constexpr stack::Ipv4Address kCoronet{198, 18, 5, 2};

TEST(TcpDpdk, KernelPeerOverNetTapBothDirections) {
  auto ns = NetNs::create("tcpdpdk");
  ASSERT_TRUE(ns) << ns.error().message();
  std::string iface = "cnd" + std::to_string(getpid() % 1000000);
  nic::DpdkConfig cfg;
  cfg.eal_args = {"--no-huge", "-m", "256", "--no-pci", "--no-shconf", "-l", "0",
                  "--log-level=notice", "--file-prefix=coronet-tcp-" + std::to_string(getpid()),
                  "--vdev=net_tap0,iface=" + iface};
  cfg.port_name = "net_tap0";
  cfg.mbufs_per_queue = 8191;
  std::unique_ptr<nic::DpdkDevice> dev;
  {
    NetNs::Enter in(*ns);  // the PMD creates its TAP interface in the caller's namespace
    ASSERT_TRUE(in.ok()) << in.error();
    auto d = nic::DpdkDevice::create(cfg);
    ASSERT_TRUE(d) << d.error().message();
    dev = std::move(*d);
  }
  // net_tap gives the kernel's interface the port's own MAC; two stations cannot share one, so the
  // kernel side gets its own address.
  ASSERT_TRUE(ns->exec("ip link set " + iface + " address 02:00:00:00:05:01 && ip addr add " +
                       "198.18.5.1/24 dev " + iface + " && ip link set " + iface + " up"));
  {
    // A DPDK queue has no fd to sleep on: poll it continuously, as a dedicated core would.
    coro::Reactor reactor(coro::ReactorOptions{.idle = coro::IdleMode::kBusyPoll});
    stack::Engine engine(reactor, *dev, stack::EngineConfig{.address = kCoronet, .prefix_len = 24});
    stack::tcp::TcpLayer tcp(engine);

    // Linux client -> coronet server: 4 MB up, 2 MB down after the client's half-close.
    auto listener = stack::tcp::listen(tcp, 7000);
    ASSERT_TRUE(listener);
    auto kernel = in_namespace(*ns, []() -> std::pair<bool, std::int64_t> {
      int fd = kernel_connect({kCoronet, 7000});
      if (fd < 0) return {false, -1};
      bool ok = kernel_send_pattern(fd, 31, 4 << 20);
      shutdown(fd, SHUT_WR);
      std::int64_t got = kernel_receive_pattern(fd, 32);
      close(fd);
      return {ok, got};
    });
    auto server = [&]() -> coro::Task<Result<std::uint64_t>> {
      auto c = co_await listener->accept();
      if (!c) co_return c.error();
      auto got = co_await receive_pattern(*c, 31, 65536);
      if (!got) co_return got;
      if (auto r = co_await send_pattern(*c, 32, 2 << 20, 65536); !r) co_return r.error();
      if (auto r = co_await c->close(); !r) co_return r.error();
      co_return got;
    };
    auto got = reactor.block_on(coro::with_timeout(server(), 60s));
    auto [sent_ok, kernel_got] = kernel.get();
    auto diag = [&] {
      auto es = engine.stats();
      return "tcp rx " + std::to_string(tcp.stats().rx_segments) + " bad-csum " +
             std::to_string(tcp.stats().rx_bad_checksum) + " tx " +
             std::to_string(tcp.stats().tx_segments) + " rexmit " +
             std::to_string(tcp.stats().tx_retransmits) + " oow " +
             std::to_string(tcp.stats().rx_out_of_window) + " ooo " +
             std::to_string(tcp.stats().rx_out_of_order) + " dup " +
             std::to_string(tcp.stats().rx_duplicate) + " nobuf " +
             std::to_string(tcp.stats().tx_no_buffer) + " eng-nobuf " +
             std::to_string(engine.stats().tx_no_buffer) + " devfull " +
             std::to_string(engine.stats().tx_device_full) + "; engine rx " +
             std::to_string(es.rx_frames) + " tx " + std::to_string(es.tx_frames) + " bad-ether " +
             std::to_string(es.rx_bad_ether) + " not-for-us " + std::to_string(es.rx_not_for_us) +
             " mac " + engine.mac().to_string() + " arp rx/req/rep/own/conf/bad/txrep " +
             std::to_string(engine.arp().stats().rx_packets) + "/" +
             std::to_string(engine.arp().stats().rx_requests) + "/" +
             std::to_string(engine.arp().stats().rx_replies) + "/" +
             std::to_string(engine.arp().stats().rx_own) + "/" +
             std::to_string(engine.arp().stats().rx_conflicts) + "/" +
             std::to_string(engine.arp().stats().rx_bad_sender) + "/" +
             std::to_string(engine.arp().stats().tx_replies) + " ipv4-stats: " +
             std::to_string(engine.ipv4().stats().rx_packets) + "/" +
             std::to_string(engine.ipv4().stats().rx_bad_checksum) +
             "; device rx " + std::to_string(dev->rx_stats(0).packets) + " tx " +
             std::to_string(dev->tx_stats(0).packets) + " rx-drops " +
             std::to_string(dev->rx_stats(0).drops) + " rx-errors " +
             std::to_string(dev->rx_stats(0).errors) + "; ss: " +
             ns->exec("ss -tin").value_or("?") + "; kernel: " +
             ns->exec("nstat -az 2>/dev/null | grep -iE \"rst|abort|retrans|csum|InErrs|Timeout|Prune|Drop\" | grep -v \" 0 \"")
                 .value_or("?");
    };
    ASSERT_TRUE(got.has_value()) << got.error().message() << "\n" << diag();
    EXPECT_TRUE(sent_ok);
    EXPECT_EQ(*got, 4u << 20);
    EXPECT_EQ(kernel_got, 2 << 20);

    // coronet client -> Linux server: 3 MB up, 1 MB down.
    auto kserver = kernel_serve_once(*ns, {kKernel, 7001}, 41, 42, 1 << 20);
    auto down = reactor.block_on(
        coro::with_timeout(send_then_receive(tcp, {kKernel, 7001}, 41, 3 << 20, 42), 60s));
    ASSERT_TRUE(down.has_value()) << down.error().message();
    EXPECT_EQ(*down, 1u << 20);
    EXPECT_EQ(kserver.get(), 3 << 20);

    // The kernel resets an accepted connection (SO_LINGER 0): coronet reports "reset by peer".
    auto resetter = kernel_reset_once(*ns, {kKernel, 7002});
    auto reset = reactor.block_on(coro::with_timeout(connect_and_read(tcp, {kKernel, 7002}), 10s));
    EXPECT_TRUE(resetter.get());
    ASSERT_FALSE(reset.has_value());
    EXPECT_EQ(reset.error().code(), Errc::kConnectionReset) << reset.error().message();

    // A closed port answers with RST: connection refused.
    auto refused = reactor.block_on(
        coro::with_timeout(stack::tcp::connect(tcp, {kKernel, 7999}), 10s));
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code(), Errc::kConnectionRefused);
    reactor.shutdown();
  }
  dev.reset();  // closes the TAP interface before the namespace goes
}

}  // namespace
}  // namespace coronet::testing
