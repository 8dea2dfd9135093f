// coronet's TCP against the Linux kernel's over a TAP device in a namespace the test creates
// (198.18.6.1 = kernel, 198.18.6.2 = coronet), through a badly impaired link, one bulk transfer
// each way, checked byte for byte and timed:
//  - kernel side: nftables drops 5% of TCP on the input hook and 5% on the output hook, GSO/TSO/GRO
//    off (the input-hook drops lose coronet's frames; the output-hook drops only hold up the
//    kernel's own packets, which its TCP sees fail and sends again without counting a loss: see
//    tests/stack/tap_host.h);
//  - coronet side: nic::ImpairedDevice around the TAP, both directions: 5% loss, 1% duplication,
//    25% reordering, 10 ms +/- 5 ms delay, 0.1% of frames with one bit flipped.
// Each transfer must finish within a time limit and never stall for a minute; the throughput of
// each direction and the impairment counters go to stdout.
//
// Knobs for measuring (environment; pass with --test_env): CORONET_IMPAIR_MIB (MiB per direction,
// default 50; 10 under ASan), CORONET_IMPAIR_LIMIT_S (seconds allowed per direction, default 900).
// Needs root; tagged no-sandbox/exclusive.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "tests/stack/sim_hosts.h"
#include "tests/stack/tap_host.h"

namespace coronet::testing {
namespace {

using namespace std::chrono_literals;

constexpr stack::Ipv4Address kKernel{198, 18, 6, 1};
constexpr stack::Ipv4Address kCoronet{198, 18, 6, 2};
constexpr std::chrono::seconds kStall{60};  // no progress this long fails the test

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

// Under the sanitizers (tools/test's asan pass) the same paths run with 10 MiB: memory errors
// show on the first megabytes as well, and the pass stays within CI's time (the link, not the
// CPU, sets the pace: 50 MiB take about 225 s per direction).
#if defined(CORONET_ASAN)
constexpr std::uint64_t kDefaultMiB = 10;
#else
constexpr std::uint64_t kDefaultMiB = 50;
#endif
std::uint64_t transfer_bytes() { return env_or("CORONET_IMPAIR_MIB", kDefaultMiB) << 20; }
std::chrono::seconds time_limit() {
  return std::chrono::seconds(env_or("CORONET_IMPAIR_LIMIT_S", 900));
}

TapHostConfig impaired_link(const char* ns_tag) {
  TapHostConfig c;
  c.ns_tag = ns_tag;
  c.ifname = "cnimp0";
  c.kernel_addr = kKernel;
  c.coronet_addr = kCoronet;
  c.kernel_loss = 0.05;
  c.kernel_offloads = false;
  c.impair_tx = harsh_link(0x7e57'0001);
  c.impair_rx = harsh_link(0x7e57'0002);
  return c;
}

void report(const char* direction, const Bulk& b, double wall_seconds, TapHost& h) {
  const Transfer& t = b.received;
  std::printf(
      "[impaired TAP] %s: %llu bytes (%.1f MiB) in %.1f s = %.3f MB/s (wall %.1f s)%s%s\n%s",
      direction, static_cast<unsigned long long>(t.bytes), static_cast<double>(t.bytes) / (1 << 20),
      t.seconds, t.mb_per_s(), wall_seconds, b.ok() ? "" : "; FAILED: ", b.error.c_str(),
      h.counters().c_str());
  std::fflush(stdout);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(TcpKernelImpair, LinuxSendsToCoronet) {
  const std::uint64_t total = transfer_bytes();
  auto created = TapHost::create(impaired_link("tkimp1"));
  ASSERT_TRUE(created.has_value()) << created.error().message();
  TapHost& h = **created;
  const auto start = std::chrono::steady_clock::now();
  Bulk b = linux_to_coronet(h, 7100, ByteStream(0x51, ByteStream::Mode::kExact), total, kStall,
                            time_limit());
  report("Linux -> coronet", b, seconds_since(start), h);
  EXPECT_TRUE(b.ok()) << b.error;
  EXPECT_EQ(b.received.bytes, total);
  // The impairments really happened.
  EXPECT_GT(h.impaired()->rx_impairment(0).dropped, 0u);
  EXPECT_GT(h.impaired()->rx_impairment(0).reordered, 0u);
  // At 0.1% a bit flip is certain only over many frames (smaller runs through the size knob).
  if (h.impaired()->rx_impairment(0).submitted >= 20000) {
    EXPECT_GT(h.impaired()->rx_impairment(0).corrupted, 0u);
  }
  EXPECT_GT(kernel_loss_drops(h.ns()).output, 0u);
}

TEST(TcpKernelImpair, CoronetSendsToLinux) {
  const std::uint64_t total = transfer_bytes();
  auto created = TapHost::create(impaired_link("tkimp2"));
  ASSERT_TRUE(created.has_value()) << created.error().message();
  TapHost& h = **created;
  const auto start = std::chrono::steady_clock::now();
  Bulk b = coronet_to_linux(h, 7101, ByteStream(0x52, ByteStream::Mode::kExact), total, kStall,
                            time_limit());
  report("coronet -> Linux", b, seconds_since(start), h);
  EXPECT_TRUE(b.ok()) << b.error;
  EXPECT_EQ(b.received.bytes, total);
  EXPECT_GT(h.impaired()->tx_impairment(0).dropped, 0u);
  EXPECT_GT(h.impaired()->tx_impairment(0).reordered, 0u);
  if (h.impaired()->tx_impairment(0).submitted >= 20000) {
    EXPECT_GT(h.impaired()->tx_impairment(0).corrupted, 0u);
  }
  EXPECT_GT(kernel_loss_drops(h.ns()).input, 0u);
}

}  // namespace
}  // namespace coronet::testing
