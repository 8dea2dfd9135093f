// mbuf <-> nic::Packet glue for the DPDK backend: where a descriptor lives, how offload metadata
// maps both ways, and the per-queue state. Internal to nic/dpdk (needs DPDK headers and with them
// DPDK_COPTS); everything here is inline because it runs per packet.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>

#include "nic/dpdk/dpdk_device.h"
#include "nic/packet.h"
#include "nic/packet_pool.h"

namespace coronet::nic::dpdk_internal {

// The descriptor sits in each mbuf's private area, right after struct rte_mbuf, so mbuf and
// descriptor convert to each other with pointer arithmetic and no lookup.
inline constexpr std::uint16_t kPrivSize =
    static_cast<std::uint16_t>(RTE_ALIGN_CEIL(sizeof(Packet), RTE_MBUF_PRIV_ALIGN));
static_assert(alignof(Packet) <= RTE_MBUF_PRIV_ALIGN, "descriptor would be misaligned");
static_assert(sizeof(rte_mbuf) % alignof(Packet) == 0, "descriptor would be misaligned");
static_assert(std::is_trivially_destructible_v<Packet>, "descriptors are never destroyed");

inline Packet* descriptor(rte_mbuf* m) {
  return std::launder(reinterpret_cast<Packet*>(rte_mbuf_to_priv(m)));
}

// True when `p` is the descriptor inside an mbuf (as opposed to a native pool's packet): the
// backend cookie is then the mbuf it sits in. Pure arithmetic, nothing is dereferenced.
inline bool is_mbuf_packet(const Packet* p) {
  const auto* cookie = static_cast<const std::byte*>(p->backend());
  return cookie != nullptr && cookie + sizeof(rte_mbuf) == reinterpret_cast<const std::byte*>(p);
}

inline rte_mbuf* mbuf_of(const Packet* p) { return static_cast<rte_mbuf*>(p->backend()); }

// Receive verdicts -> PacketMeta. UNKNOWN and NONE ("not checked") map to no flag.
inline void fill_rx_meta(const rte_mbuf& m, std::uint16_t queue, PacketMeta& meta) {
  const std::uint64_t f = m.ol_flags;
  std::uint32_t flags = 0;
  if (f & RTE_MBUF_F_RX_RSS_HASH) {
    flags |= offload::kRssHashValid;
    meta.rss_hash = m.hash.rss;
  }
  switch (f & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
    case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
      flags |= offload::kRxIpv4CsumGood;
      break;
    case RTE_MBUF_F_RX_IP_CKSUM_BAD:
      flags |= offload::kRxIpv4CsumBad;
      break;
    default:
      break;
  }
  switch (f & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
    case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
      flags |= offload::kRxL4CsumGood;
      break;
    case RTE_MBUF_F_RX_L4_CKSUM_BAD:
      flags |= offload::kRxL4CsumBad;
      break;
    default:
      break;
  }
  if (f & RTE_MBUF_F_RX_LRO) {
    flags |= offload::kRxLro;
    meta.tso_mss = m.tso_segsz;  // the segment size the merged packets had
  }
  meta.flags = flags;
  meta.queue = queue;
}

// Transmit requests -> the head mbuf's ol_flags and header lengths. Returns true when the PMD
// has work to do (so rte_eth_tx_prepare is worth calling). coronet is IPv4-only, hence TX_IPV4
// whenever any checksum or segmentation is requested.
inline bool set_tx_offload(rte_mbuf& m, const PacketMeta& meta) {
  const std::uint32_t f = meta.flags;
  std::uint64_t ol = 0;
  if (f & offload::kTxIpv4Csum) ol |= RTE_MBUF_F_TX_IP_CKSUM;
  if (f & offload::kTxTso) {
    ol |= RTE_MBUF_F_TX_TCP_SEG;  // implies the TCP checksum
  } else if (f & offload::kTxTcpCsum) {
    ol |= RTE_MBUF_F_TX_TCP_CKSUM;
  } else if (f & offload::kTxUdpCsum) {
    ol |= RTE_MBUF_F_TX_UDP_CKSUM;
  }
  m.tx_offload = 0;
  if (ol == 0) {
    m.ol_flags = 0;  // drop whatever rx left (RSS hash, checksum verdicts)
    return false;
  }
  m.ol_flags = ol | RTE_MBUF_F_TX_IPV4;
  m.l2_len = meta.l2_len;
  m.l3_len = meta.l3_len;
  m.l4_len = meta.l4_len;
  if (f & offload::kTxTso) m.tso_segsz = meta.tso_mss;
  return true;
}

// coronet's per-queue counters. Only the queue's own core writes them; atomics (relaxed, plain
// loads and stores, no locked instructions) only so that stats readers on other threads are not a
// data race.
struct QueueCounters {
  std::atomic<std::uint64_t> rx_packets{0}, rx_bytes{0}, rx_segments{0}, rx_foreign{0};
  std::atomic<std::uint64_t> tx_packets{0}, tx_bytes{0}, tx_refused{0}, tx_copied{0};
  std::atomic<std::uint64_t> tx_copy_failed{0};
};
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// PacketPool::BackendOps for a queue's pool (ctx = the DpdkDevice::Queue).
Packet* pool_alloc(void* ctx);
void pool_free(void* ctx, Packet* p);

}  // namespace coronet::nic::dpdk_internal

namespace coronet::nic {

// One queue index: its mbuf pool and PacketPool (used by rx queue i and tx queue i alike) and
// coronet's counters. Cache-line aligned: each is touched by one core only.
struct alignas(64) DpdkDevice::Queue {
  std::uint16_t id = 0;
  rte_mempool* mempool = nullptr;
  std::unique_ptr<PacketPool> pool;
  dpdk_internal::QueueCounters counters;
};

}  // namespace coronet::nic
