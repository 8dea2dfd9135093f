#include "nic/rss/port_selector.h"

namespace coronet::nic::rss {

PortSelector::PortSelector(const Toeplitz& hash, const Reta& reta)
    : hash_(&hash), mask_(reta.mask()), num_queues_(reta.num_queues()) {
  // Two counting sorts: RETA indices by queue, low port values by the RETA index they reach.
  const auto table = reta.entries();
  for (std::uint16_t queue : table) ++queue_start_[queue + 1u];
  for (std::size_t q = 0; q < num_queues_; ++q) queue_start_[q + 1] += queue_start_[q];
  std::array<std::uint16_t, Reta::kMaxSize + 1> fill = queue_start_;
  for (std::size_t i = 0; i < table.size(); ++i) {
    entries_by_queue_[fill[table[i]]++] = static_cast<std::uint16_t>(i);
  }

  std::array<std::uint16_t, kBlockSize> index_of{};
  for (std::uint32_t low = 0; low < kBlockSize; ++low) {
    index_of[low] =
        static_cast<std::uint16_t>(hash.port_part(10, static_cast<std::uint16_t>(low)) & mask_);
    ++index_start_[index_of[low] + 1u];
  }
  for (std::size_t i = 0; i < reta.size(); ++i) index_start_[i + 1] += index_start_[i];
  fill = index_start_;
  for (std::uint32_t low = 0; low < kBlockSize; ++low) {
    lows_by_index_[fill[index_of[low]]++] = static_cast<std::uint16_t>(low);
  }
}

}  // namespace coronet::nic::rss
