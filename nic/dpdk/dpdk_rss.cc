// RSS steering on a started port: confirm that the configured Toeplitz key is the one in effect and
// program the redirection table (RETA) round robin, so that software can predict which queue a
// flow's packets reach (rss::Toeplitz + rss::Reta) and each per-core engine owns the flows whose
// hash lands on its queue.
//
// Both happen after rte_eth_dev_start: several PMDs (re)apply their RSS state at start, and some
// report reta_size only once the queues are configured. What the PMDs of Debian's DPDK 22.11 do,
// measured here:
//   net_tap  offers hash types IP|TCP|UDP (0x3afbc) and hash_key_size 40, but has no RETA
//            (reta_size 0; rss_reta_update/query: ENOTSUP), refuses rss_hash_update with a key
//            ("RSS key cannot be updated"), cannot report its key (rss_hash_conf_get: ENOTSUP), and
//            silently ignores the key given to rte_eth_dev_configure. Its rx queues are the TAP's
//            kernel queues, which the kernel fills by its own flow hash. (Its rte_flow RSS action,
//            eBPF under tc, needs the multiq qdisc, which this kernel lacks.)
//   net_null offers RSS with a 128-entry RETA that reta_update/reta_query honour and a key that
//            rss_hash_update installs and rss_hash_conf_get reports (the configure-time key is
//            ignored: the Microsoft key stays until updated); it never steers anything.
//   net_ring has no RSS at all (flow_type_rss_offloads 0).
#include <rte_ethdev.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "nic/dpdk/dpdk_device.h"

