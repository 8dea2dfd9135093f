// The coroutine runtime in one include, with the everyday names lifted into `coronet::`:
//   coronet::Task, spawn, sleep_for, with_timeout, when_all, submit_to, ...
#pragma once

#include "coro/cancellation.h"
#include "coro/event.h"
#include "coro/log.h"
#include "coro/reactor.h"
#include "coro/result.h"
#include "coro/runtime.h"
#include "coro/sharded.h"
#include "coro/task.h"
#include "coro/timeout.h"
#include "coro/when_all.h"
#include "coro/when_any.h"

namespace coronet {

using coro::CancellationSource;
using coro::CancellationToken;
using coro::current_token;
using coro::Duration;
using coro::Event;
using coro::Reactor;
using coro::Runtime;
using coro::RuntimeOptions;
using coro::Sharded;
using coro::sleep_for;
using coro::sleep_until;
using coro::spawn;
using coro::submit_to;
using coro::Task;
using coro::TimePoint;
using coro::when_all;
using coro::when_any;
using coro::with_cancellation;
using coro::with_timeout;
using coro::yield;

}  // namespace coronet
