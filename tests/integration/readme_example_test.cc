// The runtime example from README.md, verbatim in substance: it must keep compiling and working.
#include <gtest/gtest.h>

#include "coro/coro.h"

using namespace std::chrono_literals;

namespace {

coronet::Task<int> slow_answer() {
  co_await coronet::sleep_for(10ms);
  co_return 42;
}

int readme_main() {
  coronet::Runtime rt({.cores = 2});
  return rt.run([]() -> coronet::Task<int> {
    auto r = co_await coronet::with_timeout(slow_answer(), 1s);       // Result<int>
    auto other = co_await coronet::submit_to(1, [] { return 7; });   // runs on core 1
    co_return (r && other && *r == 42 && *other == 7) ? 0 : 1;
  });
}

TEST(ReadmeExample, RunsAndSucceeds) { EXPECT_EQ(readme_main(), 0); }

}  // namespace
