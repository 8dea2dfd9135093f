// DpdkDevice: a nic::Device over one DPDK ethdev port (net_tap, net_ring, net_null, a real NIC).
//
// Zero copy: every mbuf carries its nic::Packet descriptor in the mbuf's private area, so rx hands
// out the mbufs the PMD filled and tx hands the stack's buffers straight to the PMD. Each queue
// has its own mbuf pool and its own nic::PacketPool (pool(queue)); nothing else is allocated per
// packet. This header needs no DPDK include (and so no DPDK_COPTS in the targets that use it).
//
// EAL is process-global: the first create() initialises it with DpdkConfig::eal_args; every later
// create() in the process must pass the same list. A failed rte_eal_init cannot be retried, so
// that failure is remembered and returned by every later create().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "coro/result.h"
#include "nic/device.h"
#include "nic/packet.h"
#include "nic/packet_pool.h"
#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"

namespace coronet::nic {

// RTE_ETH_RSS_* bits for DpdkRssConfig::hash_types (the values of rte_ethdev.h, checked there).
namespace rss {
inline constexpr std::uint64_t kIpv4 = 1ull << 2;
inline constexpr std::uint64_t kTcpIpv4 = 1ull << 4;  // RTE_ETH_RSS_NONFRAG_IPV4_TCP
inline constexpr std::uint64_t kUdpIpv4 = 1ull << 5;  // RTE_ETH_RSS_NONFRAG_IPV4_UDP
}  // namespace rss

// With more than one rx queue, create() also programs the redirection table round robin (entry i
// names queue i % rx_queues), so that software can predict the queue of a flow: see
// DpdkDevice::rss_key() and DpdkDevice::reta().
struct DpdkRssConfig {
  std::uint64_t hash_types = 0;   // RTE_ETH_RSS_* bits; 0 = no RSS
  std::vector<std::uint8_t> key;  // empty = the PMD's default key
  // Fail create() unless all of it can be applied: hash types, key, and (with more than one rx
  // queue) the round-robin RETA.
  bool required = false;
};

struct DpdkOffloadConfig {
  bool rx_checksum = true;  // IPv4/TCP/UDP checksum verdicts on rx, where the PMD offers them
  bool tx_checksum = true;  // honour kTxIpv4Csum/kTxTcpCsum/kTxUdpCsum, where the PMD offers them
  bool tso = false;
  bool lro = false;
  bool required = false;  // fail create() unless every requested offload is available
};

// What to do with chained (multi-segment) packets on tx.
enum class DpdkTxChains : std::uint8_t {
  kAuto,         // hand chains to the PMD if it announces MULTI_SEGS, otherwise linearise (copy)
  kPassThrough,  // always hand chains over: software PMDs (net_ring, net_null) never look inside
  kLinearize,    // always copy a chain into one mbuf
};

struct DpdkConfig {
  // Options for rte_eal_init, e.g. {"--no-huge", "-m", "256", "--no-pci", "--vdev=net_ring0"}.
  // Passed verbatim after a program name ("coronet") that create() supplies.
  std::vector<std::string> eal_args;

  std::string port_name;  // e.g. "net_tap0"; empty = use port_id
  std::uint16_t port_id = 0;

  std::uint16_t rx_queues = 1;
  std::uint16_t tx_queues = 1;
  std::uint16_t rx_ring_size = 1024;  // descriptors; the PMD may round (see DpdkApplied)
  std::uint16_t tx_ring_size = 1024;
  // One mbuf pool per queue. It must also hold what the PMD keeps (rx ring, tx ring) and what sits
  // in per-lcore caches; create() refuses a pool smaller than rx + tx ring.
  std::uint32_t mbufs_per_queue = 4095;  // 2^n - 1 is the mempool's most efficient size
  std::uint32_t mbuf_cache_size = 256;   // per-lcore cache; 0 = none
  std::uint16_t mtu = 0;                 // 0 = keep the PMD's MTU

