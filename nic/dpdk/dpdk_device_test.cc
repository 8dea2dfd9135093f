// DpdkDevice over net_ring ports. A net_ring vdev created from the command line uses the same
// ring for rx and tx queue i, so every transmitted mbuf comes straight back on the same queue:
// round trips need no peer, and the mbuf that comes back is the very one that was sent.
//
// EAL is initialised once for the whole binary (the first create()); each test uses its own port
// because closing a vdev port removes it.
#include "nic/dpdk/dpdk_device.h"

#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "nic/rss/port_selector.h"

namespace coronet::nic {
namespace {

using namespace std::chrono_literals;

constexpr int kRingPorts = 14;
constexpr int kNullPorts = 6;

const std::vector<std::string>& eal_args() {
  static const std::vector<std::string> args = [] {
    std::vector<std::string> a = {"--no-huge",
                                  "-m",
                                  "256",
                                  "--no-pci",
                                  "--no-shconf",
                                  "-l",
                                  "0",
                                  "--log-level=notice",
                                  "--file-prefix=coronet-dpdk-" + std::to_string(getpid())};
    for (int i = 0; i < kRingPorts; ++i) a.push_back("--vdev=net_ring" + std::to_string(i));
    // net_null: rx fills mbufs from our pool; tx frees what it gets. It also keeps an RSS key and
    // a 128-entry RETA (never used for anything), which the RSS tests program and read back.
    for (int i = 0; i < kNullPorts; ++i) a.push_back("--vdev=net_null" + std::to_string(i));
    return a;
  }();
  return args;
}

DpdkConfig ring_config(int port) {
  DpdkConfig c;
  c.eal_args = eal_args();
  c.port_name = "net_ring" + std::to_string(port);
  c.rx_ring_size = 256;
  c.tx_ring_size = 256;
  c.mbufs_per_queue = 2047;
  c.mbuf_cache_size = 64;
  c.link_wait = 1s;
  return c;
}

std::unique_ptr<DpdkDevice> make(const DpdkConfig& c) {
  auto dev = DpdkDevice::create(c);
  if (!dev) {
    ADD_FAILURE() << dev.error().message();
    return nullptr;
  }
  return std::move(*dev);
}

// A frame of `size` bytes whose content depends on `seed`.
std::vector<std::byte> frame(std::size_t size, unsigned seed) {
  std::vector<std::byte> f(size);
  std::mt19937 rng(seed);
  for (auto& b : f) b = static_cast<std::byte>(rng());
  return f;
}

Packet* packet_with(PacketPool& pool, std::span<const std::byte> bytes) {
  Packet* p = pool.alloc();
  if (p == nullptr || !p->append_bytes(bytes)) {
    ADD_FAILURE() << "cannot build a packet of " << bytes.size() << " bytes";
    return p;
  }
  return p;
}

std::vector<std::byte> contents(const Packet& p) {
  std::vector<std::byte> out(p.chain_size());
  p.copy_out(out);
  return out;
}

// Receives until `n` packets arrived or a bounded number of polls passed.
std::vector<Packet*> receive(DpdkDevice& dev, std::uint16_t queue, std::size_t n) {
  std::vector<Packet*> got;
  std::array<Packet*, 32> buf;
  for (int polls = 0; got.size() < n && polls < 1000; ++polls) {
    std::size_t k = dev.rx_burst(queue, buf);
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(k));
  }
  return got;
}

TEST(DpdkDevice, CreateDescribesThePort) {
  auto dev = make(ring_config(0));
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->info().name, "net_ring0");
  EXPECT_EQ(dev->applied().driver, "net_ring");
  EXPECT_EQ(dev->info().mtu, 1500);
  EXPECT_EQ(dev->info().rx_queues, 1);
  EXPECT_EQ(dev->info().tx_queues, 1);
  EXPECT_EQ(dev->link(), LinkState::kUp);
  EXPECT_GE(dev->applied().mbuf_data_room, 2048 + 128);
  EXPECT_EQ(dev->pool(0).stats().capacity, 2047u);
  EXPECT_THROW(dev->pool(1), std::out_of_range);
  EXPECT_TRUE(dev->applied().per_queue_stats) << "net_ring fills q_ipackets/q_opackets";
}

