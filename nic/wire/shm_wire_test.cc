// ShmWire in one thread and across fork(): byte-exact order, back-pressure, pool exhaustion,
// wrap-around, a second mapping of the same memfd at another address, a child process receiving.
#include "nic/wire/shm_wire.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <vector>

namespace coronet::nic {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__) || defined(CORONET_TSAN) || \
    defined(CORONET_ASAN)
constexpr std::uint64_t kForkFrames = 100'000;
#else
constexpr std::uint64_t kForkFrames = 1'000'000;
#endif

ShmWireConfig small_config(std::uint32_t slots = 64, std::uint32_t pool_count = 128) {
  ShmWireConfig c;
  c.name = "t";
  c.slots = slots;
  c.pool = {.count = pool_count, .buffer_size = 2048, .headroom = 128};
  return c;
}

std::unique_ptr<ShmWire> make_wire(const ShmWireConfig& c) {
  auto w = ShmWire::create(c);
  if (!w) ADD_FAILURE() << w.error().message();
  return w ? std::move(*w) : nullptr;
}

std::uint32_t size_for(std::uint64_t seq) { return 60 + static_cast<std::uint32_t>(seq % 1455); }

void fill(std::byte* d, std::uint64_t seq, std::uint32_t size) {
  for (std::uint32_t i = 0; i < size; ++i) d[i] = static_cast<std::byte>((seq + i) & 0xff);
  std::memcpy(d, &seq, sizeof(seq));
}

Packet* make_frame(Device& dev, std::uint64_t seq) {
  Packet* p = dev.pool(0).alloc();
  if (p == nullptr) return nullptr;
  fill(p->append(size_for(seq)), seq, size_for(seq));
  return p;
}

bool check_frame(const Packet& p, std::uint64_t seq) {
  const std::uint32_t size = size_for(seq);
  if (p.size() != size) return false;
  std::byte want[2048];
  fill(want, seq, size);
  return std::memcmp(p.data(), want, size) == 0;
}

std::vector<Packet*> receive_all(Device& dev) {
  std::vector<Packet*> got;
  Packet* buf[32];
  for (;;) {
    std::size_t n = dev.rx_burst(0, buf);
    got.insert(got.end(), buf, buf + n);
    if (n < std::size(buf)) return got;
  }
}

void free_all(const std::vector<Packet*>& ps) {
  for (Packet* p : ps) PacketPool::free(p);
}

TEST(ShmWire, CreateRejectsSlotCountThatIsNotAPowerOfTwo) {
  auto w = ShmWire::create(small_config(100));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), Errc::kInvalidArgument);
  EXPECT_NE(w.error().message().find("power of two"), std::string::npos);
}

TEST(ShmWire, CreateRejectsMtuLargerThanASlot) {
  ShmWireConfig c = small_config();
  c.mtu = 2040;
  auto w = ShmWire::create(c);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), Errc::kInvalidArgument);
}

TEST(ShmWire, EndsReportTheirConfiguration) {
  ShmWireConfig c = small_config();
  c.mac_a = MacAddress({2, 0, 0, 0, 0, 0xa});
  auto w = make_wire(c);
  EXPECT_EQ(w->a().info().name, "t-a");
  EXPECT_EQ(w->b().info().name, "t-b");
  EXPECT_EQ(w->a().info().mac, c.mac_a);
  EXPECT_EQ(w->a().link(), LinkState::kUp);
  EXPECT_EQ(w->slots(), 64u);
  EXPECT_GE(w->fd(), 0);
}

TEST(ShmWire, FramesCrossByteExactAndInOrderBothWays) {
  auto w = make_wire(small_config());
  for (std::uint64_t i = 0; i < 40; ++i) {
    Packet* p[] = {make_frame(w->a(), i)};
    ASSERT_EQ(w->a().tx_burst(0, p), 1u);
  }
  Packet* back[] = {make_frame(w->b(), 777)};
  ASSERT_EQ(w->b().tx_burst(0, back), 1u);
  auto at_b = receive_all(w->b());
  ASSERT_EQ(at_b.size(), 40u);
  for (std::uint64_t i = 0; i < 40; ++i) EXPECT_TRUE(check_frame(*at_b[i], i)) << i;
  auto at_a = receive_all(w->a());
  ASSERT_EQ(at_a.size(), 1u);
  EXPECT_TRUE(check_frame(*at_a[0], 777));
  EXPECT_EQ(at_b[0]->pool(), &w->b().pool(0));  // copied into the receiver's own pool
  free_all(at_b);
  free_all(at_a);
  EXPECT_EQ(w->a().pool(0).stats().in_use, 0u);  // tx buffers freed once copied
  EXPECT_EQ(w->a().tx_stats(0).packets, 40u);
  EXPECT_EQ(w->b().rx_stats(0).packets, 40u);
  EXPECT_EQ(w->b().rx_stats(0).bytes, w->a().tx_stats(0).bytes);
}

