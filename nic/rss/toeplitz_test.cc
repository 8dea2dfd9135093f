// The Toeplitz hash against three oracles: the verification table of Microsoft's RSS specification,
// the bit-at-a-time reference, and DPDK's rte_softrss/rte_softrss_be (inline functions of
// <rte_thash.h>, so no EAL). Then the symmetric key and how evenly the RETA spreads flows.
#include "nic/rss/toeplitz.h"

#include <gtest/gtest.h>
#include <rte_thash.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "nic/rss/reta.h"

namespace coronet::nic::rss {
namespace {

constexpr std::uint32_t ip(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d;
}

// Microsoft's RSS verification suite, IPv4 part, with the key kMicrosoftKey: each flow with the
// hash of its addresses alone and the hash with the TCP ports added.
struct Vector {
  Ipv4Tuple flow;
  std::uint32_t addrs_hash;
  std::uint32_t tcp_hash;
};
constexpr Vector kVectors[] = {
    {{ip(66, 9, 149, 187), ip(161, 142, 100, 80), 2794, 1766}, 0x323e8fc2, 0x51ccc178},
    {{ip(199, 92, 111, 2), ip(65, 69, 140, 83), 14230, 4739}, 0xd718262a, 0xc626b0ea},
    {{ip(24, 19, 198, 95), ip(12, 22, 207, 184), 12898, 38024}, 0xd2d0a5de, 0x5c2b394a},
    {{ip(38, 27, 205, 30), ip(209, 142, 163, 6), 48228, 2217}, 0x82989176, 0xafc7327f},
    {{ip(153, 39, 163, 191), ip(202, 188, 127, 2), 44251, 1303}, 0x5d1809c5, 0x10e828a2},
};

std::array<std::uint8_t, 8> addr_bytes(const Ipv4Tuple& t) {
  return {static_cast<std::uint8_t>(t.src_addr >> 24), static_cast<std::uint8_t>(t.src_addr >> 16),
          static_cast<std::uint8_t>(t.src_addr >> 8),  static_cast<std::uint8_t>(t.src_addr),
          static_cast<std::uint8_t>(t.dst_addr >> 24), static_cast<std::uint8_t>(t.dst_addr >> 16),
          static_cast<std::uint8_t>(t.dst_addr >> 8),  static_cast<std::uint8_t>(t.dst_addr)};
}

Ipv4Tuple random_tuple(std::mt19937_64& rng) {
  const std::uint64_t a = rng(), b = rng();
  return {static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(a >> 32),
          static_cast<std::uint16_t>(b), static_cast<std::uint16_t>(b >> 16)};
}

// rte_softrss reads the key as 32-bit words: keep it aligned for them (UBSan checks).
struct alignas(4) AlignedKey {
  Key bytes;
};

AlignedKey random_key(std::mt19937_64& rng) {
  AlignedKey k;
  for (auto& b : k.bytes) b = static_cast<std::uint8_t>(rng());
  return k;
}

TEST(Toeplitz, MicrosoftVerificationSuiteIpv4Tcp) {
  const Toeplitz h(kMicrosoftKey);
  for (const Vector& v : kVectors) {
    EXPECT_EQ(h.hash(v.flow), v.tcp_hash) << std::hex << v.flow.src_addr;
    EXPECT_EQ(toeplitz_reference(kMicrosoftKey, v.flow), v.tcp_hash) << std::hex << v.flow.src_addr;
  }
}

TEST(Toeplitz, MicrosoftVerificationSuiteIpv4AddressesOnly) {
  const Toeplitz h(kMicrosoftKey);
  for (const Vector& v : kVectors) {
    EXPECT_EQ(h.hash_addrs(v.flow.src_addr, v.flow.dst_addr), v.addrs_hash);
    EXPECT_EQ(toeplitz_reference(kMicrosoftKey, addr_bytes(v.flow)), v.addrs_hash);
  }
}

TEST(Toeplitz, TableMatchesReferenceForRandomKeysAndTuples) {
  std::mt19937_64 rng(1);
  for (int k = 0; k < 50; ++k) {
    const Key key = random_key(rng).bytes;
    const Toeplitz h(key);
    for (int i = 0; i < 100; ++i) {
      const Ipv4Tuple t = random_tuple(rng);
      ASSERT_EQ(h.hash(t), toeplitz_reference(key, t)) << "key " << k << " tuple " << i;
      ASSERT_EQ(h.hash_addrs(t.src_addr, t.dst_addr), toeplitz_reference(key, addr_bytes(t)));
    }
  }
}

TEST(Toeplitz, ByteTablesAreTheHashesOfSingleBytes) {
  const Toeplitz h(kMicrosoftKey);
  for (std::size_t pos = 0; pos < Toeplitz::kTupleBytes; ++pos) {
    for (unsigned v = 0; v < 256; v += 37) {
      std::array<std::uint8_t, Toeplitz::kTupleBytes> input{};
      input[pos] = static_cast<std::uint8_t>(v);
      EXPECT_EQ(h.byte_table(pos)[v], toeplitz_reference(kMicrosoftKey, input));
    }
  }
}

TEST(Toeplitz, EmptyInputHashesToZero) {
  EXPECT_EQ(toeplitz_reference(kMicrosoftKey, std::span<const std::uint8_t>{}), 0u);
  EXPECT_EQ(Toeplitz(kMicrosoftKey).hash({}), 0u);
}

// DPDK takes the tuple as CPU-order 32-bit words: addresses, then (src port << 16 | dst port).
TEST(Toeplitz, MatchesDpdkSoftrssOnRandomKeysAndTuples) {
  std::mt19937_64 rng(2);
  for (int k = 0; k < 50; ++k) {
    AlignedKey key = random_key(rng);
    if (k == 0) key.bytes = kMicrosoftKey;
    if (k == 1) key.bytes = kSymmetricKey;
    alignas(4) std::array<std::uint8_t, kKeySize> converted;
    rte_convert_rss_key(reinterpret_cast<const std::uint32_t*>(key.bytes.data()),
                        reinterpret_cast<std::uint32_t*>(converted.data()), kKeySize);
    const Toeplitz h(key.bytes);
    for (int i = 0; i < 200; ++i) {
      const Ipv4Tuple t = random_tuple(rng);
      rte_thash_tuple tuple{};
      tuple.v4.src_addr = t.src_addr;
      tuple.v4.dst_addr = t.dst_addr;
      tuple.v4.sport = t.src_port;
      tuple.v4.dport = t.dst_port;
      auto* words = reinterpret_cast<std::uint32_t*>(&tuple.v4);
      const std::uint32_t want = rte_softrss(words, RTE_THASH_V4_L4_LEN, key.bytes.data());
      ASSERT_EQ(h.hash(t), want) << "key " << k << " tuple " << i;
      ASSERT_EQ(rte_softrss_be(words, RTE_THASH_V4_L4_LEN, converted.data()), want);
      ASSERT_EQ(h.hash_addrs(t.src_addr, t.dst_addr),
                rte_softrss(words, RTE_THASH_V4_L3_LEN, key.bytes.data()));
    }
  }
}

TEST(Toeplitz, MatchesDpdkVerificationVectorsThroughDpdkToo) {
  alignas(4) const Key key = kMicrosoftKey;
  for (const Vector& v : kVectors) {
    std::array<std::uint32_t, 3> words = {v.flow.src_addr, v.flow.dst_addr,
                                          (std::uint32_t{v.flow.src_port} << 16) | v.flow.dst_port};
    EXPECT_EQ(rte_softrss(words.data(), 3, key.data()), v.tcp_hash);
  }
}

// The longest input a 40-byte key covers (an IPv6 4-tuple is 36 bytes): the reference must agree
// with DPDK there too, where it uses the key's very last bits.
TEST(Toeplitz, ReferenceMatchesDpdkOnMaximalInput) {
  std::mt19937_64 rng(3);
  for (int k = 0; k < 100; ++k) {
    const AlignedKey key = random_key(rng);
    std::array<std::uint32_t, kMaxInputBytes / 4> words;
    std::array<std::uint8_t, kMaxInputBytes> bytes;
    for (std::size_t w = 0; w < words.size(); ++w) {
      words[w] = static_cast<std::uint32_t>(rng());
      for (std::size_t b = 0; b < 4; ++b)
        bytes[4 * w + b] = static_cast<std::uint8_t>(words[w] >> (24 - 8 * b));
    }
    ASSERT_EQ(
        toeplitz_reference(key.bytes, bytes),
        rte_softrss(words.data(), static_cast<std::uint32_t>(words.size()), key.bytes.data()));
  }
}

TEST(Toeplitz, SymmetricKeyHashesBothDirectionsAlike) {
  std::mt19937_64 rng(4);
  const Toeplitz sym(kSymmetricKey);
  const Toeplitz ms(kMicrosoftKey);
  int asymmetric_with_ms_key = 0;
  for (int i = 0; i < 10000; ++i) {
    const Ipv4Tuple t = random_tuple(rng);
    ASSERT_EQ(sym.hash(t), sym.hash(t.reversed())) << i;
    ASSERT_EQ(sym.hash_addrs(t.src_addr, t.dst_addr), sym.hash_addrs(t.dst_addr, t.src_addr));
    if (ms.hash(t) != ms.hash(t.reversed())) ++asymmetric_with_ms_key;
  }
  EXPECT_EQ(toeplitz_reference(kSymmetricKey, kVectors[0].flow),
            toeplitz_reference(kSymmetricKey, kVectors[0].flow.reversed()));
  // The property comes from the key: Microsoft's key does not have it.
  EXPECT_GT(asymmetric_with_ms_key, 9900);
}

TEST(Toeplitz, SymmetricKeyIsTheRepeated6d5aPattern) {
  for (std::size_t i = 0; i < kKeySize; ++i) EXPECT_EQ(kSymmetricKey[i], i % 2 ? 0x5a : 0x6d);
  // The first bytes match the Microsoft key's.
  EXPECT_EQ(kSymmetricKey[0], kMicrosoftKey[0]);
  EXPECT_EQ(kSymmetricKey[1], kMicrosoftKey[1]);
}

// 10,000 random flows spread over 2, 3 and 4 queues through the default 128-entry RETA, with both
// keys: every queue within 10% of an even share.
TEST(Reta, RoundRobinSpreadsRandomFlowsEvenly) {
  constexpr int kFlows = 10000;
  for (const Key& key : {kMicrosoftKey, kSymmetricKey}) {
    const Toeplitz h(key);
    for (std::uint16_t queues : {2, 3, 4}) {
      const Reta reta = Reta::round_robin(queues);
      std::mt19937_64 rng(100 + queues);
      std::vector<int> count(queues);
      for (int i = 0; i < kFlows; ++i) ++count[reta.queue_of(h.hash(random_tuple(rng)))];
      const double even = static_cast<double>(kFlows) / queues;
      for (std::uint16_t q = 0; q < queues; ++q) {
        EXPECT_GT(count[q], 0.9 * even) << queues << " queues, queue " << q;
        EXPECT_LT(count[q], 1.1 * even) << queues << " queues, queue " << q;
      }
    }
  }
}

TEST(Reta, RoundRobinLayoutAndLowBitsIndex) {
  const Reta reta = Reta::round_robin(3);
  ASSERT_EQ(reta.size(), 128u);
  EXPECT_EQ(reta.mask(), 127u);
  EXPECT_EQ(reta.num_queues(), 3);
  for (std::size_t i = 0; i < reta.size(); ++i) EXPECT_EQ(reta.entries()[i], i % 3);
  // Only the low 7 bits of the hash matter.
  EXPECT_EQ(reta.queue_of(0x12345600u | 5), 5 % 3);
  EXPECT_EQ(reta.queue_of(0xffffff80u | 5), 5 % 3);
  EXPECT_EQ(reta.queue_of(127), 127 % 3);
}

TEST(Reta, ExplicitEntries) {
  const std::array<std::uint16_t, 4> entries = {1, 1, 0, 1};
  const Reta reta(entries, 2);
  EXPECT_EQ(reta.size(), 4u);
  EXPECT_EQ(reta.queue_of(2), 0);
  EXPECT_EQ(reta.queue_of(6), 0);
  EXPECT_EQ(reta.queue_of(7), 1);
}

TEST(Reta, RejectsBadTables) {
  EXPECT_THROW(Reta::round_robin(0), std::invalid_argument);
  EXPECT_THROW(Reta::round_robin(4, 100), std::invalid_argument);   // not a power of two
  EXPECT_THROW(Reta::round_robin(4, 1024), std::invalid_argument);  // too large
  EXPECT_THROW(Reta::round_robin(9, 8), std::invalid_argument);     // queues without an entry
  const std::array<std::uint16_t, 2> entries = {0, 2};
  EXPECT_THROW(Reta(entries, 2), std::invalid_argument);
  EXPECT_THROW(Reta(std::span<const std::uint16_t>{}, 1), std::invalid_argument);
  EXPECT_NO_THROW(Reta::round_robin(1, 1));
  EXPECT_NO_THROW(Reta::round_robin(512, 512));
}

}  // namespace
}  // namespace coronet::nic::rss