TEST(DpdkDevice, RoundTripIsByteExactAndZeroCopy) {
  auto dev = make(ring_config(1));
  ASSERT_NE(dev, nullptr);
  constexpr int kN = 100;
  std::vector<std::vector<std::byte>> sent;
  std::vector<Packet*> pkts;
  std::size_t bytes = 0;
  for (int i = 0; i < kN; ++i) {
    sent.push_back(frame(60 + (i * 37) % 1455, i));
    bytes += sent.back().size();
    pkts.push_back(packet_with(dev->pool(0), sent.back()));
  }
  const std::vector<Packet*> tx_copy = pkts;
  ASSERT_EQ(dev->tx_burst(0, pkts), static_cast<std::size_t>(kN));
  EXPECT_EQ(dev->pool(0).stats().in_use, 0u) << "the PMD owns what it took";

  std::vector<Packet*> got = receive(*dev, 0, kN);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(got[i], tx_copy[i]) << "net_ring hands back the same mbuf: no copy on either side";
    EXPECT_EQ(contents(*got[i]), sent[i]) << "packet " << i;
    EXPECT_EQ(got[i]->chain_segments(), 1u);
    EXPECT_EQ(got[i]->pool(), &dev->pool(0));
    EXPECT_EQ(got[i]->meta.queue, 0);
  }
  EXPECT_EQ(dev->pool(0).stats().in_use, static_cast<std::uint32_t>(kN));
  PacketPool::free_bulk(got);
  EXPECT_EQ(dev->pool(0).stats().in_use, 0u);

  DpdkCounters c = dev->counters(0);
  EXPECT_EQ(c.tx_packets, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(c.tx_bytes, bytes);
  EXPECT_EQ(c.rx_packets, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(c.rx_bytes, bytes);
  EXPECT_EQ(c.tx_copied, 0u);
  QueueStats rx = dev->rx_stats(0);
  QueueStats tx = dev->tx_stats(0);
  EXPECT_EQ(rx.packets, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(tx.packets, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(rx.bytes, bytes) << "net_ring counts no bytes: coronet's count fills in";
  EXPECT_EQ(tx.bytes, bytes);
  EXPECT_EQ(tx.drops, 0u);
}

// A three-segment chain: header, payload, trailer, each in its own mbuf.
Packet* make_chain(PacketPool& pool, const std::vector<std::byte>& whole) {
  const std::size_t cut1 = 14, cut2 = 14 + 700;
  Packet* a = packet_with(pool, std::span(whole).subspan(0, cut1));
  Packet* b = packet_with(pool, std::span(whole).subspan(cut1, cut2 - cut1));
  Packet* c = packet_with(pool, std::span(whole).subspan(cut2));
  a->set_next(b);
  b->set_next(c);
  return a;
}

TEST(DpdkDevice, ChainsPassThroughAsMbufChains) {
  auto dev = make(ring_config(2));  // kAuto; net_ring announces MULTI_SEGS
  ASSERT_NE(dev, nullptr);
  EXPECT_FALSE(dev->applied().tx_chains_linearized);
  const auto whole = frame(1000, 7);
  Packet* chain = make_chain(dev->pool(0), whole);
  ASSERT_EQ(dev->tx_burst(0, std::span(&chain, 1)), 1u);
  std::vector<Packet*> got = receive(*dev, 0, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->chain_segments(), 3u) << "rx maps the mbuf chain to a descriptor chain";
  EXPECT_EQ(got[0]->chain_size(), whole.size());
  EXPECT_EQ(contents(*got[0]), whole);
  EXPECT_EQ(dev->counters(0).rx_segments, 3u);
  EXPECT_EQ(dev->pool(0).stats().in_use, 3u);
  PacketPool::free(got[0]);
  EXPECT_EQ(dev->pool(0).stats().in_use, 0u);
  EXPECT_EQ(dev->pool(0).stats().double_frees, 0u);
}

TEST(DpdkDevice, ChainsAreLinearisedOnRequest) {
  DpdkConfig cfg = ring_config(3);
  cfg.tx_chains = DpdkTxChains::kLinearize;  // what kAuto does for PMDs without MULTI_SEGS
  auto dev = make(cfg);
  ASSERT_NE(dev, nullptr);
  EXPECT_TRUE(dev->applied().tx_chains_linearized);
  const auto whole = frame(1000, 8);
  Packet* chain = make_chain(dev->pool(0), whole);
  ASSERT_EQ(dev->tx_burst(0, std::span(&chain, 1)), 1u);
  EXPECT_EQ(dev->pool(0).stats().in_use, 0u) << "the original chain was freed after the copy went";
  std::vector<Packet*> got = receive(*dev, 0, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->chain_segments(), 1u);
  EXPECT_EQ(contents(*got[0]), whole);
  EXPECT_EQ(dev->counters(0).tx_copied, 1u);
  PacketPool::free(got[0]);
}

TEST(DpdkDevice, PacketsFromNativePoolsAreCopied) {
  auto dev = make(ring_config(4));
  ASSERT_NE(dev, nullptr);
  PacketPool native({.name = "native", .count = 4});
  const auto bytes = frame(300, 9);
  Packet* p = packet_with(native, bytes);
  ASSERT_EQ(dev->tx_burst(0, std::span(&p, 1)), 1u);
  EXPECT_EQ(native.stats().in_use, 0u);
  std::vector<Packet*> got = receive(*dev, 0, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(contents(*got[0]), bytes);
  EXPECT_EQ(got[0]->pool(), &dev->pool(0));
  PacketPool::free(got[0]);
}

TEST(DpdkDevice, PacketsThePmdRefusesStayWithTheCaller) {
  auto dev = make(ring_config(5));
  ASSERT_NE(dev, nullptr);
  // net_ring's rings have 1024 slots, 1023 usable; nothing drains them meanwhile.
  constexpr std::size_t kOffered = 1100, kFits = 1023;
  std::vector<Packet*> pkts;
  for (std::size_t i = 0; i < kOffered; ++i) {
    pkts.push_back(packet_with(dev->pool(0), frame(64, static_cast<unsigned>(i))));
  }
  ASSERT_EQ(dev->tx_burst(0, pkts), kFits);
  EXPECT_EQ(dev->pool(0).stats().in_use, kOffered - kFits);
  // Still ours: readable, writable, and a retry after draining goes through.
  for (std::size_t i = kFits; i < kOffered; ++i) {
    EXPECT_EQ(contents(*pkts[i]), frame(64, static_cast<unsigned>(i)));
  }
  EXPECT_EQ(dev->counters(0).tx_refused, 1u) << "one chunk came back short";
  EXPECT_EQ(dev->tx_stats(0).drops, 1u);
  std::vector<Packet*> got = receive(*dev, 0, kFits);
  EXPECT_EQ(got.size(), kFits);
  PacketPool::free_bulk(got);
  std::span rest(pkts.data() + kFits, kOffered - kFits);
  EXPECT_EQ(dev->tx_burst(0, rest), rest.size());
  got = receive(*dev, 0, rest.size());
  ASSERT_EQ(got.size(), rest.size());
  EXPECT_EQ(contents(*got.back()), frame(64, kOffered - 1));
  PacketPool::free_bulk(got);
  EXPECT_EQ(dev->pool(0).stats().in_use, 0u);
}

TEST(DpdkDevice, PoolExhaustionIsCounted) {
  auto dev = make(ring_config(6));
  ASSERT_NE(dev, nullptr);
  PacketPool& pool = dev->pool(0);
  std::vector<Packet*> all;
  while (Packet* p = pool.alloc()) all.push_back(p);
  EXPECT_EQ(all.size(), 2047u) << "net_ring keeps no mbufs of its own";
  EXPECT_EQ(pool.stats().exhausted, 1u);
  EXPECT_EQ(pool.alloc(), nullptr);
  EXPECT_EQ(pool.stats().exhausted, 2u);
  // A native packet needs a copy, and there is no mbuf for it: counted, left with the caller.
  PacketPool native({.name = "native", .count = 1});
  Packet* n = packet_with(native, frame(100, 1));
  EXPECT_EQ(dev->tx_burst(0, std::span(&n, 1)), 0u);
  EXPECT_EQ(dev->counters(0).tx_copy_failed, 1u);
  PacketPool::free(n);
  PacketPool::free_bulk(all);
  EXPECT_EQ(pool.stats().in_use, 0u);
  Packet* again = pool.alloc();
  EXPECT_NE(again, nullptr) << "freed mbufs are allocatable again";
  PacketPool::free(again);
}

TEST(DpdkDevice, QueuesAreIndependent) {
  DpdkConfig cfg = ring_config(7);
  cfg.rx_queues = 2;
  cfg.tx_queues = 2;
  auto dev = make(cfg);
  ASSERT_NE(dev, nullptr);
  EXPECT_NE(&dev->pool(0), &dev->pool(1));
  Packet* p = packet_with(dev->pool(1), frame(80, 3));
  ASSERT_EQ(dev->tx_burst(1, std::span(&p, 1)), 1u);
  EXPECT_TRUE(receive(*dev, 0, 1).empty());
  std::vector<Packet*> got = receive(*dev, 1, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->meta.queue, 1);
  EXPECT_EQ(got[0]->pool(), &dev->pool(1));
  EXPECT_EQ(dev->rx_stats(1).packets, 1u);
  EXPECT_EQ(dev->rx_stats(0).packets, 0u);
  EXPECT_EQ(dev->tx_stats(1).packets, 1u);
  PacketPool::free(got[0]);
  EXPECT_EQ(dev->rx_burst(2, std::span(&p, 1)), 0u) << "no such queue";
}

TEST(DpdkDevice, UnsupportedRssIsReportedOrRefused) {
  DpdkConfig cfg = ring_config(8);
  cfg.rss.hash_types = rss::kIpv4 | rss::kTcpIpv4;
  cfg.rss.required = true;
  auto refused = DpdkDevice::create(cfg);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("cannot hash on RSS types"), std::string::npos)
      << refused.error().message();

  cfg.rss.required = false;  // the same port: a refused create() leaves it usable
  auto dev = make(cfg);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->applied().rss_hash_types, 0u);
  EXPECT_FALSE(dev->info().offloads.rss);
  bool noted = false;
  for (const auto& n : dev->applied().notes) noted |= n.find("RSS") != std::string::npos;
  EXPECT_TRUE(noted);
}

// net_ring has no RSS (flow_type_rss_offloads 0): with two queues and a key, nothing to predict
// steering with, and no RETA touched.
TEST(DpdkDevice, NoRssMeansNoKeyAndNoReta) {
  DpdkConfig cfg = ring_config(13);
  cfg.rx_queues = 2;
  cfg.tx_queues = 2;
  cfg.rss.hash_types = rss::kIpv4 | rss::kTcpIpv4;
  cfg.rss.key.assign(rss::kSymmetricKey.begin(), rss::kSymmetricKey.end());
  auto dev = make(cfg);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->applied().rss_hash_types, 0u);
  EXPECT_FALSE(dev->applied().rss_key);
  EXPECT_FALSE(dev->applied().reta_programmed);
  EXPECT_EQ(dev->applied().reta_size, 0u);
  EXPECT_FALSE(dev->rss_key());
  EXPECT_FALSE(dev->reta());
}

// The PMD's own view of its RETA (rte_eth_dev_rss_reta_query), `size` entries.
std::vector<std::uint16_t> pmd_reta(std::uint16_t port, std::uint16_t size) {
  std::vector<rte_eth_rss_reta_entry64> conf((size + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                             RTE_ETH_RETA_GROUP_SIZE);
  for (auto& g : conf) {
    g = rte_eth_rss_reta_entry64{};
    g.mask = ~std::uint64_t{0};
  }
  if (int rc = rte_eth_dev_rss_reta_query(port, conf.data(), size); rc != 0) {
    ADD_FAILURE() << "rte_eth_dev_rss_reta_query: " << rte_strerror(-rc);
    return {};
  }
  std::vector<std::uint16_t> out(size);
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
  }
  return out;
}

// The PMD's own view of its key (rte_eth_dev_rss_hash_conf_get), first 40 bytes.
rss::Key pmd_key(std::uint16_t port) {
  std::array<std::uint8_t, 255> buf{};
  rte_eth_rss_conf conf{};
  conf.rss_key = buf.data();
  conf.rss_key_len = static_cast<std::uint8_t>(buf.size());
  if (int rc = rte_eth_dev_rss_hash_conf_get(port, &conf); rc != 0) {
    ADD_FAILURE() << "rte_eth_dev_rss_hash_conf_get: " << rte_strerror(-rc);
  }
  rss::Key k;
  std::copy_n(buf.begin(), k.size(), k.begin());
  return k;
}

DpdkConfig null_rss_config(int port, std::uint16_t queues) {
  DpdkConfig c = ring_config(0);
  c.port_name = "net_null" + std::to_string(port);
  c.rx_queues = queues;
  c.tx_queues = queues;
  c.rss.hash_types = rss::kIpv4 | rss::kTcpIpv4;
  c.rss.key.assign(rss::kSymmetricKey.begin(), rss::kSymmetricKey.end());
  c.rss.required = true;
  return c;
}

// net_null ignores the key given to rte_eth_dev_configure (it keeps the Microsoft key) but takes
// one through rte_eth_dev_rss_hash_update, and keeps a 128-entry RETA: create() must end with the
// PMD holding the symmetric key and entry i -> queue i % 2, and the accessors must say so.
TEST(DpdkDevice, NullPmdGetsTheKeyAndARoundRobinReta) {
  auto dev = make(null_rss_config(1, 2));
  ASSERT_NE(dev, nullptr);
  const DpdkApplied& a = dev->applied();
  EXPECT_EQ(a.rss_hash_types, rss::kIpv4 | rss::kTcpIpv4);
  EXPECT_TRUE(a.rss_key);
  EXPECT_EQ(a.reta_size, 128u);
  EXPECT_TRUE(a.reta_programmed);
  for (const auto& n : a.notes) {
    EXPECT_EQ(n.find("RSS"), std::string::npos) << n;
    EXPECT_EQ(n.find("redirection"), std::string::npos) << n;
  }
  EXPECT_TRUE(dev->info().offloads.rss);

  ASSERT_TRUE(dev->rss_key());
  EXPECT_EQ(*dev->rss_key(), rss::kSymmetricKey);
  EXPECT_EQ(pmd_key(dev->port_id()), rss::kSymmetricKey) << "installed, not just remembered";

  const std::optional<rss::Reta> reta = dev->reta();
  ASSERT_TRUE(reta);
  EXPECT_EQ(reta->size(), 128u);
  EXPECT_EQ(reta->num_queues(), 2);
  const std::vector<std::uint16_t> in_pmd = pmd_reta(dev->port_id(), 128);
  ASSERT_EQ(in_pmd.size(), 128u);
  for (std::size_t i = 0; i < in_pmd.size(); ++i) {
    EXPECT_EQ(in_pmd[i], i % 2) << "entry " << i;
    EXPECT_EQ(reta->entries()[i], in_pmd[i]) << "entry " << i;
  }

  // What the accessors are for: a port chosen by PortSelector for queue q hashes onto queue q.
  const rss::Toeplitz hash(*dev->rss_key());
  const rss::PortSelector selector(hash, *reta);
  for (std::uint16_t q = 0; q < 2; ++q) {
    rss::ActiveOpen open;
    open.local_addr = 0xc6120102;   // 198.18.1.2
    open.remote_addr = 0xc6120101;  // 198.18.1.1
    open.remote_port = 80;
    open.queue = q;
    const std::optional<std::uint16_t> port = selector.select(open);
    ASSERT_TRUE(port);
    EXPECT_EQ(reta->queue_of(selector.reply_hash(open, *port)), q);
  }
}

TEST(DpdkDevice, NullPmdRetaOverThreeQueuesWithTheDefaultKey) {
  DpdkConfig cfg = null_rss_config(2, 3);
  cfg.rss.key.clear();  // the PMD's default key: not assumed, so rss_key() has nothing to say
  auto dev = make(cfg);
  ASSERT_NE(dev, nullptr);
  EXPECT_FALSE(dev->applied().rss_key);
  EXPECT_FALSE(dev->rss_key());
  EXPECT_TRUE(dev->applied().reta_programmed);
  const std::optional<rss::Reta> reta = dev->reta();
  ASSERT_TRUE(reta);
  EXPECT_EQ(reta->num_queues(), 3);
  const std::vector<std::uint16_t> in_pmd = pmd_reta(dev->port_id(), 128);
  ASSERT_EQ(in_pmd.size(), 128u);
  for (std::size_t i = 0; i < in_pmd.size(); ++i) {
    EXPECT_EQ(in_pmd[i], i % 3) << "entry " << i;
    EXPECT_EQ(reta->entries()[i], in_pmd[i]) << "entry " << i;
  }
}

TEST(DpdkDevice, OneQueueNeedsNoReta) {
  auto dev = make(null_rss_config(3, 1));
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->applied().reta_size, 128u);
  EXPECT_FALSE(dev->applied().reta_programmed);
  EXPECT_FALSE(dev->reta());
  ASSERT_TRUE(dev->rss_key());
  EXPECT_EQ(*dev->rss_key(), rss::kSymmetricKey);
}