TEST(ShmWire, FullRingRefusesTheRestWhichStaysTheCallers) {
  auto w = make_wire(small_config(8));
  std::vector<Packet*> burst;
  for (std::uint64_t i = 0; i < 12; ++i) burst.push_back(make_frame(w->a(), i));
  ASSERT_EQ(w->a().tx_burst(0, burst), 8u);
  EXPECT_EQ(w->a().tx_stats(0).drops, 4u);  // refusals, counted
  auto first = receive_all(w->b());
  ASSERT_EQ(first.size(), 8u);
  // The refused four are untouched and can be sent again.
  std::span<Packet* const> rest(burst.data() + 8, 4);
  ASSERT_EQ(w->a().tx_burst(0, rest), 4u);
  auto second = receive_all(w->b());
  ASSERT_EQ(second.size(), 4u);
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(check_frame(*second[i], 8 + i));
  free_all(first);
  free_all(second);
}

TEST(ShmWire, WrapsAroundTheRingManyTimes) {
  auto w = make_wire(small_config(8));
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  while (received < 1000) {
    std::vector<Packet*> burst;
    for (int k = 0; k < 5; ++k) burst.push_back(make_frame(w->a(), sent + k));
    const std::size_t n = w->a().tx_burst(0, burst);
    sent += n;
    PacketPool::free_bulk(std::span(burst).subspan(n));
    Packet* buf[3];  // smaller than the tx burst: the ring fills and drains unevenly
    const std::size_t got = w->b().rx_burst(0, buf);
    for (std::size_t i = 0; i < got; ++i) {
      ASSERT_TRUE(check_frame(*buf[i], received)) << received;
      ++received;
      PacketPool::free(buf[i]);
    }
  }
}

TEST(ShmWire, ChainedFrameIsCopiedIntoOneSlot) {
  auto w = make_wire(small_config());
  Packet* head = w->a().pool(0).alloc();
  Packet* tail = w->a().pool(0).alloc();
  std::memset(head->append(20), 1, 20);
  std::memset(tail->append(44), 2, 44);
  head->set_next(tail);
  Packet* p[] = {head};
  ASSERT_EQ(w->a().tx_burst(0, p), 1u);
  auto got = receive_all(w->b());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->size(), 64u);
  EXPECT_EQ(got[0]->data()[19], std::byte{1});
  EXPECT_EQ(got[0]->data()[20], std::byte{2});
  free_all(got);
  EXPECT_EQ(w->a().pool(0).stats().in_use, 0u);
}

TEST(ShmWire, OversizeFrameIsTakenDroppedAndCountedAsError) {
  auto w = make_wire(small_config());
  Packet* big = w->a().pool(0).alloc();
  std::memset(big->append(1515), 0, 1515);  // mtu 1500 + 14 is the largest frame
  Packet* ok = make_frame(w->a(), 5);
  Packet* p[] = {big, ok};
  ASSERT_EQ(w->a().tx_burst(0, p), 2u);
  EXPECT_EQ(w->a().tx_stats(0).errors, 1u);
  auto got = receive_all(w->b());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(check_frame(*got[0], 5));
  free_all(got);
}

TEST(ShmWire, ReceivePoolExhaustionDropsAndCounts) {
  auto w = make_wire(small_config(64, 4));
  for (std::uint64_t i = 0; i < 6; ++i) {
    Packet* p[] = {make_frame(w->a(), i)};
    ASSERT_EQ(w->a().tx_burst(0, p), 1u);
  }
  Packet* buf[8];
  ASSERT_EQ(w->b().rx_burst(0, buf), 4u);
  EXPECT_EQ(w->b().rx_stats(0).drops, 2u);
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(check_frame(*buf[i], i));
  PacketPool::free_bulk(std::span(buf, 4));
  EXPECT_TRUE(receive_all(w->b()).empty());  // the dropped frames' slots were freed
}

