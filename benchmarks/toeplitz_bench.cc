// The software Toeplitz hash (nic/rss) against the bit-at-a-time reference and DPDK's
// rte_softrss / rte_softrss_be, in ns per IPv4 4-tuple, plus the local port choice for an active
// open. Run: bazel run --config=opt //benchmarks:toeplitz_bench
//
// Each loop hashes a different tuple from a small precomputed ring (in cache), and the hashes are
// independent, so the numbers are throughput per hash, not latency.
#include <benchmark/benchmark.h>
#include <rte_thash.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "nic/rss/port_selector.h"
#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"

namespace coronet::nic::rss {
namespace {

constexpr std::size_t kRing = 1024;  // tuples cycled through; a power of two

std::vector<Ipv4Tuple> random_tuples() {
  std::mt19937_64 rng(42);
  std::vector<Ipv4Tuple> v(kRing);
  for (auto& t : v) {
    const std::uint64_t a = rng(), b = rng();
    t = {static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(a >> 32),
         static_cast<std::uint16_t>(b), static_cast<std::uint16_t>(b >> 16)};
  }
  return v;
}

// The same tuples the way DPDK takes them: CPU-order words, ports packed as (src << 16 | dst).
std::vector<std::array<std::uint32_t, 3>> dpdk_words(const std::vector<Ipv4Tuple>& tuples) {
  std::vector<std::array<std::uint32_t, 3>> v;
  for (const auto& t : tuples) {
    v.push_back({t.src_addr, t.dst_addr, (std::uint32_t{t.src_port} << 16) | t.dst_port});
  }
  return v;
}

struct alignas(4) AlignedKey {
  Key bytes;
};

void BM_ToeplitzTable(benchmark::State& state) {
  const Toeplitz h(kMicrosoftKey);
  const auto tuples = random_tuples();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.hash(tuples[i++ & (kRing - 1)]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ToeplitzTable);

void BM_ToeplitzTableAddrsOnly(benchmark::State& state) {
  const Toeplitz h(kMicrosoftKey);
  const auto tuples = random_tuples();
  std::size_t i = 0;
  for (auto _ : state) {
    const Ipv4Tuple& t = tuples[i++ & (kRing - 1)];
    benchmark::DoNotOptimize(h.hash_addrs(t.src_addr, t.dst_addr));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ToeplitzTableAddrsOnly);

void BM_ToeplitzReference(benchmark::State& state) {
  const auto tuples = random_tuples();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(toeplitz_reference(kMicrosoftKey, tuples[i++ & (kRing - 1)]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ToeplitzReference);

void BM_RteSoftrss(benchmark::State& state) {
  AlignedKey key{kMicrosoftKey};
  auto words = dpdk_words(random_tuples());
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        rte_softrss(words[i++ & (kRing - 1)].data(), RTE_THASH_V4_L4_LEN, key.bytes.data()));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RteSoftrss);

void BM_RteSoftrssBe(benchmark::State& state) {
  AlignedKey key{kMicrosoftKey};
  AlignedKey converted;
  rte_convert_rss_key(reinterpret_cast<const std::uint32_t*>(key.bytes.data()),
                      reinterpret_cast<std::uint32_t*>(converted.bytes.data()), kKeySize);
  auto words = dpdk_words(random_tuples());
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(rte_softrss_be(words[i++ & (kRing - 1)].data(), RTE_THASH_V4_L4_LEN,
                                            converted.bytes.data()));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RteSoftrssBe);

// Hash and RETA lookup: the queue a received packet belongs to.
void BM_ToeplitzTableQueueOf(benchmark::State& state) {
  const Toeplitz h(kSymmetricKey);
  const Reta reta = Reta::round_robin(4);
  const auto tuples = random_tuples();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(reta.queue_of(h.hash(tuples[i++ & (kRing - 1)])));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ToeplitzTableQueueOf);

// One active open's local port over range(0) queues, every port free (the common case: the first
// candidate wins), and with a busy predicate that refuses the first 90% of the candidates it is
// offered (a crowded core).
void BM_PortSelect(benchmark::State& state) {
  const Toeplitz h(kSymmetricKey);
  const auto queues = static_cast<std::uint16_t>(state.range(0));
  const Reta reta = Reta::round_robin(queues);
  const PortSelector sel(h, reta);
  const auto tuples = random_tuples();
  std::uint32_t i = 0;
  for (auto _ : state) {
    const Ipv4Tuple& t = tuples[i & (kRing - 1)];
    ActiveOpen open;
    open.local_addr = t.src_addr;
    open.remote_addr = t.dst_addr;
    open.remote_port = t.dst_port;
    open.queue = static_cast<std::uint16_t>(i % queues);
    open.hint = i++;
    benchmark::DoNotOptimize(sel.select(open));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PortSelect)->Arg(2)->Arg(4)->Arg(8);

void BM_PortSelectCrowded(benchmark::State& state) {
  const Toeplitz h(kSymmetricKey);
  const Reta reta = Reta::round_robin(4);
  const PortSelector sel(h, reta);
  ActiveOpen open;
  open.local_addr = 0xc6120001;
  open.remote_addr = 0xc6120002;
  open.remote_port = 80;
  // 28232 ports / 4 queues: about 7058 candidates; refuse all but the last 10%.
  const int refuse = 6350;
  std::uint32_t i = 0;
  for (auto _ : state) {
    open.hint = i++;
    int asked = 0;
    benchmark::DoNotOptimize(sel.select(open, [&](std::uint16_t) { return ++asked > refuse; }));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PortSelectCrowded);

void BM_PortSelectorBuild(benchmark::State& state) {
  const Toeplitz h(kSymmetricKey);
  const Reta reta = Reta::round_robin(4);
  for (auto _ : state) {
    PortSelector sel(h, reta);
    benchmark::DoNotOptimize(&sel);
  }
}
BENCHMARK(BM_PortSelectorBuild);

void BM_ToeplitzBuildTables(benchmark::State& state) {
  for (auto _ : state) {
    Toeplitz h(kMicrosoftKey);
    benchmark::DoNotOptimize(&h);
  }
}
BENCHMARK(BM_ToeplitzBuildTables);

}  // namespace
}  // namespace coronet::nic::rss