// net_null announces no key size, so a 52-byte key passes configure; it keeps only 40 bytes, and
// the read-back tells: the key is reported as not installed (a note; fatal when required).
TEST(DpdkDevice, KeyThePmdDoesNotKeepIsNotInstalled) {
  DpdkConfig cfg = null_rss_config(4, 2);
  cfg.rss.key.resize(52, 0x5a);
  cfg.rss.required = false;
  auto dev = make(cfg);
  ASSERT_NE(dev, nullptr);
  EXPECT_FALSE(dev->applied().rss_key);
  EXPECT_FALSE(dev->rss_key());
  bool noted = false;
  for (const auto& n : dev->applied().notes) {
    noted |= n.find("net_null4") != std::string::npos &&
             n.find("RSS key is not in effect") != std::string::npos;
  }
  EXPECT_TRUE(noted);
  EXPECT_TRUE(dev->reta()) << "the RETA does not depend on the key";

  cfg.port_name = "net_null5";  // closing net_null4 removed it
  cfg.rss.required = true;
  auto refused = DpdkDevice::create(cfg);
  ASSERT_FALSE(refused);
  const std::string msg = refused.error().message();
  EXPECT_NE(msg.find("net_null5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("net_null)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reports another key"), std::string::npos) << msg;
}

TEST(DpdkDevice, UnknownPortNameListsTheAvailablePorts) {
  DpdkConfig cfg = ring_config(0);
  cfg.port_name = "net_tap9";
  auto r = DpdkDevice::create(cfg);
  ASSERT_FALSE(r);
  const std::string msg = r.error().message();
  EXPECT_NE(msg.find("no DPDK port named \"net_tap9\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("net_ring11 (net_ring)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("net_null0 (net_null)"), std::string::npos) << msg;

  cfg.port_name.clear();
  cfg.port_id = 200;
  r = DpdkDevice::create(cfg);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no DPDK port 200"), std::string::npos);
}

TEST(DpdkDevice, DifferentEalArgsAreRejected) {
  DpdkConfig cfg = ring_config(9);
  cfg.eal_args.push_back("--vdev=net_null9");
  auto r = DpdkDevice::create(cfg);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("already initialised with"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("net_null9"), std::string::npos);
}

TEST(DpdkDevice, OnePortOneDevice) {
  auto first = make(ring_config(10));
  ASSERT_NE(first, nullptr);
  auto second = DpdkDevice::create(ring_config(10));
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("already driven"), std::string::npos);
}

TEST(DpdkDevice, BadConfigurationsSayWhatIsWrong) {
  DpdkConfig cfg = ring_config(11);
  cfg.rx_queues = 100;
  auto r = DpdkDevice::create(cfg);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("supports at most 16 rx"), std::string::npos)
      << r.error().message();

  cfg = ring_config(11);
  cfg.mtu = 10;
  r = DpdkDevice::create(cfg);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("MTU 10 outside"), std::string::npos) << r.error().message();

  cfg = ring_config(11);
  cfg.mbufs_per_queue = 300;
  r = DpdkDevice::create(cfg);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("smaller than rx ring + tx ring"), std::string::npos)
      << r.error().message();

  cfg = ring_config(11);
  cfg.mbufs_per_queue = 1u << 20;  // 2 GiB of mbufs in 256 MiB of EAL memory
  r = DpdkDevice::create(cfg);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("raise -m"), std::string::npos) << r.error().message();

  // After all that, the port still works.
  auto dev = make(ring_config(11));
  ASSERT_NE(dev, nullptr);
  Packet* p = packet_with(dev->pool(0), frame(60, 1));
  ASSERT_EQ(dev->tx_burst(0, std::span(&p, 1)), 1u);
  auto got = receive(*dev, 0, 1);
  ASSERT_EQ(got.size(), 1u);
  PacketPool::free(got[0]);
}

