// The RSS redirection table (RETA, "indirection table" in ethtool): NICs take the low bits of a
// packet's Toeplitz hash as an index into this table, and the entry there is the receive queue.
// Sizes are powers of two; 128 entries is the classic size (Intel 82599, Microsoft's spec), 64 and
// 512 are common too.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

namespace coronet::nic::rss {

class Reta {
 public:
  static constexpr std::size_t kMaxSize = 512;
  static constexpr std::size_t kDefaultSize = 128;

  // The table NIC drivers install by default (Linux's ethtool_rxfh_indir_default, DPDK's examples):
  // entry i names queue i % num_queues, so the queues share the hash space as evenly as the size
  // allows. Throws std::invalid_argument for num_queues outside [1, size] or a size that is not a
  // power of two in [1, kMaxSize] (programmer errors, found at start-up).
  static Reta round_robin(std::uint16_t num_queues, std::size_t size = kDefaultSize) {
    check_size(size);
    if (num_queues == 0 || num_queues > size) {
      throw std::invalid_argument("rss::Reta: " + std::to_string(num_queues) +
                                  " queues cannot share " + std::to_string(size) + " entries");
    }
    Reta r;
    r.size_ = size;
    r.num_queues_ = num_queues;
    for (std::size_t i = 0; i < size; ++i)
      r.entries_[i] = static_cast<std::uint16_t>(i % num_queues);
    return r;
  }

  // An explicit table (as read back from a NIC, or weighted by hand). Throws
  // std::invalid_argument for a bad size or an entry naming a queue >= num_queues.
  Reta(std::span<const std::uint16_t> entries, std::uint16_t num_queues)
      : size_(entries.size()), num_queues_(num_queues) {
    check_size(size_);
    for (std::size_t i = 0; i < size_; ++i) {
      if (entries[i] >= num_queues) {
        throw std::invalid_argument("rss::Reta: entry " + std::to_string(i) + " names queue " +
                                    std::to_string(entries[i]) + " of only " +
                                    std::to_string(num_queues));
      }
      entries_[i] = entries[i];
    }
  }

  // The queue a packet with this RSS hash is steered to.
  std::uint16_t queue_of(std::uint32_t hash) const {
    return entries_[hash & static_cast<std::uint32_t>(size_ - 1)];
  }

  std::size_t size() const { return size_; }
  std::uint32_t mask() const { return static_cast<std::uint32_t>(size_ - 1); }
  std::uint16_t num_queues() const { return num_queues_; }
  std::span<const std::uint16_t> entries() const { return {entries_.data(), size_}; }

 private:
  Reta() = default;

  static void check_size(std::size_t size) {
    if (size == 0 || size > kMaxSize || (size & (size - 1)) != 0) {
      throw std::invalid_argument("rss::Reta: size " + std::to_string(size) +
                                  " is not a power of two in [1, 512]");
    }
  }

  std::array<std::uint16_t, kMaxSize> entries_{};
  std::size_t size_ = 0;
  std::uint16_t num_queues_ = 0;
};

}  // namespace coronet::nic::rss
