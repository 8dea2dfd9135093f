// Cancellation and timeouts: every waiter resumes exactly once, whichever of completion and
// cancellation comes first; with_timeout returns errors as values.
#include "coro/cancellation.h"

#include <gtest/gtest.h>

#include <chrono>

#include "coro/event.h"
#include "coro/reactor.h"
#include "coro/timeout.h"
#include "coro/testing.h"

namespace coronet::coro {
namespace {

using namespace std::chrono_literals;
using testing::VirtualReactor;

struct Outcome {
  int resumes = 0;
  std::optional<Errc> error;
};

Task<void> wait_event(Event& e, Outcome& out) {
  Result<void> r = co_await e.wait();
  ++out.resumes;
  if (!r) out.error = r.error().code();
}

Task<void> sleep_then(Duration d, Outcome& out) {
  Result<void> r = co_await sleep_for(d);
  ++out.resumes;
  if (!r) out.error = r.error().code();
}

TEST(Cancellation, CancelResumesAWaitingCoroutineOnceWithCancelled) {
  VirtualReactor v;
  CancellationSource src;
  Event e;
  Outcome out;
  v.reactor.spawn(with_cancellation(wait_event(e, out), src.token()));
  v.drain();
  EXPECT_EQ(out.resumes, 0);
  EXPECT_TRUE(src.cancel().has_value());
  v.drain();
  EXPECT_EQ(out.resumes, 1);
  EXPECT_EQ(out.error, Errc::kCancelled);
  EXPECT_EQ(e.waiters(), 0u);
}

TEST(Cancellation, CompletionAfterCancelDoesNotResumeAgain) {
  VirtualReactor v;
  CancellationSource src;
  Event e;
  Outcome out;
  v.reactor.spawn(with_cancellation(wait_event(e, out), src.token()));
  v.drain();
  (void)src.cancel();
  e.set();  // arrives after the cancel, before the coroutine has resumed
  v.drain();
  EXPECT_EQ(out.resumes, 1);
  EXPECT_EQ(out.error, Errc::kCancelled);
}

TEST(Cancellation, CancelAfterCompletionIsIgnoredByTheCompletedWait) {
  VirtualReactor v;
  CancellationSource src;
  Event e;
  Outcome out;
  v.reactor.spawn(with_cancellation(wait_event(e, out), src.token()));
  v.drain();
  e.set();             // completion first: the waiter is queued to resume with success
  (void)src.cancel();  // then cancel, before it resumed
  v.drain();
  EXPECT_EQ(out.resumes, 1);
  EXPECT_FALSE(out.error.has_value());
}

TEST(Cancellation, CancellingTwiceReportsAlreadyCancelled) {
  CancellationSource src;
  EXPECT_TRUE(src.cancel().has_value());
  Result<void> again = src.cancel();
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), Errc::kAlreadyCancelled);
  EXPECT_EQ(again.error().message(), "cancellation was already requested");
  EXPECT_TRUE(src.cancelled());
}

TEST(Cancellation, AlreadyCancelledTokenFailsTheWaitWithoutSuspending) {
  VirtualReactor v;
  CancellationSource src;
  (void)src.cancel();
  Outcome out;
  auto t = with_cancellation(sleep_then(1h, out), src.token());
  v.reactor.block_on(std::move(t));
  EXPECT_EQ(out.resumes, 1);
  EXPECT_EQ(out.error, Errc::kCancelled);
  EXPECT_EQ(v.reactor.armed_timers(), 0u);
}

TEST(Cancellation, CancelledSleepDisarmsItsTimer) {
  VirtualReactor v;
  CancellationSource src;
  Outcome out;
  v.reactor.spawn(with_cancellation(sleep_then(1h, out), src.token()));
  v.drain();
  EXPECT_EQ(v.reactor.armed_timers(), 1u);
  (void)src.cancel();
  v.drain();
  EXPECT_EQ(out.error, Errc::kCancelled);
  EXPECT_EQ(v.reactor.armed_timers(), 0u);
}

TEST(Cancellation, TokenIsInheritedDownTheAwaitChain) {
  VirtualReactor v;
  CancellationSource src;
  Outcome out;
  auto middle = [](Outcome& o) -> Task<void> { co_await sleep_then(1h, o); };
  auto top = [&](Outcome& o) -> Task<void> { co_await middle(o); };
  v.reactor.spawn(with_cancellation(top(out), src.token()));
  v.drain();
  (void)src.cancel();
  v.drain();
  EXPECT_EQ(out.error, Errc::kCancelled);
}

TEST(Cancellation, RegistrationDestroyedBeforeCancelIsNotCalled) {
  CancellationSource src;
  static int calls = 0;
  calls = 0;
  {
    CancellationRegistration r;
    EXPECT_TRUE(r.attach(src.token().state(), [](CancellationRegistration*) { ++calls; }));
  }
  CancellationRegistration kept;
  EXPECT_TRUE(kept.attach(src.token().state(), [](CancellationRegistration*) { ++calls; }));
  (void)src.cancel();
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(kept.attached());
  CancellationRegistration late;
  EXPECT_FALSE(late.attach(src.token().state(), [](CancellationRegistration*) { ++calls; }));
  EXPECT_EQ(calls, 1);
}

TEST(Timeout, ExpiresWithTimedOutAsAValue) {
  VirtualReactor v;
  TimePoint start = v.clock.now();
  auto slow = []() -> Task<Result<void>> { co_return co_await sleep_for(10s); };
  Result<void> r = v.reactor.block_on(with_timeout(slow(), 250ms));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
  EXPECT_EQ(v.clock.now() - start, Duration(250ms));
  EXPECT_EQ(v.reactor.armed_timers(), 0u);
}

TEST(Timeout, FastTaskReturnsItsValueAndDisarmsTheTimer) {
  VirtualReactor v;
  auto fast = []() -> Task<int> {
    (void)co_await sleep_for(1ms);
    co_return 7;
  };
  Result<int> r = v.reactor.block_on(with_timeout(fast(), 1s));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 7);
  EXPECT_EQ(v.reactor.armed_timers(), 0u);
}

TEST(Timeout, TaskThatIgnoresCancellationKeepsItsResult) {
  VirtualReactor v;
  auto stubborn = []() -> Task<int> {
    (void)co_await sleep_for(1s);  // cancelled at 100 ms; ignores it
    co_return 99;
  };
  Result<int> r = v.reactor.block_on(with_timeout(stubborn(), 100ms));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 99);
}

TEST(Timeout, OuterCancellationIsReportedAsCancelledNotTimedOut) {
  VirtualReactor v;
  CancellationSource outer;
  auto slow = []() -> Task<Result<void>> { co_return co_await sleep_for(10s); };
  auto canceller = [](CancellationSource& s) -> Task<void> {
    (void)co_await sleep_for(10ms);
    (void)s.cancel();
  };
  v.reactor.spawn(canceller(outer));
  Result<void> r = v.reactor.block_on(with_cancellation(with_timeout(slow(), 1s), outer.token()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kCancelled);
}

TEST(Timeout, NestedTimeoutsTheInnerOneFires) {
  VirtualReactor v;
  auto slow = []() -> Task<Result<void>> { co_return co_await sleep_for(10s); };
  auto inner = [&]() -> Task<Result<void>> { co_return co_await with_timeout(slow(), 50ms); };
  Result<void> r = v.reactor.block_on(with_timeout(inner(), 1s));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
}

}  // namespace
}  // namespace coronet::coro
