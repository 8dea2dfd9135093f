// The invariant checker the TCP fuzz targets rely on must see what it claims to: a bench in
// each scenario passes, and a connection broken on purpose (one field at a time) is reported.
#include "tests/fuzz/tcp_invariants.h"

#include <gtest/gtest.h>

#include "coro/reactor.h"
#include "stack/tcp/tcb.h"
#include "tests/fuzz/tcp_fuzz_bench.h"

namespace coronet::testing::fuzz {
namespace {

using stack::tcp::Tcb;

Tcb& the_connection(Bench& b) {
  Tcb* found = nullptr;
  b.s.tcp.for_each_connection([&](const Tcb& t) { found = const_cast<Tcb*>(&t); });
  EXPECT_NE(found, nullptr);
  return *found;
}

TEST(TcpInvariants, EveryScenarioStartsConsistent) {
  for (int i = 0; i < static_cast<int>(Scenario::kCount); ++i) {
    Bench b(static_cast<Scenario>(i));
    EXPECT_EQ(tcp_invariant_violation(b.s.tcp), "") << scenario_name(static_cast<Scenario>(i));
    if (i != static_cast<int>(Scenario::kListen)) {
      EXPECT_EQ(b.s.tcp.connection_count(), 1u) << scenario_name(static_cast<Scenario>(i));
    }
  }
}

TEST(TcpInvariants, SequenceSpaceBreakageIsReported) {
  Bench b(Scenario::kEstablishedBusy);
  Tcb& t = the_connection(b);
  const auto saved = t.snd_nxt;
  t.snd_nxt = t.snd_max + 1;
  EXPECT_NE(tcp_invariant_violation(b.s.tcp).find("SND.NXT beyond SND.MAX"), std::string::npos);
  t.snd_nxt = saved;
  t.sndbuf_seq = t.sndbuf_seq + 1;
  EXPECT_NE(tcp_invariant_violation(b.s.tcp).find("send buffer starts at"), std::string::npos);
  t.sndbuf_seq = t.sndbuf_seq - 1;
  EXPECT_EQ(tcp_invariant_violation(b.s.tcp), "");
}

TEST(TcpInvariants, DataInFlightWithoutATimerIsReported) {
  Bench b(Scenario::kEstablishedBusy);
  Tcb& t = the_connection(b);
  ASSERT_NE(t.snd_max, t.snd_una);  // the scenario has data in flight
  b.s.v.reactor.cancel_timer(t.rexmit_timer);
  b.s.v.reactor.cancel_timer(t.rack_timer);
  EXPECT_NE(tcp_invariant_violation(b.s.tcp).find("no retransmission timer"), std::string::npos);
}

TEST(TcpInvariants, TimeWaitWithoutItsTimerIsReported) {
  Bench b(Scenario::kTimeWait);
  Tcb& t = the_connection(b);
  b.s.v.reactor.cancel_timer(t.timewait_timer);
  EXPECT_NE(tcp_invariant_violation(b.s.tcp).find("TIME-WAIT"), std::string::npos);
}

}  // namespace
}  // namespace coronet::testing::fuzz
