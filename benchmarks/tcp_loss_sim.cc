// Loss recovery on virtual time: one coronet -> coronet bulk transfer over the in-memory wire
// with the impairments of tests/stack/tcp_kernel_impair_test (loss, reordering, duplication,
// delay with jitter, corruption), printing the virtual transfer time, goodput and the sender's
// recovery counters. Deterministic (seeded), so a change to loss recovery can be compared run by
// run. Usage: tcp_loss_sim [MiB=8] [data_loss=0.0975] [ack_loss=0.0975] [reorder=0.25] [seed=1]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "coro/when_all.h"
#include "tests/stack/sim_hosts.h"

using namespace std::chrono_literals;
namespace ct = coronet::testing;
namespace tcp = coronet::stack::tcp;

int main(int argc, char** argv) {
  auto arg = [&](int i, double fallback) { return argc > i ? std::atof(argv[i]) : fallback; };
  const auto bytes = static_cast<std::uint64_t>(arg(1, 8) * (1 << 20));
  coronet::nic::ImpairmentConfig imp = ct::harsh_link(static_cast<std::uint64_t>(arg(5, 1)));
  imp.loss = arg(2, 0.0975);
  imp.reorder = arg(4, 0.25);
  imp.delay = std::chrono::microseconds(static_cast<std::int64_t>(arg(6, 10) * 1000));
  imp.jitter = std::chrono::microseconds(static_cast<std::int64_t>(arg(7, 5) * 1000));
  coronet::nic::ImpairmentConfig back = imp;
  back.loss = arg(3, 0.0975);
  back.seed = imp.seed + 1000;
  tcp::TcpConfig cfg;
  ct::SimPair s(imp, back, cfg);
  auto listener = tcp::listen(s.b->tcp, 7000);
  if (!listener) return 1;
  auto server = [&]() -> coronet::coro::Task<coronet::Result<std::uint64_t>> {
    auto c = co_await listener->accept();
    if (!c) co_return c.error();
    auto got = co_await ct::receive_pattern(*c, 42);
    (void)co_await c->close();
    co_return got;
  };
  auto client = [&]() -> coronet::coro::Task<coronet::Result<void>> {
    auto c = co_await tcp::connect(s.a->tcp, {ct::SimPair::kAddrB, 7000});
    if (!c) co_return c.error();
    if (auto r = co_await ct::send_pattern(*c, 42, bytes); !r) co_return r;
    co_return co_await c->close();
  };
  const auto start = s.v.reactor.now();
  auto [got, sent] = s.v.reactor.block_on(coronet::coro::when_all(server(), client()));
  const double secs = std::chrono::duration<double>(s.v.reactor.now() - start).count();
  const auto& st = s.a->tcp.stats();
  std::printf("%s: %llu bytes in %.1f s virtual = %.3f MB/s; segments %llu, retransmits %llu, "
              "fast rexmits %llu, recoveries %llu, rescue %llu, RTOs %llu\n",
              got && sent ? "ok" : "FAILED", got ? static_cast<unsigned long long>(*got) : 0ULL,
              secs, static_cast<double>(bytes) / secs / 1e6,
              static_cast<unsigned long long>(st.tx_segments),
              static_cast<unsigned long long>(st.tx_retransmits),
              static_cast<unsigned long long>(st.fast_retransmits),
              static_cast<unsigned long long>(st.recoveries),
              static_cast<unsigned long long>(st.rescue_retransmits),
              static_cast<unsigned long long>(st.rto_expiries));
  std::printf("  RACK: lost %llu, reorder timeouts %llu, reordering seen %llu; TLP probes %llu "
              "(new data %llu), losses repaired by probes %llu; D-SACKs %llu\n",
              static_cast<unsigned long long>(st.rack_losses),
              static_cast<unsigned long long>(st.rack_reorder_timeouts),
              static_cast<unsigned long long>(st.rack_reordering_seen),
              static_cast<unsigned long long>(st.tlp_probes),
              static_cast<unsigned long long>(st.tlp_new_data),
              static_cast<unsigned long long>(st.tlp_loss_repaired),
              static_cast<unsigned long long>(st.dsacks_received));
  return got && sent ? 0 : 1;
}