  DpdkRssConfig rss;
  DpdkOffloadConfig offloads;
  DpdkTxChains tx_chains = DpdkTxChains::kAuto;
  bool promiscuous = false;
  // After start, wait up to this long for link up (a down link is reported, not an error).
  std::chrono::milliseconds link_wait{3000};
};

// What create() actually configured; everything requested but not applied is in `notes`.
struct DpdkApplied {
  std::uint16_t port_id = 0;
  std::string driver;              // e.g. "net_tap"
  std::uint16_t rx_ring_size = 0;  // after rte_eth_dev_adjust_nb_rx_tx_desc
  std::uint16_t tx_ring_size = 0;
  std::uint16_t mbuf_data_room = 0;  // bytes per mbuf buffer, headroom included
  std::uint64_t rss_hash_types = 0;  // RTE_ETH_RSS_* in effect (0 = RSS off)
  // The configured key is in effect: the PMD reads it back, or (where it cannot report its key)
  // took it in rte_eth_dev_rss_hash_update. A key the PMD ignores (net_tap) is not installed.
  bool rss_key = false;
  std::uint16_t reta_size = 0;    // the PMD's RETA entries (dev_info.reta_size; 0 = it has none)
  bool reta_programmed = false;   // entry i -> queue i % rx_queues is installed (RSS, > 1 rx queue)
  std::uint64_t rx_offloads = 0;  // RTE_ETH_RX_OFFLOAD_* enabled
  std::uint64_t tx_offloads = 0;  // RTE_ETH_TX_OFFLOAD_* enabled
  bool tx_chains_linearized = false;
  bool promiscuous = false;
  // The PMD fills per-queue counters (q_ipackets, ...); otherwise port totals are reported on
  // queue 0 and the other queues read zero.
  bool per_queue_stats = false;
  std::vector<std::string> notes;
};

// coronet's own per-queue counters (exact per queue whatever the PMD counts).
struct DpdkCounters {
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_segments = 0;
  std::uint64_t rx_foreign = 0;  // mbufs without room for a descriptor, dropped (never expected)
  std::uint64_t tx_packets = 0;  // taken by the PMD
  std::uint64_t tx_bytes = 0;
  std::uint64_t tx_refused = 0;      // offered but not taken (ring full, rejected by tx_prepare)
  std::uint64_t tx_copied = 0;       // linearised or copied from non-mbuf buffers first
  std::uint64_t tx_copy_failed = 0;  // no mbufs for such a copy, or too big for one mbuf where
                                     // chains are linearised: the packet stays with the caller
};

class DpdkDevice final : public Device {
 public:
  static Result<std::unique_ptr<DpdkDevice>> create(DpdkConfig config);

  // Stops and closes the port, then frees the mbuf pools. Every packet of this device should have
  // been returned by then; if not, the pools are kept for the rest of the process (and that is
  // logged) rather than freed under packets that still point into them.
  ~DpdkDevice() override;
  DpdkDevice(const DpdkDevice&) = delete;
  DpdkDevice& operator=(const DpdkDevice&) = delete;

  const DeviceInfo& info() const override { return info_; }
  LinkState link() const override;  // rte_eth_link_get_nowait

  std::size_t rx_burst(std::uint16_t queue, std::span<Packet*> out) override;
  std::size_t tx_burst(std::uint16_t queue, std::span<Packet* const> pkts) override;

  // From rte_eth_stats_get: per queue where the PMD fills per-queue counters, else port totals on
  // queue 0 (applied().per_queue_stats says which). Port-level drops and errors (imissed,
  // rx_nombuf, ierrors, oerrors) always land on queue 0. tx drops are coronet's tx_refused count.
  // Where the PMD counts packets but no bytes (net_ring), bytes come from coronet's counters.
  QueueStats rx_stats(std::uint16_t queue) const override;
  QueueStats tx_stats(std::uint16_t queue) const override;

  // One pool per queue index (max(rx_queues, tx_queues) of them). Throws std::out_of_range for a
  // queue that does not exist (a programmer error).
  PacketPool& pool(std::uint16_t queue) override;

  std::uint16_t port_id() const { return applied_.port_id; }
  const DpdkApplied& applied() const { return applied_; }
  DpdkCounters counters(std::uint16_t queue) const;

  // What software needs to predict RSS steering (rss::Toeplitz(*rss_key()).hash(tuple) through
  // reta()->queue_of()), e.g. for rss::PortSelector on active opens. rss_key(): the configured
  // key when it was installed (applied().rss_key) and is 40 bytes; nullopt otherwise (no key
  // configured: the PMD's default is not assumed). reta(): Reta::round_robin(rx_queues,
  // reta_size) when the table was programmed and its size is a power of two <= Reta::kMaxSize;
  // nullopt otherwise (one rx queue, no RSS, a PMD without a programmable RETA).
  std::optional<rss::Key> rss_key() const { return rss_key_; }
  std::optional<rss::Reta> reta() const;

  struct Queue;  // per-queue state (internal/queue.h)

 private:
  DpdkDevice() = default;
  Result<void> configure(const DpdkConfig& config);
  // On the started port (some PMDs apply RSS at start): confirms the key, programs the RETA
  // (dpdk_rss.cc).
  Result<void> apply_rss(const DpdkConfig& config, const std::string& label);
  void release();

  DeviceInfo info_;
  DpdkApplied applied_;
  bool multi_seg_ok_ = true;  // chains may be handed to the PMD as they are
  bool configured_ = false;   // rte_eth_dev_configure succeeded: close the port on release
  bool queues_set_up_ = false;
  bool started_ = false;
  bool port_claimed_ = false;
  std::vector<std::unique_ptr<Queue>> queues_;
  std::optional<rss::Key> rss_key_;
};

// EAL helpers, usable before or without a DpdkDevice.
// Initialises EAL once per process with `eal_args` (see DpdkConfig::eal_args); later calls succeed
// only with the same list. Restores the caller's CPU affinity, which rte_eal_init pins to the main
// lcore (coronet's Runtime does its own pinning).
Result<void> dpdk_init_eal(const std::vector<std::string>& eal_args);
// "0 net_ring0 (net_ring), 1 net_tap0 (net_tap)" for the ports that exist; "none" without EAL.
std::string dpdk_describe_ports();
// Registers the calling (non-EAL) thread with EAL so it gets an lcore id and with it per-lcore
// mempool caches; reactor threads that run DPDK queues should call it once.
Result<void> dpdk_register_thread();

}  // namespace coronet::nic
