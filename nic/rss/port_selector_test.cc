// PortSelector against a brute-force oracle: the reference Toeplitz hash of the reply tuple of
// every port in the range, mapped through the RETA.
#include "nic/rss/port_selector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace coronet::nic::rss {
namespace {

Key random_key(std::mt19937_64& rng) {
  Key k;
  for (auto& b : k) b = static_cast<std::uint8_t>(rng());
  return k;
}

ActiveOpen random_open(std::mt19937_64& rng, std::uint16_t queues) {
  ActiveOpen open;
  open.local_addr = static_cast<std::uint32_t>(rng());
  open.remote_addr = static_cast<std::uint32_t>(rng());
  open.remote_port = static_cast<std::uint16_t>(rng());
  open.queue = static_cast<std::uint16_t>(rng() % queues);
  return open;
}

// The queue the NIC steers the replies of local_port to, by the reference hash.
std::uint16_t reply_queue(const Key& key, const Reta& reta, const ActiveOpen& open,
                          std::uint16_t local_port) {
  const Ipv4Tuple reply{open.remote_addr, open.local_addr, open.remote_port, local_port};
  return reta.queue_of(toeplitz_reference(key, reply));
}

// Every port of open.range whose replies reach open.queue.
std::vector<std::uint16_t> brute_force(const Key& key, const Reta& reta, const ActiveOpen& open) {
  std::vector<std::uint16_t> ports;
  for (std::uint32_t p = open.range.first; p <= open.range.last; ++p) {
    if (reply_queue(key, reta, open, static_cast<std::uint16_t>(p)) == open.queue) {
      ports.push_back(static_cast<std::uint16_t>(p));
    }
  }
  return ports;
}

// Every port select() offers to is_free when all are taken, in offer order.
std::vector<std::uint16_t> offered(const PortSelector& sel, const ActiveOpen& open) {
  std::vector<std::uint16_t> ports;
  const auto none = sel.select(open, [&](std::uint16_t p) {
    ports.push_back(p);
    return false;
  });
  EXPECT_FALSE(none.has_value());
  return ports;
}

std::vector<std::uint16_t> sorted(std::vector<std::uint16_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Thousands of connects from random cores to random peers, each taking a port nobody on its core
// holds yet: the replies of every chosen port land on the connecting queue.
TEST(PortSelector, RepliesLandOnTheRequestingQueue) {
  std::mt19937_64 rng(7);
  const Key keys[] = {kMicrosoftKey, kSymmetricKey, random_key(rng)};
  int connects = 0;
  for (const Key& key : keys) {
    const Toeplitz hash(key);
    for (std::uint16_t queues : {1, 2, 3, 4, 8}) {
      for (std::size_t reta_size : {64u, 128u, 512u}) {
        const Reta reta = Reta::round_robin(queues, reta_size);
        const PortSelector sel(hash, reta);
        std::set<std::uint32_t>
            used;  // (queue, port) held on each core, as a connection table would
        for (std::uint32_t i = 0; i < 200; ++i) {
          ActiveOpen open = random_open(rng, queues);
          open.hint = i;
          const auto port = sel.select(open, [&](std::uint16_t p) {
            return !used.contains(std::uint32_t{open.queue} << 16 | p);
          });
          ASSERT_TRUE(port.has_value());
          EXPECT_GE(*port, open.range.first);
          EXPECT_LE(*port, open.range.last);
          ASSERT_EQ(reply_queue(key, reta, open, *port), open.queue)
              << queues << " queues, RETA " << reta_size << ", connect " << i;
          EXPECT_EQ(reta.queue_of(sel.reply_hash(open, *port)), open.queue);
          used.insert(std::uint32_t{open.queue} << 16 | *port);
          ++connects;
        }
      }
    }
  }
  EXPECT_EQ(connects, 3 * 5 * 3 * 200);
}

// With all ports taken, select() offers exactly the ports that map to the queue, each once, and
// then says none: failure is exact, not a give-up after some attempts.
TEST(PortSelector, OffersExactlyThePortsOfTheQueue) {
  std::mt19937_64 rng(8);
  const std::uint16_t kQueues = 4;
  for (int round = 0; round < 6; ++round) {
    const Key key = round == 0 ? kMicrosoftKey : round == 1 ? kSymmetricKey : random_key(rng);
    const Toeplitz hash(key);
    const Reta reta = Reta::round_robin(kQueues);
    const PortSelector sel(hash, reta);
    const ActiveOpen open = random_open(rng, kQueues);  // default range: 28232 ports
    const auto offers = offered(sel, open);
    const auto want = brute_force(key, reta, open);
    EXPECT_EQ(sorted(offers), want) << "round " << round;
    // About a quarter of the range each.
    EXPECT_GT(want.size(), 28232u / 4 * 9 / 10);
    EXPECT_LT(want.size(), 28232u / 4 * 11 / 10);
  }
}

TEST(PortSelector, SmallRangesAcrossBlockBoundariesAndTheEdgesOfThePortSpace) {
  std::mt19937_64 rng(9);
  const Toeplitz hash(kMicrosoftKey);
  const Reta reta = Reta::round_robin(3);
  const PortSelector sel(hash, reta);
  const PortRange ranges[] = {{40000, 40199}, {1000, 2100}, {511, 512}, {7, 7},
                              {65000, 65535}, {0, 700},     {1, 65535}};
  for (const PortRange& r : ranges) {
    for (std::uint16_t q = 0; q < 3; ++q) {
      ActiveOpen open = random_open(rng, 3);
      open.queue = q;
      open.range = r;
      open.hint = static_cast<std::uint32_t>(rng());
      EXPECT_EQ(sorted(offered(sel, open)), brute_force(kMicrosoftKey, reta, open))
          << r.first << "-" << r.last << " queue " << q;
    }
  }
}

// Connect until the range is used up: every port of the queue is handed out once, then nullopt.
TEST(PortSelector, ExhaustionAfterEveryPortOfTheQueueIsTaken) {
  const Toeplitz hash(kSymmetricKey);
  const Reta reta = Reta::round_robin(2);
  const PortSelector sel(hash, reta);
  ActiveOpen open{.local_addr = 0xc6120001,  // 198.18.0.1 -> 198.18.0.2:80
                  .remote_addr = 0xc6120002,
                  .remote_port = 80,
                  .queue = 1,
                  .range = {50000, 50999}};
  std::set<std::uint16_t> used;
  std::vector<std::uint16_t> got;
  for (std::uint32_t i = 0; i < 2000; ++i) {
    open.hint = i * 2654435761u;
    const auto port = sel.select(open, [&](std::uint16_t p) { return !used.contains(p); });
    if (!port) break;
    ASSERT_TRUE(used.insert(*port).second) << "port " << *port << " handed out twice";
    got.push_back(*port);
  }
  EXPECT_EQ(sorted(got), brute_force(kSymmetricKey, reta, open));
  EXPECT_FALSE(sel.select(open, [&](std::uint16_t p) { return !used.contains(p); }));
  EXPECT_TRUE(sel.select(open).has_value());  // with the ports released
}

// A weighted table (queue 0 owns one entry of 128) and a key whose port bits carry no entropy in
// the low hash bits: both still give exact answers.
TEST(PortSelector, SkewedRetaAndDegenerateKeys) {
  std::mt19937_64 rng(10);
  std::vector<std::uint16_t> entries(128, 1);
  entries[77] = 0;
  const Reta skewed(entries, 2);
  Key zero_tail = kMicrosoftKey;  // key bits 80.. zero: the ports add nothing to the hash
  std::fill(zero_tail.begin() + 10, zero_tail.end(), 0);
  const Key all_zero{};
  for (const Key& key : {kMicrosoftKey, zero_tail, all_zero}) {
    const Toeplitz hash(key);
    for (const Reta& reta : {skewed, Reta::round_robin(2)}) {
      const PortSelector sel(hash, reta);
      for (std::uint16_t q = 0; q < 2; ++q) {
        ActiveOpen open = random_open(rng, 2);
        open.queue = q;
        open.range = {20000, 24999};
        const auto want = brute_force(key, reta, open);
        EXPECT_EQ(sorted(offered(sel, open)), want);
        EXPECT_EQ(sel.select(open).has_value(), !want.empty());
      }
    }
  }
}

TEST(PortSelector, SymmetricKeyPutsTheOutgoingSynOnTheQueueToo) {
  std::mt19937_64 rng(11);
  const Toeplitz hash(kSymmetricKey);
  const Reta reta = Reta::round_robin(4);
  const PortSelector sel(hash, reta);
  for (std::uint32_t i = 0; i < 1000; ++i) {
    ActiveOpen open = random_open(rng, 4);
    open.hint = i;
    const auto port = sel.select(open);
    ASSERT_TRUE(port);
    const Ipv4Tuple syn{open.local_addr, open.remote_addr, *port, open.remote_port};
    EXPECT_EQ(reta.queue_of(hash.hash(syn)), open.queue);
  }
}

TEST(PortSelector, HintsSpreadConnectsOverTheRange) {
  const Toeplitz hash(kMicrosoftKey);
  const Reta reta = Reta::round_robin(4);
  const PortSelector sel(hash, reta);
  ActiveOpen open;
  open.local_addr = 0xc6120001;
  open.remote_addr = 0xc6120002;
  open.remote_port = 443;
  std::set<std::uint16_t> ports;
  for (std::uint32_t hint = 0; hint < 1000; ++hint) {
    open.hint = hint;
    ports.insert(*sel.select(open));
  }
  EXPECT_GT(ports.size(), 900u);
  EXPECT_LT(*ports.begin(), 33000);
  EXPECT_GT(*ports.rbegin(), 60000);
}

// Consecutive hints (a core's connect counter) name distinct ports for as many connects as the
// range's whole blocks times the queue's RETA entries: a port comes back only after thousands of
// connects, not a few dozen later while the peer may still hold the old 4-tuple in TIME-WAIT
// (found by benchmarks/shm_scale_bench: the last, partial block of Linux's range fell through to
// the next hint's port).
TEST(PortSelector, ConsecutiveHintsNameDistinctPorts) {
  for (const Key& key : {kSymmetricKey, kMicrosoftKey}) {
    const Toeplitz hash(key);
    for (std::uint16_t queues : {1, 2, 4}) {
      const Reta reta = Reta::round_robin(queues);
      const PortSelector sel(hash, reta);
      ActiveOpen open;
      open.local_addr = 0xc6120001;
      open.remote_addr = 0xc6120002;
      open.remote_port = 8000;
      open.queue = static_cast<std::uint16_t>(queues - 1);
      // Linux's range has 54 whole blocks; a queue has 128 / queues entries.
      const std::uint32_t n = 54u * (128u / queues);
      std::set<std::uint16_t> ports;
      for (std::uint32_t i = 0; i < n; ++i) {
        open.hint = 32768 + i;
        const auto port = sel.select(open);
        ASSERT_TRUE(port);
        ASSERT_TRUE(ports.insert(*port).second)
            << "port " << *port << " again at connect " << i << ", queues " << queues;
      }
    }
  }
}

TEST(PortSelector, NoAnswerForImpossibleRequests) {
  const Toeplitz hash(kMicrosoftKey);
  const std::array<std::uint16_t, 4> entries = {0, 0, 2, 2};  // queue 1 has no entry
  const Reta reta(entries, 3);
  const PortSelector sel(hash, reta);
  ActiveOpen open;
  open.local_addr = 1;
  open.remote_addr = 2;
  open.remote_port = 3;
  open.queue = 1;
  EXPECT_FALSE(sel.select(open));
  open.queue = 3;  // no such queue
  EXPECT_FALSE(sel.select(open));
  open.queue = 2;
  open.range = {100, 99};  // empty
  EXPECT_FALSE(sel.select(open));
  open.range = {100, 4000};
  EXPECT_TRUE(sel.select(open));
}

}  // namespace
}  // namespace coronet::nic::rss
