// ShmWire across two threads, one per end: an exact sequence check of every frame one way, then
// both directions at once. Tagged "tsan": ThreadSanitizer checks the rings' acquire/release pairs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "nic/wire/shm_wire.h"

namespace coronet::nic {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__) || defined(CORONET_TSAN) || \
    defined(CORONET_ASAN)
constexpr std::uint64_t kFrames = 200'000;
#else
constexpr std::uint64_t kFrames = 2'000'000;
#endif
constexpr auto kTimeLimit = std::chrono::seconds(120);

// Sizes cycle through small and large frames; every byte depends on the sequence number.
std::uint32_t size_for(std::uint64_t seq) {
  return 60 + static_cast<std::uint32_t>((seq * 97) % 1455);
}

void fill(std::byte* d, std::uint64_t seq, std::uint32_t size) {
  std::memcpy(d, &seq, sizeof(seq));
  for (std::uint32_t i = sizeof(seq); i < size; ++i) {
    d[i] = static_cast<std::byte>((seq ^ i) & 0xff);
  }
}

bool check(const Packet& p, std::uint64_t seq) {
  const std::uint32_t size = size_for(seq);
  if (p.size() != size) return false;
  std::uint64_t got;
  std::memcpy(&got, p.data(), sizeof(got));
  if (got != seq) return false;
  for (std::uint32_t i = sizeof(seq); i < size; ++i) {
    if (p.data()[i] != static_cast<std::byte>((seq ^ i) & 0xff)) return false;
  }
  return true;
}

std::unique_ptr<ShmWire> make_wire() {
  ShmWireConfig c;
  c.name = "threads";
  c.slots = 512;
  c.pool = {.count = 512, .buffer_size = 2048, .headroom = 128};
  auto w = ShmWire::create(c);
  if (!w) ADD_FAILURE() << w.error().message();
  return w ? std::move(*w) : nullptr;
}

// Sends frames seq = 0..count-1 in bursts of 32, retrying what the full ring refuses.
// Returns how many were sent before the time limit.
std::uint64_t send_all(Device& dev, std::uint64_t count,
                       std::chrono::steady_clock::time_point until) {
  std::uint64_t seq = 0;
  Packet* pending[32];
  std::size_t npending = 0;
  while (seq < count && std::chrono::steady_clock::now() < until) {
    while (npending < 32 && seq + npending < count) {
      Packet* p = dev.pool(0).alloc();
      if (p == nullptr) break;
      const std::uint32_t size = size_for(seq + npending);
      fill(p->append(size), seq + npending, size);
      pending[npending++] = p;
    }
    const std::size_t n = dev.tx_burst(0, std::span(pending, npending));
    std::memmove(pending, pending + n, (npending - n) * sizeof(Packet*));
    npending -= n;
    seq += n;
    if (n == 0) std::this_thread::yield();  // ring full: let the consumer run (2-core VMs)
  }
  PacketPool::free_bulk(std::span(pending, npending));
  return seq;
}

struct RxResult {
  std::uint64_t received = 0;
  std::uint64_t first_bad = UINT64_MAX;  // sequence number of the first wrong frame
};

// Receives and checks frames until `count` arrived or the time limit passes.
RxResult receive_all(Device& dev, std::uint64_t count,
                     std::chrono::steady_clock::time_point until) {
  RxResult r;
  Packet* buf[32];
  while (r.received < count) {
    const std::size_t n = dev.rx_burst(0, buf);
    for (std::size_t i = 0; i < n; ++i) {
      if (r.first_bad == UINT64_MAX && !check(*buf[i], r.received)) r.first_bad = r.received;
      ++r.received;
    }
    PacketPool::free_bulk(std::span(buf, n));
    if (n == 0) {
      if (std::chrono::steady_clock::now() > until) break;
      std::this_thread::yield();
    }
  }
  return r;
}

TEST(ShmWireThreads, EveryFrameArrivesExactlyOnceInOrder) {
  auto w = make_wire();
  const auto until = std::chrono::steady_clock::now() + kTimeLimit;
  std::uint64_t sent = 0;
  std::thread producer([&] { sent = send_all(w->a(), kFrames, until); });
  RxResult r = receive_all(w->b(), kFrames, until);
  producer.join();
  EXPECT_EQ(sent, kFrames);
  EXPECT_EQ(r.received, kFrames);
  EXPECT_EQ(r.first_bad, UINT64_MAX) << "first wrong frame";
  EXPECT_EQ(w->a().tx_stats(0).packets, kFrames);
  EXPECT_EQ(w->b().rx_stats(0).packets, kFrames);
  EXPECT_EQ(w->b().rx_stats(0).drops, 0u);
  EXPECT_EQ(w->a().tx_stats(0).bytes, w->b().rx_stats(0).bytes);
  EXPECT_EQ(w->a().pool(0).stats().in_use, 0u);
  EXPECT_EQ(w->b().pool(0).stats().in_use, 0u);
}