TEST(ShmWire, SmallReceiveBuffersCountTooLargeFramesAsErrors) {
  ShmWireConfig c = small_config();
  c.pool = {.count = 16, .buffer_size = 512, .headroom = 64};
  auto w = make_wire(c);
  PacketPool sender({.count = 4, .buffer_size = 2048, .headroom = 0});
  Packet* p[] = {sender.alloc(), sender.alloc()};
  std::memset(p[0]->append(1000), 0, 1000);  // larger than 448 bytes of room
  std::memset(p[1]->append(100), 0, 100);
  ASSERT_EQ(w->a().tx_burst(0, p), 2u);
  auto got = receive_all(w->b());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->size(), 100u);
  EXPECT_EQ(w->b().rx_stats(0).errors, 1u);
  free_all(got);
  EXPECT_EQ(w->b().pool(0).stats().in_use, 0u);
}

TEST(ShmWire, AttachMapsTheSameRingsAtAnotherAddress) {
  auto w1 = make_wire(small_config());
  auto w2r = ShmWire::attach(w1->fd(), small_config());
  ASSERT_TRUE(w2r) << w2r.error().message();
  auto& w2 = *w2r;
  EXPECT_NE(w2->region(), w1->region());
  EXPECT_EQ(w2->slots(), 64u);
  // Advance the indices first so that the attached view must pick them up.
  for (std::uint64_t i = 0; i < 3; ++i) {
    Packet* p[] = {make_frame(w1->a(), i)};
    ASSERT_EQ(w1->a().tx_burst(0, p), 1u);
  }
  free_all(receive_all(w1->b()));
  auto w3r = ShmWire::attach(w1->fd(), small_config());  // attached after traffic
  ASSERT_TRUE(w3r);
  auto& w3 = *w3r;
  for (std::uint64_t i = 3; i < 10; ++i) {
    Packet* p[] = {make_frame(w1->a(), i)};
    ASSERT_EQ(w1->a().tx_burst(0, p), 1u);
  }
  auto got = receive_all(w3->b());
  ASSERT_EQ(got.size(), 7u);
  for (std::uint64_t i = 0; i < 7; ++i) EXPECT_TRUE(check_frame(*got[i], 3 + i));
  free_all(got);
}

TEST(ShmWire, AttachRejectsAnFdThatIsNotAShmWire) {
  const int fd = ::memfd_create("not-a-wire", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  auto w = ShmWire::attach(fd, small_config());
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), Errc::kInvalidArgument);
  const int empty_fd = ::memfd_create("empty", MFD_CLOEXEC);
  EXPECT_FALSE(ShmWire::attach(empty_fd, small_config()));
  ::close(empty_fd);
  ::close(fd);
}

// Child: receive kForkFrames on b and check each one; exit code says what went wrong.
[[noreturn]] void child_receive(ShmWire& w) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::uint64_t next = 0;
  Packet* buf[32];
  while (next < kForkFrames) {
    const std::size_t n = w.b().rx_burst(0, buf);
    for (std::size_t i = 0; i < n; ++i) {
      if (!check_frame(*buf[i], next)) _exit(2);
      ++next;
    }
    PacketPool::free_bulk(std::span(buf, n));
    if (n == 0) {
      if (std::chrono::steady_clock::now() > deadline) _exit(3);
      sched_yield();  // the sender may share our core
    }
  }
  if (w.b().rx_stats(0).packets != kForkFrames || w.b().rx_stats(0).drops != 0) _exit(4);
  _exit(0);
}

TEST(ShmWire, AcrossForkParentSendsChildReceivesAndVerifies) {
  auto w = make_wire(small_config(1024, 256));
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) child_receive(*w);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::uint64_t seq = 0;
  std::vector<Packet*> pending;
  while (seq < kForkFrames && std::chrono::steady_clock::now() < deadline) {
    while (pending.size() < 32 && seq + pending.size() < kForkFrames) {
      pending.push_back(make_frame(w->a(), seq + pending.size()));
    }
    const std::size_t n = w->a().tx_burst(0, pending);
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
    seq += n;
    if (n == 0) sched_yield();  // ring full: the receiver may share our core
  }
  free_all(pending);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(seq, kForkFrames);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: bad frame, 3: timed out, 4: counters";
}

// --- Queues: N x N rings per direction, steered by the receiving end ---------------------------

std::vector<Packet*> receive_queue(Device& dev, std::uint16_t q) {
  std::vector<Packet*> got;
  Packet* buf[32];
  for (;;) {
    std::size_t n = dev.rx_burst(q, buf);
    got.insert(got.end(), buf, buf + n);
    if (n == 0) return got;
  }
}

