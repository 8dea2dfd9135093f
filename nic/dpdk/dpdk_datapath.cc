// The per-packet half of DpdkDevice: rx_burst, tx_burst and the PacketPool backend ops. One
// virtual call per burst, none per packet; the only allocations are mbufs.
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "coro/log.h"
#include "nic/dpdk/dpdk_device.h"
#include "nic/dpdk/internal/mbuf.h"

namespace coronet::nic {

using dpdk_internal::descriptor;
using dpdk_internal::is_mbuf_packet;
using dpdk_internal::kPrivSize;
using dpdk_internal::mbuf_of;

namespace {

constexpr std::uint16_t kBurst = 64;     // mbufs per rte_eth_{rx,tx}_burst call
constexpr std::uint32_t kMaxSegs = 256;  // segments per tx chunk; longer chains are linearised

// Receives one mbuf chain as a descriptor chain owned by `q`'s pool. Null (mbuf freed, counted)
// when some segment has no room for a descriptor, i.e. it was not allocated from one of our pools:
// never the case for PMDs that fill the rx queue's mempool, but net_ring returns whatever was
// enqueued into it.
Packet* adopt_rx(DpdkDevice::Queue& q, rte_mbuf* head, std::uint16_t queue) {
  for (rte_mbuf* s = head; s != nullptr; s = s->next) {
    if (s->priv_size < kPrivSize) {
      rte_pktmbuf_free(head);
      dpdk_internal::bump(q.counters.rx_foreign);
      return nullptr;
    }
  }
  Packet* first = nullptr;
  Packet* prev = nullptr;
  std::uint64_t segs = 0;
  for (rte_mbuf* s = head; s != nullptr; s = s->next) {
    Packet* p = descriptor(s);
    q.pool->adopt(*p, static_cast<std::byte*>(s->buf_addr), s->buf_len, s->data_off, s->data_len,
                  s);
    if (prev != nullptr) {
      prev->set_next(p);
    } else {
      first = p;
    }
    prev = p;
    ++segs;
  }
  dpdk_internal::fill_rx_meta(*head, queue, first->meta);
  dpdk_internal::bump(q.counters.rx_packets);
  dpdk_internal::bump(q.counters.rx_bytes, head->pkt_len);
  dpdk_internal::bump(q.counters.rx_segments, segs);
  return first;
}

// Makes the mbuf chain behind `p` match its descriptors (offsets, lengths, links, offload
// requests). Returns the head mbuf; `offload` becomes true when the PMD has checksum/TSO work.
rte_mbuf* sync_tx_chain(Packet* p, bool& offload) {
  rte_mbuf* head = mbuf_of(p);
  rte_mbuf* prev = nullptr;
  std::uint32_t pkt_len = 0;
  std::uint16_t segs = 0;
  for (Packet* s = p; s != nullptr; s = s->next()) {
    rte_mbuf* m = mbuf_of(s);
    m->data_off = static_cast<std::uint16_t>(s->headroom());
    m->data_len = static_cast<std::uint16_t>(s->size());
    if (prev != nullptr) prev->next = m;
    prev = m;
    pkt_len += s->size();
    ++segs;
  }
  prev->next = nullptr;
  head->pkt_len = pkt_len;
  head->nb_segs = segs;
  offload |= dpdk_internal::set_tx_offload(*head, p->meta);
  return head;
}

// Copies `p` (any pool, any chain) into fresh mbufs from `q`: one mbuf when it fits, else a chain
// (only when chains may be handed to the PMD). Null when out of mbufs or too large.
rte_mbuf* copy_to_mbufs(DpdkDevice::Queue& q, const Packet* p, bool allow_chain, bool& offload) {
  const std::size_t total = p->chain_size();
  rte_mbuf* head = nullptr;
  rte_mbuf* tail = nullptr;
  const Packet* src = p;
  std::uint32_t src_off = 0;
  std::size_t left = total;
  do {
    rte_mbuf* m = rte_pktmbuf_alloc(q.mempool);
    if (m == nullptr || (head != nullptr && !allow_chain)) {
      if (m != nullptr) rte_pktmbuf_free(m);
      rte_pktmbuf_free(head);
      return nullptr;
    }
    const std::size_t n = std::min<std::size_t>(left, rte_pktmbuf_tailroom(m));
    auto* dst = rte_pktmbuf_mtod(m, std::byte*);
    for (std::size_t done = 0; done < n;) {
      while (src_off == src->size()) {
        src = src->next();
        src_off = 0;
      }
      const std::size_t k = std::min<std::size_t>(n - done, src->size() - src_off);
      std::memcpy(dst + done, src->data() + src_off, k);
      done += k;
      src_off += static_cast<std::uint32_t>(k);
    }
    m->data_len = static_cast<std::uint16_t>(n);
    left -= n;
    if (head == nullptr) {
      head = m;
    } else {
      tail->next = m;
      ++head->nb_segs;
    }
    tail = m;
  } while (left > 0);
  head->pkt_len = static_cast<std::uint32_t>(total);
  offload |= dpdk_internal::set_tx_offload(*head, p->meta);
  return head;
}

}  // namespace

namespace dpdk_internal {

Packet* pool_alloc(void* ctx) {
  auto* q = static_cast<DpdkDevice::Queue*>(ctx);
  rte_mbuf* m = rte_pktmbuf_alloc(q->mempool);
  if (m == nullptr) return nullptr;
  Packet* p = descriptor(m);
  q->pool->attach(*p, static_cast<std::byte*>(m->buf_addr), m->buf_len, m->data_off, 0, m);
  return p;
}

void pool_free(void*, Packet* p) {
  // One segment: PacketPool::free walks the descriptor chain and frees each segment itself.
  rte_pktmbuf_free_seg(mbuf_of(p));
}

}  // namespace dpdk_internal

std::size_t DpdkDevice::rx_burst(std::uint16_t queue, std::span<Packet*> out) {
  if (queue >= info_.rx_queues) return 0;
  Queue& q = *queues_[queue];
  rte_mbuf* mbufs[kBurst];
  std::size_t done = 0;
  while (done < out.size()) {
    const auto want = static_cast<std::uint16_t>(std::min<std::size_t>(kBurst, out.size() - done));
    const std::uint16_t n = rte_eth_rx_burst(applied_.port_id, queue, mbufs, want);
    for (std::uint16_t i = 0; i < n; ++i) {
      if (Packet* p = adopt_rx(q, mbufs[i], queue)) out[done++] = p;
    }
    if (n < want) break;
  }
  return done;
}

std::size_t DpdkDevice::tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) {
  if (queue >= info_.tx_queues) return 0;
  Queue& q = *queues_[queue];
  std::size_t done = 0;
  while (done < pkts.size()) {
    rte_mbuf* mbufs[kBurst];
    Packet* copied_from[kBurst];  // the original of a copied packet, else null
    std::uint32_t bytes[kBurst];
    std::uint32_t seg_end[kBurst];   // end of packet i's entries in seg_pool
    PacketPool* seg_pool[kMaxSegs];  // the pool of every zero-copy segment, in order
    std::uint32_t nseg = 0;
    bool offload = false;
    bool stop = false;  // a copy failed: this packet and the rest stay with the caller
    std::uint16_t n = 0;
    for (; n < kBurst && done + n < pkts.size(); ++n) {
      Packet* p = pkts[done + n];
      std::uint32_t segs = 0;
      bool zero_copy = true;
      for (const Packet* s = p; s != nullptr; s = s->next()) {
        zero_copy = zero_copy && is_mbuf_packet(s);
        ++segs;
      }
      if (segs > 1 && !multi_seg_ok_) zero_copy = false;
      if (segs > kMaxSegs) zero_copy = false;
      if (zero_copy && nseg + segs > kMaxSegs) break;  // the next chunk takes it
      if (zero_copy) {
        mbufs[n] = sync_tx_chain(p, offload);
        copied_from[n] = nullptr;
        for (const Packet* s = p; s != nullptr; s = s->next()) seg_pool[nseg++] = s->pool();
      } else {
        rte_mbuf* m = copy_to_mbufs(q, p, multi_seg_ok_, offload);
        if (m == nullptr) {
          dpdk_internal::bump(q.counters.tx_copy_failed);
          stop = true;
          break;
        }
        dpdk_internal::bump(q.counters.tx_copied);
        mbufs[n] = m;
        copied_from[n] = p;
      }
      bytes[n] = mbufs[n]->pkt_len;
      seg_end[n] = nseg;
    }
    if (n == 0) break;

    std::uint16_t ready = n;
    if (offload) {
      // Lets PMDs that need it fix up headers for checksum/TSO offload (pseudo-header sums).
      ready = rte_eth_tx_prepare(applied_.port_id, queue, mbufs, n);
      if (ready < n) {
        log::debug("dpdk port {} queue {}: tx_prepare rejected a packet: {}", applied_.port_id,
                   queue, rte_strerror(rte_errno));
      }
    }
    const std::uint16_t sent =
        ready == 0 ? 0 : rte_eth_tx_burst(applied_.port_id, queue, mbufs, ready);
    // The PMD owns what it took and frees those mbufs itself: settle the pools' books without
    // reading the descriptors again (the mbufs may already be back in a pool).
    std::uint32_t seg = 0;
    std::uint64_t sent_bytes = 0;
    for (std::uint16_t i = 0; i < sent; ++i) {
      if (copied_from[i] != nullptr) PacketPool::free(copied_from[i]);
      for (; seg < seg_end[i]; ++seg) seg_pool[seg]->note_backend_frees(1);
      sent_bytes += bytes[i];
    }
    // What the PMD refused stays with the caller; only our private copies go back.
    for (std::uint16_t i = sent; i < n; ++i) {
      if (copied_from[i] != nullptr) rte_pktmbuf_free(mbufs[i]);
    }
    dpdk_internal::bump(q.counters.tx_packets, sent);
    dpdk_internal::bump(q.counters.tx_bytes, sent_bytes);
    dpdk_internal::bump(q.counters.tx_refused, n - sent);
    done += sent;
    if (sent < n || stop) break;
  }
  return done;
}

}  // namespace coronet::nic
