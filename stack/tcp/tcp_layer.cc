#include "stack/tcp/tcp_layer.h"

#include "nic/packet_pool.h"

namespace coronet::stack::tcp {

TcpLayer::TcpLayer(Engine& engine) : engine_(engine) { engine_.attach_tcp(this); }

TcpLayer::~TcpLayer() {
  if (engine_.tcp() == this) engine_.attach_tcp(nullptr);
}

// Until the state machine lands (issue 5), segments are counted and dropped.
void TcpLayer::input(nic::Packet* p, const IpRxInfo&) {
  ++stats_.rx_segments;
  ++stats_.rx_dropped;
  nic::PacketPool::free(p);
}

void TcpLayer::icmp_error(const IcmpErrorInfo&) { ++stats_.icmp_errors; }

void TcpLayer::flush() {}

}  // namespace coronet::stack::tcp
