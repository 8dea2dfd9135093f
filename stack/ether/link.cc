#include "stack/ether/link.h"

#include <span>

namespace coronet::stack::ether {

Link::Link(nic::Device& device, std::uint16_t queue)
    : device_(device),
      pool_(device.pool(queue)),
      queue_(queue),
      mac_(device.info().mac),
      mtu_(device.info().mtu),
      offloads_(device.info().offloads) {}

Link::~Link() {
  nic::PacketPool::free_bulk(std::span<nic::Packet* const>(batch_.data(), count_));
  count_ = 0;
}

nic::Packet* Link::alloc(std::uint32_t headroom) {
  nic::Packet* p = pool_.alloc();
  if (p == nullptr) {
    ++stats_.tx_no_buffer;
    return nullptr;
  }
  if (p->headroom() < headroom) p->reset(headroom);
  return p;
}

void Link::send(nic::Packet* frame) {
  if (count_ == batch_.size()) flush();
  batch_[count_++] = frame;
}

std::size_t Link::flush() {
  if (count_ == 0) return 0;
  const std::size_t n = count_;
  count_ = 0;
  const std::size_t sent =
      device_.tx_burst(queue_, std::span<nic::Packet* const>(batch_.data(), n));
  stats_.tx_frames += sent;
  if (sent < n) {
    // Device ownership rule (nic/device.h): what tx_burst did not take is still ours.
    stats_.tx_device_full += n - sent;
    nic::PacketPool::free_bulk(std::span<nic::Packet* const>(batch_.data() + sent, n - sent));
  }
  return sent;
}

}  // namespace coronet::stack::ether