// Each thread owns one end: it sends on it and receives on it, interleaved.
TEST(ShmWireThreads, BothDirectionsAtOnce) {
  auto w = make_wire();
  const std::uint64_t count = kFrames / 4;
  const auto until = std::chrono::steady_clock::now() + kTimeLimit;
  struct Side {
    std::uint64_t sent = 0;
    RxResult rx;
  };
  auto run = [&](Device& dev, Side& side) {
    // Alternate short send and receive phases so neither ring stays full.
    std::uint64_t seq = 0;
    Packet* buf[32];
    while ((seq < count || side.rx.received < count) && std::chrono::steady_clock::now() < until) {
      bool progress = false;
      if (seq < count) {
        Packet* p[16];
        std::size_t k = 0;
        for (; k < 16 && seq + k < count; ++k) {
          p[k] = dev.pool(0).alloc();
          if (p[k] == nullptr) break;
          fill(p[k]->append(size_for(seq + k)), seq + k, size_for(seq + k));
        }
        const std::size_t n = dev.tx_burst(0, std::span(p, k));
        PacketPool::free_bulk(std::span(p + n, k - n));  // refused: rebuilt next round
        seq += n;
        progress |= n > 0;
      }
      const std::size_t n = dev.rx_burst(0, buf);
      for (std::size_t i = 0; i < n; ++i) {
        if (side.rx.first_bad == UINT64_MAX && !check(*buf[i], side.rx.received)) {
          side.rx.first_bad = side.rx.received;
        }
        ++side.rx.received;
      }
      PacketPool::free_bulk(std::span(buf, n));
      progress |= n > 0;
      if (!progress) std::this_thread::yield();
    }
    side.sent = seq;
  };
  Side a;
  Side b;
  std::thread tb([&] { run(w->b(), b); });
  run(w->a(), a);
  tb.join();
  EXPECT_EQ(a.sent, count);
  EXPECT_EQ(b.sent, count);
  EXPECT_EQ(a.rx.received, count);
  EXPECT_EQ(b.rx.received, count);
  EXPECT_EQ(a.rx.first_bad, UINT64_MAX);
  EXPECT_EQ(b.rx.first_bad, UINT64_MAX);
}

// Two queues per end, four threads: a's queues 0 and 1 each send their own numbered stream
// (producer in the top bits), b's steering sends even numbers to rx queue 0 and odd ones to 1, and
// b's two queues are drained by two more threads. Each receiving queue must see every frame
// meant for it exactly once, in each producer's order: the N x N rings keep one producer and one
// consumer each, which ThreadSanitizer checks.
TEST(ShmWireThreads, FourThreadsOnTwoQueuesEachWay) {
  const std::uint64_t per_producer = kFrames / 8;
  ShmWireConfig c;
  c.name = "mq";
  c.slots = 256;
  c.queues = 2;
  c.pool = {.count = 512, .buffer_size = 2048, .headroom = 128};
  c.steer_b = [](const Packet& f, std::uint16_t) {
    std::uint64_t v;
    std::memcpy(&v, f.data(), sizeof(v));
    Steering st;
    st.queue = static_cast<std::uint16_t>(v & 1);
    return st;
  };
  auto made = ShmWire::create(c);
  ASSERT_TRUE(made.has_value()) << made.error().message();
  ShmWire& w = **made;
  const auto until = std::chrono::steady_clock::now() + kTimeLimit;
  auto produce = [&](std::uint16_t q) {
    std::uint64_t n = 0;
    while (n < per_producer && std::chrono::steady_clock::now() < until) {
      Packet* p = w.a().pool(q).alloc();
      if (p == nullptr) {
        std::this_thread::yield();
        continue;
      }
      const std::uint64_t v = (std::uint64_t{q} << 48) | n;
      std::memcpy(p->append(64), &v, sizeof(v));
      while (w.a().tx_burst(q, std::span<Packet* const>(&p, 1)) == 0) {
        if (std::chrono::steady_clock::now() > until) {
          PacketPool::free(p);
          return;
        }
        std::this_thread::yield();
      }
      ++n;
    }
  };
  struct Seen {
    std::uint64_t count = 0;
    std::uint64_t bad = 0;
    std::uint64_t next[2] = {0, 0};  // next number expected from each producer
  };
  Seen seen[2];
  auto consume = [&](std::uint16_t q) {
    Seen& s = seen[q];
    const std::uint64_t want = per_producer;  // half of each producer's stream, from two producers
    Packet* buf[32];
    while (s.count < want && std::chrono::steady_clock::now() < until) {
      const std::size_t n = w.b().rx_burst(q, buf);
      for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t v;
        std::memcpy(&v, buf[i]->data(), sizeof(v));
        const auto prod = static_cast<unsigned>(v >> 48);
        const std::uint64_t num = v & ((std::uint64_t{1} << 48) - 1);
        if (prod > 1 || (num & 1) != q || num != s.next[prod]) ++s.bad;
        if (prod <= 1) s.next[prod] = num + 2;
        ++s.count;
      }
      PacketPool::free_bulk(std::span(buf, n));
      if (n == 0) std::this_thread::yield();
    }
  };
  seen[1].next[0] = seen[1].next[1] = 1;  // queue 1 gets the odd numbers
  std::thread p0(produce, 0), p1(produce, 1), c1(consume, 1);
  consume(0);
  p0.join();
  p1.join();
  c1.join();
  for (int q = 0; q < 2; ++q) {
    EXPECT_EQ(seen[q].count, per_producer) << "queue " << q;
    EXPECT_EQ(seen[q].bad, 0u) << "queue " << q;
    EXPECT_EQ(w.b().rx_stats(static_cast<std::uint16_t>(q)).drops, 0u);
  }
}

}  // namespace
}  // namespace coronet::nic
