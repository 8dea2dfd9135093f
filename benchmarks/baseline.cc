// The baseline every coronet micro-benchmark is read against, linked into each benchmark binary
// so it is measured in the same run: a call through a function pointer the compiler cannot see
// through (the cost of one virtual/indirect call).
#include <benchmark/benchmark.h>

namespace coronet::bench {
namespace {

int __attribute__((noinline)) add_one(int x) { return x + 1; }

void BM_IndirectCall(benchmark::State& state) {
  int (*fn)(int) = &add_one;
  int x = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(fn);  // opaque: a real indirect call every iteration
    x = fn(x);
    benchmark::DoNotOptimize(x);
  }
}
BENCHMARK(BM_IndirectCall);

}  // namespace
}  // namespace coronet::bench
