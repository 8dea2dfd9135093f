// Reassembler unit tests: fragments in (as received, from the IPv4 header on), datagrams out.
#include "stack/ipv4/reassembly.h"

#include <gtest/gtest.h>

#include <vector>

#include "coro/testing.h"
#include "nic/packet_pool.h"
#include "stack/testing/frames.h"

namespace coronet::stack::ipv4 {
namespace {

using namespace std::chrono_literals;
using testing::Bytes;

const Ipv4Address kSrc(10, 0, 0, 2);
const Ipv4Address kDst(10, 0, 0, 1);

struct Fixture {
  explicit Fixture(Ipv4Config c = {}) : config(c), reasm(vr.reactor, config) {
    reasm.set_timeout_handler(
        [](void* self, nic::Packet* first) {
          static_cast<Fixture*>(self)->timed_out.push_back(first);
        },
        this);
  }
  ~Fixture() {
    for (nic::Packet* p : timed_out) nic::PacketPool::free(p);
  }

  // Fragment [offset, offset + len) of `payload`, as a packet starting at its IPv4 header.
  nic::Packet* fragment(const Bytes& payload, std::uint16_t offset, std::size_t len, bool mf,
                        std::uint16_t id = 7) {
    testing::Ip ip{
        .src = kSrc, .dst = kDst, .protocol = 17, .id = id, .mf = mf, .frag_offset = offset};
    Bytes b = testing::ipv4(ip, std::span(payload).subspan(offset, len));
    nic::Packet* p = pool.alloc();
    p->append_bytes(b);
    return p;
  }
  nic::Packet* add(nic::Packet* p) { return reasm.add(p, read_header(p->data())); }
  nic::Packet* add(const Bytes& payload, std::uint16_t offset, std::size_t len, bool mf,
                   std::uint16_t id = 7) {
    return add(fragment(payload, offset, len, mf, id));
  }
  void advance(coro::Duration d) {
    const coro::TimePoint target = vr.clock.now() + d;
    vr.reactor.block_on(
        [](coro::TimePoint t) -> coro::Task<void> { (void)co_await coro::sleep_until(t); }(target));
  }