std::uint64_t seq_of(const Packet& p) {
  std::uint64_t s;
  std::memcpy(&s, p.data(), sizeof(s));
  return s;
}

TEST(ShmWire, WithoutSteeringEachQueueReachesThePeersQueueOfTheSameIndex) {
  ShmWireConfig c = small_config();
  c.queues = 3;
  auto w = make_wire(c);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->a().info().rx_queues, 3);
  EXPECT_EQ(w->b().info().tx_queues, 3);
  for (std::uint16_t q = 0; q < 3; ++q) {
    Packet* p = make_frame(w->a(), 100 + q);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(w->a().tx_burst(q, std::span<Packet* const>(&p, 1)), 1u);
  }
  for (std::uint16_t q = 0; q < 3; ++q) {
    auto got = receive_queue(w->b(), q);
    ASSERT_EQ(got.size(), 1u) << "queue " << q;
    EXPECT_TRUE(check_frame(*got[0], 100 + q));
    EXPECT_EQ(w->b().rx_stats(q).packets, 1u);
    free_all(got);
  }
}

// The receiving end's steering picks the rx queue per frame (here: the sequence number modulo
// the queues, 0xff.. for "every queue"); each queue gets its frames in the order they were sent
// from every sending queue, and a copy for all reaches every queue.
TEST(ShmWire, SteeringSpreadsFramesOverTheReceivingQueuesInOrder) {
  ShmWireConfig c = small_config(64, 256);
  c.queues = 2;
  c.steer_b = [](const Packet& f, std::uint16_t queues) {
    Steering s;
    const std::uint64_t seq = seq_of(f);
    if (seq % 10 == 9) {
      s.all_queues = true;
    } else {
      s.queue = static_cast<std::uint16_t>(seq % queues);
    }
    return s;
  };
  auto w = make_wire(c);
  ASSERT_TRUE(w);
  // From a's queue 1: frames 0..39 in one burst.
  std::vector<Packet*> burst;
  for (std::uint64_t seq = 0; seq < 40; ++seq) burst.push_back(make_frame(w->a(), seq));
  ASSERT_EQ(w->a().tx_burst(1, burst), 40u);
  for (std::uint16_t q = 0; q < 2; ++q) {
    auto got = receive_queue(w->b(), q);
    std::vector<std::uint64_t> seqs;
    for (Packet* p : got) {
      seqs.push_back(seq_of(*p));
      EXPECT_TRUE(check_frame(*p, seq_of(*p)));
    }
    std::vector<std::uint64_t> want;
    for (std::uint64_t seq = 0; seq < 40; ++seq) {
      if (seq % 10 == 9 || seq % 2 == q) want.push_back(seq);
    }
    EXPECT_EQ(seqs, want) << "queue " << q;
    free_all(got);
  }
}

// A unicast frame whose ring is full ends the burst there: it and the rest stay the caller's,
// what went before (to any ring) is sent.
TEST(ShmWire, FullRingOfOneQueueStopsTheBurstAtThatFrame) {
  ShmWireConfig c = small_config(4, 64);
  c.queues = 2;
  c.steer_b = [](const Packet& f, std::uint16_t) {
    Steering s;
    s.queue = static_cast<std::uint16_t>(seq_of(f) < 100 ? 0 : 1);
    return s;
  };
  auto w = make_wire(c);
  ASSERT_TRUE(w);
  std::vector<Packet*> burst;
  for (std::uint64_t seq : {100, 1, 2, 3, 4, 5, 101}) burst.push_back(make_frame(w->a(), seq));
  // Ring (0 -> 0) holds 4: frames 1..4 go, frame 5 finds it full.
  ASSERT_EQ(w->a().tx_burst(0, burst), 5u);
  EXPECT_EQ(w->a().tx_stats(0).drops, 2u);  // refused: 5 and 101, still ours
  PacketPool::free(burst[5]);
  PacketPool::free(burst[6]);
  auto q0 = receive_queue(w->b(), 0);
  auto q1 = receive_queue(w->b(), 1);
  EXPECT_EQ(q0.size(), 4u);
  ASSERT_EQ(q1.size(), 1u);
  EXPECT_EQ(seq_of(*q1[0]), 100u);
  free_all(q0);
  free_all(q1);
}

TEST(ShmWire, CreateRejectsZeroQueues) {
  ShmWireConfig c = small_config();
  c.queues = 0;
  auto w = ShmWire::create(c);
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().message().find("queues"), std::string::npos);
}

}  // namespace
}  // namespace coronet::nic
