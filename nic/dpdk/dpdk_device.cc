// The control half of DpdkDevice: port lookup, configuration (queues, pools, MTU, offloads, RSS),
// start, link, stats and shutdown. Every failure carries DPDK's own error text.
#include "nic/dpdk/dpdk_device.h"

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <thread>

#include "coro/log.h"
#include "nic/dpdk/internal/mbuf.h"

namespace coronet::nic {
namespace {

static_assert(rss::kIpv4 == RTE_ETH_RSS_IPV4);
static_assert(rss::kTcpIpv4 == RTE_ETH_RSS_NONFRAG_IPV4_TCP);
static_assert(rss::kUdpIpv4 == RTE_ETH_RSS_NONFRAG_IPV4_UDP);

// Ports in use by a live DpdkDevice: two devices driving one port would corrupt each other.
std::mutex& claims_mu() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::set<std::uint16_t>& claimed_ports() {
  static auto* ports = new std::set<std::uint16_t>;
  return *ports;
}

std::atomic<std::uint32_t> g_pool_seq{0};  // mempool names must be unique per process

// Queues of devices destroyed while their packets were still out: kept (reachable, so leak
// checkers stay quiet) because those packets still point at their PacketPool and mbufs.
std::mutex& graveyard_mu() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::vector<std::unique_ptr<DpdkDevice::Queue>>& graveyard() {
  static auto* v = new std::vector<std::unique_ptr<DpdkDevice::Queue>>;
  return *v;
}  // mempool names must be unique per process

Error fail(std::string what) { return Error(Errc::kInvalidArgument, std::move(what)); }

// DPDK reports errors as negative errno return values or through rte_errno.
std::string dpdk_error(int rc) { return rte_strerror(rc < 0 ? -rc : rc); }

std::string port_label(std::uint16_t port, const std::string& driver) {
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  (void)rte_eth_dev_get_name_by_port(port, name);
  return "port " + std::to_string(port) + " (" + name + ", " + driver + ")";
}

// "IPV4_CKSUM, TCP_LRO" for a mask of offload bits.
template <typename NameFn>
std::string offload_names(std::uint64_t mask, NameFn name) {
  std::string s;
  for (int bit = 0; bit < 64; ++bit) {
    const std::uint64_t b = std::uint64_t{1} << bit;
    if ((mask & b) == 0) continue;
    if (!s.empty()) s += ", ";
    s += name(b);
  }
  return s;
}

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

Result<std::uint16_t> resolve_port(const DpdkConfig& c) {
  const char* hint = rte_eth_dev_count_avail() == 0
                         ? " (EAL found no ports: add a vdev such as --vdev=net_tap0,iface=NAME or "
                           "--vdev=net_ring0 to the EAL args, or bind a NIC to a DPDK driver)"
                         : "";
  if (!c.port_name.empty()) {
    std::uint16_t id = 0;
    if (rte_eth_dev_get_port_by_name(c.port_name.c_str(), &id) != 0) {
      return fail("no DPDK port named \"" + c.port_name + "\"; ports: " + dpdk_describe_ports() +
                  hint);
    }
    return id;
  }
  if (!rte_eth_dev_is_valid_port(c.port_id)) {
    return fail("no DPDK port " + std::to_string(c.port_id) + "; ports: " + dpdk_describe_ports() +
                hint);
  }
  return c.port_id;
}

// Placement-constructs the descriptor in every mbuf's private area, once, when the pool is made.
void construct_descriptor(rte_mempool*, void*, void* obj, unsigned) {
  new (rte_mbuf_to_priv(static_cast<rte_mbuf*>(obj))) Packet();
}

}  // namespace

Result<std::unique_ptr<DpdkDevice>> DpdkDevice::create(DpdkConfig config) {
  std::unique_ptr<DpdkDevice> dev(new DpdkDevice());
  if (auto r = dev->configure(config); !r) return r.error();  // the destructor undoes the rest
  return dev;
}

DpdkDevice::~DpdkDevice() { release(); }

Result<void> DpdkDevice::configure(const DpdkConfig& c) {
  if (c.rx_queues == 0 || c.tx_queues == 0) return fail("rx_queues and tx_queues must be >= 1");
  if (c.rx_ring_size == 0 || c.tx_ring_size == 0) return fail("ring sizes must be >= 1");
  if (c.mbuf_cache_size > RTE_MEMPOOL_CACHE_MAX_SIZE) {
    return fail("mbuf_cache_size " + std::to_string(c.mbuf_cache_size) + " exceeds DPDK's " +
                std::to_string(RTE_MEMPOOL_CACHE_MAX_SIZE));
  }
  if (auto r = dpdk_init_eal(c.eal_args); !r) return r.error();

  auto port = resolve_port(c);
  if (!port) return port.error();
  const std::uint16_t pid = *port;
  {
    std::lock_guard lock(claims_mu());
    if (!claimed_ports().insert(pid).second) {
      return fail("DPDK port " + std::to_string(pid) + " is already driven by another DpdkDevice");
    }
    port_claimed_ = true;
  }
  applied_.port_id = pid;

  rte_eth_dev_info dev{};
  if (int rc = rte_eth_dev_info_get(pid, &dev); rc != 0) {
    return fail("rte_eth_dev_info_get(port " + std::to_string(pid) + "): " + dpdk_error(rc));
  }
  applied_.driver = dev.driver_name != nullptr ? dev.driver_name : "?";
  const std::string label = port_label(pid, applied_.driver);
  if (c.rx_queues > dev.max_rx_queues || c.tx_queues > dev.max_tx_queues) {
    return fail(label + " supports at most " + std::to_string(dev.max_rx_queues) + " rx and " +
                std::to_string(dev.max_tx_queues) + " tx queues; asked for " +
                std::to_string(c.rx_queues) + " and " + std::to_string(c.tx_queues));
  }

  rte_eth_conf conf{};
  std::uint16_t mtu = 1500;
  if (c.mtu != 0) {
    if (c.mtu < dev.min_mtu || c.mtu > dev.max_mtu) {
      return fail(label + ": MTU " + std::to_string(c.mtu) + " outside the PMD's range [" +
                  std::to_string(dev.min_mtu) + ", " + std::to_string(dev.max_mtu) + "]");
    }
    conf.rxmode.mtu = c.mtu;
    mtu = c.mtu;
  } else if (std::uint16_t cur = 0; rte_eth_dev_get_mtu(pid, &cur) == 0 && cur != 0) {
    mtu = cur;
  }

  // Offloads: ask only for what the PMD offers; the rest is noted (or fatal when required).
  const std::uint64_t csum_rx =
      RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  const std::uint64_t csum_tx =
      RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  std::uint64_t want_rx =
      (c.offloads.rx_checksum ? csum_rx : 0) | (c.offloads.lro ? RTE_ETH_RX_OFFLOAD_TCP_LRO : 0);
  std::uint64_t want_tx =
      (c.offloads.tx_checksum ? csum_tx : 0) | (c.offloads.tso ? RTE_ETH_TX_OFFLOAD_TCP_TSO : 0);
  std::uint64_t rx_on = want_rx & dev.rx_offload_capa;
  std::uint64_t tx_on = want_tx & dev.tx_offload_capa;
  if (std::uint64_t missing = want_rx & ~rx_on) {
    std::string n =
        label + " lacks rx offloads " + offload_names(missing, rte_eth_dev_rx_offload_name);
    if (c.offloads.required) return fail(n);
    applied_.notes.push_back(n);
  }
  if (std::uint64_t missing = want_tx & ~tx_on) {
    std::string n =
        label + " lacks tx offloads " + offload_names(missing, rte_eth_dev_tx_offload_name);
    if (c.offloads.required) return fail(n);
    applied_.notes.push_back(n);
  }
  const bool pmd_multi_seg = (dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
  if (pmd_multi_seg && c.tx_chains != DpdkTxChains::kLinearize) {
    tx_on |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  }
  multi_seg_ok_ = c.tx_chains == DpdkTxChains::kPassThrough ||
                  (c.tx_chains == DpdkTxChains::kAuto && pmd_multi_seg);
  applied_.tx_chains_linearized = !multi_seg_ok_;
  if (!multi_seg_ok_ && c.tx_chains == DpdkTxChains::kAuto) {
    applied_.notes.push_back(label + " does not announce MULTI_SEGS: tx chains are linearised");
  }

  // RSS: hash types the PMD cannot hash on are dropped; a key of the wrong length is not used.
  // The key and the RETA are confirmed and programmed on the started port (apply_rss, dpdk_rss.cc).
  if (c.rss.hash_types != 0) {
    const std::uint64_t hf = c.rss.hash_types & dev.flow_type_rss_offloads;
    if (hf != c.rss.hash_types) {
      std::string n = label + " cannot hash on RSS types " + hex(c.rss.hash_types & ~hf) +
                      " (it offers " + hex(dev.flow_type_rss_offloads) + ")";
      if (c.rss.required) return fail(n);
      applied_.notes.push_back(n);
    }
    if (hf != 0) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_hf = hf;
      applied_.rss_hash_types = hf;
      if (dev.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH) rx_on |= RTE_ETH_RX_OFFLOAD_RSS_HASH;
      if (!c.rss.key.empty()) {
        if (dev.hash_key_size != 0 && c.rss.key.size() != dev.hash_key_size) {
          std::string n = label + " wants an RSS key of " + std::to_string(dev.hash_key_size) +
                          " bytes, got " + std::to_string(c.rss.key.size()) + ": default key kept";
          if (c.rss.required) return fail(n);
          applied_.notes.push_back(n);
        } else {
          // rte_eth_dev_configure copies the key; the config outlives the call anyway.
          conf.rx_adv_conf.rss_conf.rss_key = const_cast<std::uint8_t*>(c.rss.key.data());
          conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<std::uint8_t>(c.rss.key.size());
          applied_.rss_key = true;  // until apply_rss finds it is not in effect
        }
      }
    }
  }
  if (rx_on & RTE_ETH_RX_OFFLOAD_TCP_LRO) conf.rxmode.max_lro_pkt_size = dev.max_lro_pkt_size;
  conf.rxmode.offloads = rx_on;
  conf.txmode.offloads = tx_on;
  applied_.rx_offloads = rx_on;
  applied_.tx_offloads = tx_on;

  if (int rc = rte_eth_dev_configure(pid, c.rx_queues, c.tx_queues, &conf); rc != 0) {
    return fail("rte_eth_dev_configure(" + label + ", " + std::to_string(c.rx_queues) + " rx, " +
                std::to_string(c.tx_queues) + " tx queues, rx offloads " + hex(rx_on) +
                ", tx offloads " + hex(tx_on) + ", rss " + hex(applied_.rss_hash_types) +
                "): " + dpdk_error(rc));
  }
  std::uint16_t nrx = c.rx_ring_size;
  std::uint16_t ntx = c.tx_ring_size;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx); rc != 0) {
    return fail("rte_eth_dev_adjust_nb_rx_tx_desc(" + label + "): " + dpdk_error(rc));
  }
  applied_.rx_ring_size = nrx;
  applied_.tx_ring_size = ntx;
  if (c.mbufs_per_queue < std::uint32_t{nrx} + ntx) {
    return fail("mbufs_per_queue " + std::to_string(c.mbufs_per_queue) +
                " is smaller than rx ring + tx ring (" + std::to_string(nrx) + " + " +
                std::to_string(ntx) + "): the PMD alone could hold every mbuf");
  }
  if (c.mbuf_cache_size * 3 / 2 > c.mbufs_per_queue) {
    return fail("mbuf_cache_size " + std::to_string(c.mbuf_cache_size) +
                " too large for a pool of " + std::to_string(c.mbufs_per_queue) +
                " (DPDK wants cache * 1.5 <= pool size)");
  }

  // Buffers hold a whole frame (no rx scatter needed): MTU + Ethernet header, CRC, two VLAN tags.
  const std::uint32_t frame = std::uint32_t{mtu} + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN + 8;
  std::uint32_t room =
      RTE_PKTMBUF_HEADROOM + std::max<std::uint32_t>(RTE_MBUF_DEFAULT_DATAROOM, frame);
  room = std::max<std::uint32_t>(room, RTE_PKTMBUF_HEADROOM + dev.min_rx_bufsize);
  if (room > UINT16_MAX) return fail("MTU " + std::to_string(mtu) + " needs mbufs over 64 KiB");
  applied_.mbuf_data_room = static_cast<std::uint16_t>(room);

  int socket = rte_eth_dev_socket_id(pid);
  if (socket < 0) socket = SOCKET_ID_ANY;
  const std::uint16_t nq = std::max(c.rx_queues, c.tx_queues);
  const std::uint32_t seq = g_pool_seq.fetch_add(1);
  for (std::uint16_t i = 0; i < nq; ++i) {
    auto q = std::make_unique<Queue>();
    q->id = i;
    const std::string name =
        "cn" + std::to_string(seq) + "_p" + std::to_string(pid) + "_q" + std::to_string(i);
    q->mempool = rte_pktmbuf_pool_create(name.c_str(), c.mbufs_per_queue, c.mbuf_cache_size,
                                         dpdk_internal::kPrivSize, applied_.mbuf_data_room, socket);
    if (q->mempool == nullptr) {
      const int err = rte_errno;
      return fail("mbuf pool for queue " + std::to_string(i) + " of " + label + " (" +
                  std::to_string(c.mbufs_per_queue) + " mbufs of " + std::to_string(room) +
                  " bytes): " + rte_strerror(err) +
                  (err == ENOMEM ? " (EAL memory too small: raise -m)" : ""));
    }
    rte_mempool_obj_iter(q->mempool, construct_descriptor, nullptr);
    PacketPool::BackendOps ops{dpdk_internal::pool_alloc, dpdk_internal::pool_free, q.get()};
    q->pool = std::make_unique<PacketPool>(name, c.mbufs_per_queue, ops);
    queues_.push_back(std::move(q));
  }

  for (std::uint16_t i = 0; i < c.rx_queues; ++i) {
    rte_eth_rxconf rxconf = dev.default_rxconf;
    rxconf.offloads = 0;  // the port-level offloads above apply to every queue
    int rc = rte_eth_rx_queue_setup(pid, i, nrx, static_cast<unsigned>(socket), &rxconf,
                                    queues_[i]->mempool);
    if (rc != 0) {
      return fail("rte_eth_rx_queue_setup(" + label + ", queue " + std::to_string(i) + ", " +
                  std::to_string(nrx) + " descriptors): " + dpdk_error(rc));
    }
    queues_set_up_ = true;
  }
  for (std::uint16_t i = 0; i < c.tx_queues; ++i) {
    rte_eth_txconf txconf = dev.default_txconf;
    txconf.offloads = 0;
    int rc = rte_eth_tx_queue_setup(pid, i, ntx, static_cast<unsigned>(socket), &txconf);
    if (rc != 0) {
      return fail("rte_eth_tx_queue_setup(" + label + ", queue " + std::to_string(i) + ", " +
                  std::to_string(ntx) + " descriptors): " + dpdk_error(rc));
    }
    queues_set_up_ = true;
  }

  if (c.promiscuous) {
    if (int rc = rte_eth_promiscuous_enable(pid); rc == 0) {
      applied_.promiscuous = true;
    } else {
      applied_.notes.push_back(label + ": promiscuous mode not enabled: " + dpdk_error(rc));
    }
  }
  if (int rc = rte_eth_dev_start(pid); rc != 0) {
    return fail("rte_eth_dev_start(" + label + "): " + dpdk_error(rc));
  }
  started_ = true;
  if (auto r = apply_rss(c, label); !r) return r;

  // Virtual PMDs come up at once; net_tap follows its kernel interface, real NICs negotiate.
  const auto deadline = std::chrono::steady_clock::now() + c.link_wait;
  while (link() != LinkState::kUp && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (link() != LinkState::kUp) {
    applied_.notes.push_back(label + ": link still down after " +
                             std::to_string(c.link_wait.count()) + " ms");
  }

  char name[RTE_ETH_NAME_MAX_LEN] = {};
  (void)rte_eth_dev_get_name_by_port(pid, name);
  info_.name = name;
  rte_ether_addr mac{};
  if (rte_eth_macaddr_get(pid, &mac) == 0) {
    std::array<std::uint8_t, 6> b;
    std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes), b.begin());
    info_.mac = MacAddress(b);
  }
  if (std::uint16_t cur = 0; rte_eth_dev_get_mtu(pid, &cur) == 0 && cur != 0) mtu = cur;
  info_.mtu = mtu;
  info_.rx_queues = c.rx_queues;
  info_.tx_queues = c.tx_queues;
  info_.offloads.rx_ipv4_checksum = (rx_on & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  info_.offloads.rx_l4_checksum =
      (rx_on & (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM)) ==
      (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
  info_.offloads.tx_ipv4_checksum = (tx_on & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
  info_.offloads.tx_l4_checksum =
      (tx_on & (RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM)) ==
      (RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
  info_.offloads.rss = applied_.rss_hash_types != 0;
  info_.offloads.tso = (tx_on & RTE_ETH_TX_OFFLOAD_TCP_TSO) != 0;
  info_.offloads.lro = (rx_on & RTE_ETH_RX_OFFLOAD_TCP_LRO) != 0;

  applied_.per_queue_stats = dev.dev_flags != nullptr &&
                             (*dev.dev_flags & RTE_ETH_DEV_AUTOFILL_QUEUE_XSTATS) != 0 &&
                             nq <= RTE_ETHDEV_QUEUE_STAT_CNTRS;
  if (!applied_.per_queue_stats) {
    applied_.notes.push_back(label +
                             ": no per-queue counters from the PMD; port totals read on queue 0");
  }
  log::info("dpdk: {} up: {} rx / {} tx queues, rings {}/{}, {} mbufs per queue, mtu {}, mac {}",
            label, c.rx_queues, c.tx_queues, nrx, ntx, c.mbufs_per_queue, info_.mtu,
            info_.mac.to_string());
  for (const auto& n : applied_.notes) log::info("dpdk: {}", n);
  return {};
}

void DpdkDevice::release() {
  const std::uint16_t pid = applied_.port_id;
  if (started_) {
    if (int rc = rte_eth_dev_stop(pid); rc != 0) {
      log::warn("dpdk: rte_eth_dev_stop(port {}): {}", pid, dpdk_error(rc));
    }
  }
  // Closing releases the queues and the mbufs the PMD holds (back into our pools). A port that
  // never got queues stays open and unconfigured-in-effect, so a corrected create() can retry it.
  if (queues_set_up_) {
    if (int rc = rte_eth_dev_close(pid); rc != 0) {
      log::warn("dpdk: rte_eth_dev_close(port {}): {}", pid, dpdk_error(rc));
    }
  }
  std::uint32_t outstanding = 0;
  for (const auto& q : queues_) outstanding += q->pool ? q->pool->stats().in_use : 0;
  if (outstanding != 0) {
    // Freeing the pools would leave those packets pointing into freed memory.
    log::error("dpdk: port {} destroyed with {} packets still in use: keeping its mbuf pools", pid,
               outstanding);
    std::lock_guard lock(graveyard_mu());
    for (auto& q : queues_) graveyard().push_back(std::move(q));
  } else {
    for (auto& q : queues_) {
      if (q->mempool != nullptr) rte_mempool_free(q->mempool);
    }
  }
  queues_.clear();
  if (port_claimed_) {
    std::lock_guard lock(claims_mu());
    claimed_ports().erase(pid);
  }
}

LinkState DpdkDevice::link() const {
  rte_eth_link l{};
  if (rte_eth_link_get_nowait(applied_.port_id, &l) != 0) return LinkState::kDown;
  return l.link_status == RTE_ETH_LINK_UP ? LinkState::kUp : LinkState::kDown;
}

PacketPool& DpdkDevice::pool(std::uint16_t queue) {
  if (queue >= queues_.size()) {
    throw std::out_of_range("DpdkDevice::pool(" + std::to_string(queue) + "): the device has " +
                            std::to_string(queues_.size()) + " queues");
  }
  return *queues_[queue]->pool;
}

DpdkCounters DpdkDevice::counters(std::uint16_t queue) const {
  DpdkCounters s;
  if (queue >= queues_.size()) return s;
  const auto& c = queues_[queue]->counters;
  constexpr auto r = std::memory_order_relaxed;
  s.rx_packets = c.rx_packets.load(r);
  s.rx_bytes = c.rx_bytes.load(r);
  s.rx_segments = c.rx_segments.load(r);
  s.rx_foreign = c.rx_foreign.load(r);
  s.tx_packets = c.tx_packets.load(r);
  s.tx_bytes = c.tx_bytes.load(r);
  s.tx_refused = c.tx_refused.load(r);
  s.tx_copied = c.tx_copied.load(r);
  s.tx_copy_failed = c.tx_copy_failed.load(r);
  return s;
}

QueueStats DpdkDevice::rx_stats(std::uint16_t queue) const {
  QueueStats r;
  rte_eth_stats s{};
  if (queue >= info_.rx_queues || rte_eth_stats_get(applied_.port_id, &s) != 0) return r;
  std::uint64_t ours = 0;
  if (applied_.per_queue_stats) {
    r.packets = s.q_ipackets[queue];
    r.bytes = s.q_ibytes[queue];
    ours = counters(queue).rx_bytes;
  } else if (queue == 0) {
    r.packets = s.ipackets;
    r.bytes = s.ibytes;
    for (std::uint16_t q = 0; q < info_.rx_queues; ++q) ours += counters(q).rx_bytes;
  }
  if (r.bytes == 0 && r.packets != 0) r.bytes = ours;  // the PMD counts packets only
  if (queue == 0) {
    r.drops = s.imissed + s.rx_nombuf;
    r.errors = s.ierrors;
  }
  return r;
}

QueueStats DpdkDevice::tx_stats(std::uint16_t queue) const {
  QueueStats r;
  rte_eth_stats s{};
  if (queue >= info_.tx_queues || rte_eth_stats_get(applied_.port_id, &s) != 0) return r;
  std::uint64_t ours = 0;
  if (applied_.per_queue_stats) {
    r.packets = s.q_opackets[queue];
    r.bytes = s.q_obytes[queue];
    ours = counters(queue).tx_bytes;
  } else if (queue == 0) {
    r.packets = s.opackets;
    r.bytes = s.obytes;
    for (std::uint16_t q = 0; q < info_.tx_queues; ++q) ours += counters(q).tx_bytes;
  }
  if (r.bytes == 0 && r.packets != 0) r.bytes = ours;
  r.drops = counters(queue).tx_refused;
  if (queue == 0) r.errors = s.oerrors;
  return r;
}

}  // namespace coronet::nic
