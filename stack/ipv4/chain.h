// Helpers for packets that may be chains (reassembled datagrams): trimming to a length and
// summing for the Internet checksum across segments.
#pragma once

#include <cstddef>

#include "nic/packet.h"
#include "nic/packet_pool.h"
#include "stack/net/checksum.h"

namespace coronet::stack {

// Cuts the chain starting at `p` to `len` bytes in total, freeing segments that fall entirely
// beyond it. Precondition: len <= p->chain_size() and len > 0 or p is a single segment.
inline void trim_chain(nic::Packet* p, std::size_t len) {
  for (nic::Packet* seg = p; seg != nullptr; seg = seg->next()) {
    if (len <= seg->size()) {
      seg->truncate(static_cast<std::uint32_t>(len));
      if (seg->next() != nullptr) {
        nic::PacketPool::free(seg->next());
        seg->set_next(nullptr);
      }
      return;
    }
    len -= seg->size();
  }
}

// Adds every byte of the chain to `c` (as one continuous range).
inline void add_chain(Checksum& c, const nic::Packet* p) {
  for (; p != nullptr; p = p->next()) c.add(p->bytes());
}

}  // namespace coronet::stack