  coro::testing::VirtualReactor vr;
  nic::PacketPool pool{{.name = "reasm", .count = 64, .buffer_size = 2048, .headroom = 128}};
  Ipv4Config config;
  Reassembler reasm;
  std::vector<nic::Packet*> timed_out;
};

// The payload of a reassembled datagram (all segments) and checks on its rewritten header.
Bytes payload_of(nic::Packet* d) {
  Bytes all(d->chain_size());
  d->copy_out(all);
  testing::IpView ip = testing::parse_ip(all);
  EXPECT_TRUE(ip.ok);
  EXPECT_TRUE(ip.checksum_ok);
  EXPECT_FALSE(ip.mf);
  EXPECT_EQ(ip.frag_offset, 0);
  EXPECT_EQ(ip.total_len, all.size());
  return ip.payload;
}

TEST(Reassembly, TwoFragmentsInOrderMakeTheDatagram) {
  Fixture f;
  Bytes data = testing::pattern(100);
  EXPECT_EQ(f.add(data, 0, 48, true), nullptr);
  nic::Packet* d = f.add(data, 48, 52, false);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(payload_of(d), data);
  EXPECT_EQ(d->chain_segments(), 1u);  // fits one buffer: copied together
  nic::PacketPool::free(d);
  EXPECT_EQ(f.reasm.stats().reassembled, 1u);
  EXPECT_EQ(f.reasm.held_bytes(), 0u);
  EXPECT_EQ(f.pool.stats().in_use, 0u);
}

TEST(Reassembly, OutOfOrderFragmentsMakeTheDatagram) {
  Fixture f;
  Bytes data = testing::pattern(100, 3);
  EXPECT_EQ(f.add(data, 64, 36, false), nullptr);
  EXPECT_EQ(f.add(data, 0, 32, true), nullptr);
  nic::Packet* d = f.add(data, 32, 32, true);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(payload_of(d), data);
  nic::PacketPool::free(d);
}

TEST(Reassembly, LastFragmentFirstThenTheRest) {
  Fixture f;
  Bytes data = testing::pattern(24);
  EXPECT_EQ(f.add(data, 16, 8, false), nullptr);
  EXPECT_EQ(f.add(data, 8, 8, true), nullptr);
  nic::Packet* d = f.add(data, 0, 8, true);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(payload_of(d), data);
  nic::PacketPool::free(d);
}

TEST(Reassembly, ADatagramLargerThanABufferBecomesAChain) {
  Fixture f;
  Bytes data = testing::pattern(3000, 9);
  EXPECT_EQ(f.add(data, 0, 1480, true), nullptr);
  EXPECT_EQ(f.add(data, 2960, 40, false), nullptr);
  nic::Packet* d = f.add(data, 1480, 1480, true);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->chain_segments(), 3u);
  EXPECT_EQ(d->chain_size(), 20u + 3000u);
  EXPECT_EQ(payload_of(d), data);
  nic::PacketPool::free(d);
  EXPECT_EQ(f.pool.stats().in_use, 0u);
}

TEST(Reassembly, AnExactDuplicateIsDroppedAlone) {
  Fixture f;
  Bytes data = testing::pattern(40);
  EXPECT_EQ(f.add(data, 0, 16, true), nullptr);
  EXPECT_EQ(f.add(data, 0, 16, true), nullptr);
  EXPECT_EQ(f.reasm.stats().duplicates, 1u);
  nic::Packet* d = f.add(data, 16, 24, false);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(payload_of(d), data);
  nic::PacketPool::free(d);
}

TEST(Reassembly, ADuplicateWithDifferentBytesDropsTheDatagram) {
  Fixture f;
  Bytes data = testing::pattern(40);
  Bytes evil = data;
  evil[3] = std::byte{0xee};
  EXPECT_EQ(f.add(data, 0, 16, true), nullptr);
  EXPECT_EQ(f.add(evil, 0, 16, true), nullptr);
  EXPECT_EQ(f.reasm.stats().overlaps, 1u);
  EXPECT_EQ(f.add(data, 16, 24, false), nullptr);  // the rest is swallowed
  EXPECT_EQ(f.reasm.stats().late_fragments, 1u);
  EXPECT_EQ(f.pool.stats().in_use, 0u);
}

TEST(Reassembly, APartialOverlapWithTheNextFragmentDropsTheDatagram) {
  Fixture f;
  Bytes data = testing::pattern(64);
  EXPECT_EQ(f.add(data, 16, 16, true), nullptr);
  EXPECT_EQ(f.add(data, 8, 16, true), nullptr);  // [8, 24) overlaps [16, 32)
  EXPECT_EQ(f.reasm.stats().overlaps, 1u);
  EXPECT_EQ(f.reasm.held_bytes(), 0u);
  EXPECT_EQ(f.reasm.in_progress(), 0u);
}

TEST(Reassembly, AnOverlapWithThePreviousFragmentDropsTheDatagram) {
  Fixture f;
  Bytes data = testing::pattern(64);
  EXPECT_EQ(f.add(data, 0, 24, true), nullptr);
  EXPECT_EQ(f.add(data, 16, 48, false), nullptr);  // starts inside [0, 24)
  EXPECT_EQ(f.reasm.stats().overlaps, 1u);
  EXPECT_EQ(f.pool.stats().in_use, 0u);
}

TEST(Reassembly, TheDroppedDatagramsSlotIsFreedByItsTimer) {
  Fixture f;
  Bytes data = testing::pattern(64);
  f.add(data, 0, 24, true);
  f.add(data, 16, 48, false);
  f.advance(f.config.reassembly_timeout);
  // The same identification now starts afresh.
  EXPECT_EQ(f.add(data, 0, 32, true), nullptr);
  nic::Packet* d = f.add(data, 32, 32, false);
  ASSERT_NE(d, nullptr);
  nic::PacketPool::free(d);
  EXPECT_TRUE(f.timed_out.empty());  // dead datagrams send no Time Exceeded
}

TEST(Reassembly, AnIncompleteDatagramTimesOutAndHandsOverFragmentZero) {
  Fixture f;
  Bytes data = testing::pattern(64);
  f.add(data, 0, 32, true);
  f.advance(f.config.reassembly_timeout - 1ms);
  EXPECT_EQ(f.reasm.in_progress(), 1u);
  f.advance(1ms);
  EXPECT_EQ(f.reasm.in_progress(), 0u);
  EXPECT_EQ(f.reasm.stats().timeouts, 1u);
  ASSERT_EQ(f.timed_out.size(), 1u);
  EXPECT_EQ(read_header(f.timed_out[0]->data()).frag_offset, 0u);
  EXPECT_EQ(f.reasm.held_bytes(), 0u);
}

TEST(Reassembly, ATimeoutWithoutFragmentZeroReportsNothing) {
  Fixture f;
  Bytes data = testing::pattern(64);
  f.add(data, 32, 32, false);
  f.advance(f.config.reassembly_timeout);
  EXPECT_EQ(f.reasm.stats().timeouts, 1u);
  EXPECT_TRUE(f.timed_out.empty());
  EXPECT_EQ(f.pool.stats().in_use, 0u);
}

TEST(Reassembly, TheMemoryBoundDropsTheDatagramThatWouldExceedIt) {
  Ipv4Config c;
  c.reassembly_max_bytes = 2 * 2048;  // two buffers
  Fixture f(c);
  Bytes data = testing::pattern(64);
  f.add(data, 0, 8, true, 1);
  f.add(data, 8, 8, true, 1);
  EXPECT_EQ(f.add(data, 16, 8, true, 1), nullptr);
  EXPECT_EQ(f.reasm.stats().memory_exceeded, 1u);
  EXPECT_EQ(f.reasm.held_bytes(), 0u);
  EXPECT_EQ(f.pool.stats().in_use, 0u);
  // Another datagram fits again.
  EXPECT_EQ(f.add(data, 0, 8, true, 2), nullptr);
  EXPECT_EQ(f.reasm.held_bytes(), 2048u);
}

TEST(Reassembly, TooManyDatagramsInProgressDropsNewOnes) {
  Ipv4Config c;
  c.reassembly_max_datagrams = 2;
  Fixture f(c);
  Bytes data = testing::pattern(64);
  f.add(data, 0, 8, true, 1);
  f.add(data, 0, 8, true, 2);
  EXPECT_EQ(f.add(data, 0, 8, true, 3), nullptr);
  EXPECT_EQ(f.reasm.stats().table_full, 1u);
  EXPECT_EQ(f.reasm.in_progress(), 2u);
}

TEST(Reassembly, DatagramsAreKeyedBySourceDestinationProtocolAndId) {
  Fixture f;
  Bytes a = testing::pattern(32, 1);
  Bytes b = testing::pattern(32, 100);
  f.add(a, 0, 16, true, 1);
  f.add(b, 0, 16, true, 2);
  nic::Packet* db = f.add(b, 16, 16, false, 2);
  nic::Packet* da = f.add(a, 16, 16, false, 1);
  ASSERT_NE(da, nullptr);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(payload_of(da), a);
  EXPECT_EQ(payload_of(db), b);
  nic::PacketPool::free(da);
  nic::PacketPool::free(db);
}

TEST(Reassembly, ANonFinalFragmentNotAMultipleOf8IsDropped) {
  Fixture f;
  Bytes data = testing::pattern(64);
  EXPECT_EQ(f.add(data, 0, 12, true), nullptr);
  EXPECT_EQ(f.reasm.stats().bad_fragments, 1u);
  EXPECT_EQ(f.reasm.in_progress(), 0u);
}

TEST(Reassembly, AnEmptyFragmentIsDropped) {
  Fixture f;
  Bytes data = testing::pattern(64);
  EXPECT_EQ(f.add(data, 8, 0, false), nullptr);
  EXPECT_EQ(f.reasm.stats().bad_fragments, 1u);
}

TEST(Reassembly, TwoDifferentLastFragmentsAreInconsistent) {
  Fixture f;
  Bytes data = testing::pattern(64);
  f.add(data, 32, 32, false);
  EXPECT_EQ(f.add(data, 32, 16, false), nullptr);
  EXPECT_EQ(f.reasm.stats().inconsistent, 1u);
  EXPECT_EQ(f.pool.stats().in_use, 0u);
}

TEST(Reassembly, DataBeyondTheLastFragmentIsInconsistent) {
  Fixture f;
  Bytes data = testing::pattern(64);
  f.add(data, 8, 8, false);  // says the datagram is 16 bytes
  EXPECT_EQ(f.add(data, 16, 16, true), nullptr);
  EXPECT_EQ(f.reasm.stats().inconsistent, 1u);
}

TEST(Reassembly, ADatagramBeyond65535BytesIsDropped) {
  Fixture f;
  Bytes data = testing::pattern(65528 + 16);
  EXPECT_EQ(f.add(data, 0, 8, true), nullptr);
  EXPECT_EQ(f.add(data, 65528, 16, false), nullptr);  // "ping of death"
  EXPECT_EQ(f.reasm.stats().oversize, 1u);
  EXPECT_EQ(f.pool.stats().in_use, 0u);
}

TEST(Reassembly, DestructionFreesEverythingHeld) {
  coro::testing::VirtualReactor vr;
  nic::PacketPool pool({.name = "reasm", .count = 8, .buffer_size = 2048, .headroom = 128});
  {
    Ipv4Config c;
    Reassembler r(vr.reactor, c);
    Bytes b =
        testing::ipv4(testing::Ip{.src = kSrc, .dst = kDst, .mf = true}, testing::pattern(16));
    nic::Packet* p = pool.alloc();
    p->append_bytes(b);
    EXPECT_EQ(r.add(p, read_header(p->data())), nullptr);
    EXPECT_EQ(pool.stats().in_use, 1u);
  }
  EXPECT_EQ(pool.stats().in_use, 0u);
  EXPECT_EQ(vr.reactor.armed_timers(), 0u);
}

}  // namespace
}  // namespace coronet::stack::ipv4