namespace coronet::nic {
namespace {

Error fail(std::string what) { return Error(Errc::kInvalidArgument, std::move(what)); }

std::string dpdk_error(int rc) { return rte_strerror(rc < 0 ? -rc : rc); }

// Longer than any PMD's key (40 or 52 bytes in practice): rss_key_len is a uint8_t.
using KeyBuffer = std::array<std::uint8_t, 255>;

// The key the PMD reports, or the negative errno of rte_eth_dev_rss_hash_conf_get.
int read_key(std::uint16_t port, KeyBuffer& out) {
  out.fill(0);
  rte_eth_rss_conf conf{};
  conf.rss_key = out.data();
  conf.rss_key_len = static_cast<std::uint8_t>(out.size());
  return rte_eth_dev_rss_hash_conf_get(port, &conf);
}

bool same_prefix(const KeyBuffer& got, const std::vector<std::uint8_t>& want) {
  return std::equal(want.begin(), want.end(), got.begin());
}

// Makes `key` the port's hash key; "" when it is in effect, else why not. The read-back is the
// proof where the PMD offers one; where it does not, rss_hash_update accepting the key is.
std::string install_key(std::uint16_t port, std::uint64_t hash_types,
                        const std::vector<std::uint8_t>& key) {
  KeyBuffer got;
  const int read_rc = read_key(port, got);
  if (read_rc == 0 && same_prefix(got, key)) return {};  // taken at configure time

  // Padded: some PMDs copy their own key size whatever rss_key_len says (net_null copies 40).
  KeyBuffer padded{};
  std::copy(key.begin(), key.end(), padded.begin());
  rte_eth_rss_conf conf{};
  conf.rss_key = padded.data();
  conf.rss_key_len = static_cast<std::uint8_t>(key.size());
  conf.rss_hf = hash_types;
  if (int rc = rte_eth_dev_rss_hash_update(port, &conf); rc != 0) {
    std::string why =
        "the configured RSS key is not in effect: rte_eth_dev_rss_hash_update: " + dpdk_error(rc);
    if (read_rc != 0) {
      why +=
          "; the PMD cannot report its key (rte_eth_dev_rss_hash_conf_get: " + dpdk_error(read_rc) +
          ")";
    } else {
      why += "; it reports another key";
    }
    return why;
  }
  if (read_key(port, got) == 0 && !same_prefix(got, key)) {
    return "the configured RSS key is not in effect: rte_eth_dev_rss_hash_update succeeded but the "
           "PMD reports another key";
  }
  return {};
}

// Programs entry i -> queue i % queues over all `size` entries; "" on success, else why not.
std::string program_reta(std::uint16_t port, std::uint16_t size, std::uint16_t queues) {
  if (size == 0) return "the PMD has no redirection table (reta_size 0)";
  // One rte_eth_rss_reta_entry64 per 64 entries; its mask says which of its entries to write (all
  // of them, except past the end of a table whose size is not a multiple of 64).
  const std::size_t groups = (size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE;
  std::vector<rte_eth_rss_reta_entry64> conf(groups);
  for (auto& g : conf) g = rte_eth_rss_reta_entry64{};
  for (std::uint32_t i = 0; i < size; ++i) {
    auto& g = conf[i / RTE_ETH_RETA_GROUP_SIZE];
    g.mask |= std::uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
    g.reta[i % RTE_ETH_RETA_GROUP_SIZE] = static_cast<std::uint16_t>(i % queues);
  }
  if (int rc = rte_eth_dev_rss_reta_update(port, conf.data(), size); rc != 0) {
    return "rte_eth_dev_rss_reta_update(" + std::to_string(size) + " entries): " + dpdk_error(rc);
  }
  // Read back where the PMD can: an update that "succeeds" without effect would mis-steer silently.
  std::vector<rte_eth_rss_reta_entry64> back(groups);
  for (std::size_t g = 0; g < groups; ++g) {
    back[g] = rte_eth_rss_reta_entry64{};
    back[g].mask = conf[g].mask;
  }
  if (rte_eth_dev_rss_reta_query(port, back.data(), size) == 0) {
    for (std::uint32_t i = 0; i < size; ++i) {
      const std::uint16_t want = static_cast<std::uint16_t>(i % queues);
      const std::uint16_t got = back[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
      if (got != want) {
        return "rte_eth_dev_rss_reta_update succeeded but entry " + std::to_string(i) +
               " reads back as queue " + std::to_string(got) + ", not " + std::to_string(want);
      }
    }
  }
  return {};
}

}  // namespace

Result<void> DpdkDevice::apply_rss(const DpdkConfig& c, const std::string& label) {
  if (applied_.rss_hash_types == 0) return {};
  const std::uint16_t pid = applied_.port_id;
  auto problem = [&](const std::string& why) -> Result<void> {
    std::string n = label + ": " + why;
    if (c.rss.required) return fail(n);
    applied_.notes.push_back(std::move(n));
    return {};
  };

  if (applied_.rss_key) {
    if (std::string why = install_key(pid, applied_.rss_hash_types, c.rss.key); !why.empty()) {
      applied_.rss_key = false;
      if (auto r = problem(why); !r) return r;
    }
  }
  if (applied_.rss_key && c.rss.key.size() == rss::kKeySize) {
    rss::Key k;
    std::copy(c.rss.key.begin(), c.rss.key.end(), k.begin());
    rss_key_ = k;
  }

  rte_eth_dev_info dev{};
  if (int rc = rte_eth_dev_info_get(pid, &dev); rc != 0) {
    return problem("cannot read the RETA size: rte_eth_dev_info_get: " + dpdk_error(rc));
  }
  applied_.reta_size = dev.reta_size;
  // One queue needs no table: every hash lands on it.
  if (c.rx_queues < 2) return {};
  if (std::string why = program_reta(pid, dev.reta_size, c.rx_queues); !why.empty()) {
    return problem("cannot program the RSS redirection table round robin over " +
                   std::to_string(c.rx_queues) + " rx queues, so software cannot predict which " +
                   "queue a flow reaches: " + why);
  }
  applied_.reta_programmed = true;
  if (dev.reta_size < c.rx_queues) {
    applied_.notes.push_back(label + ": a RETA of " + std::to_string(dev.reta_size) +
                             " entries steers nothing to rx queues " +
                             std::to_string(dev.reta_size) + " and up");
  }
  return {};
}

std::optional<rss::Reta> DpdkDevice::reta() const {
  const std::size_t size = applied_.reta_size;
  const std::uint16_t queues = info_.rx_queues;
  if (!applied_.reta_programmed || size == 0 || size > rss::Reta::kMaxSize ||
      (size & (size - 1)) != 0 || queues == 0 || queues > size) {
    return std::nullopt;
  }
  return rss::Reta::round_robin(queues, size);
}

}  // namespace coronet::nic