TEST(DpdkDevice, NullPmdFillsOurMbufsAndFreesWhatItSends) {
  DpdkConfig cfg = ring_config(0);
  cfg.port_name = "net_null0";
  auto dev = make(cfg);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->applied().driver, "net_null");
  // net_null "receives" a full burst of 64-byte frames, allocated from the rx queue's mempool.
  std::array<Packet*, 32> burst;
  ASSERT_EQ(dev->rx_burst(0, burst), burst.size());
  for (Packet* p : burst) {
    EXPECT_EQ(p->pool(), &dev->pool(0));
    EXPECT_EQ(p->size(), 64u);
  }
  EXPECT_EQ(dev->pool(0).stats().in_use, burst.size());
  PacketPool::free_bulk(burst);
  // What it sends it frees into our mempool: afterwards every mbuf is allocatable again.
  std::vector<Packet*> pkts;
  for (int i = 0; i < 10; ++i) pkts.push_back(packet_with(dev->pool(0), frame(100, i)));
  ASSERT_EQ(dev->tx_burst(0, pkts), pkts.size());
  std::vector<Packet*> all;
  while (Packet* p = dev->pool(0).alloc()) all.push_back(p);
  EXPECT_EQ(all.size(), 2047u);
  PacketPool::free_bulk(all);
  EXPECT_EQ(dev->pool(0).stats().in_use, 0u);
  EXPECT_EQ(dev->rx_stats(0).packets, burst.size());
  EXPECT_EQ(dev->tx_stats(0).packets, pkts.size());
  EXPECT_EQ(dev->tx_stats(0).bytes, 1000u);
}

TEST(DpdkDevice, DestroyingWithPacketsOutKeepsTheirPools) {
  auto dev = make(ring_config(12));
  ASSERT_NE(dev, nullptr);
  Packet* kept = packet_with(dev->pool(0), frame(64, 5));
  dev.reset();  // logs an error and keeps the pool alive for `kept`
  EXPECT_EQ(contents(*kept), frame(64, 5));
  PacketPool::free(kept);  // still safe (ASan would say otherwise)
}

TEST(DpdkDevice, ThreadsCanRegisterForMempoolCaches) {
  ASSERT_TRUE(dpdk_init_eal(eal_args()));  // up already, or brought up with the same args
  bool ok = false;
  unsigned lcore = LCORE_ID_ANY;
  std::thread t([&] {
    ok = static_cast<bool>(dpdk_register_thread());
    lcore = rte_lcore_id();
    ok = ok && static_cast<bool>(dpdk_register_thread());  // idempotent
    rte_thread_unregister();
  });
  t.join();
  EXPECT_TRUE(ok);
  EXPECT_NE(lcore, LCORE_ID_ANY);
}

}  // namespace
}  // namespace coronet::nic
