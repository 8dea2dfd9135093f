#include "stack/engine.h"

#include <stdexcept>
#include <string>

#include "nic/packet_pool.h"
#include "stack/ether/ether.h"

namespace coronet::stack {

namespace {

EngineConfig validated(EngineConfig c, const nic::Device& device) {
  if (c.address.is_any() || c.address.is_broadcast() || c.address.is_multicast()) {
    throw std::invalid_argument("Engine: address must be a unicast address, got " +
                                c.address.to_string());
  }
  if (c.queue >= device.info().rx_queues || c.queue >= device.info().tx_queues) {
    throw std::invalid_argument("Engine: device has no queue " + std::to_string(c.queue));
  }
  if (c.rx_burst == 0 || c.rx_burst > Engine::kMaxBurst) {
    throw std::invalid_argument("Engine: rx_burst must be in [1, " +
                                std::to_string(Engine::kMaxBurst) + "]");
  }
  return c;
}

}  // namespace

Engine::Engine(coro::Reactor& reactor, nic::Device& device, EngineConfig config)
    : reactor_(reactor),
      device_(device),
      config_(validated(std::move(config), device)),
      link_(device, config_.queue),
      arp_(reactor, link_, config_.address, config_.arp),
      ipv4_(reactor, link_, arp_,
            ipv4::Addressing{config_.address, config_.prefix_len, config_.gateway}, config_.ip),
      icmp_(reactor, link_, ipv4_, config_.icmp),
      udp_(link_, ipv4_, icmp_, config_.udp) {
  arp_.set_failure_handler(&Engine::on_arp_failure, this);
  ipv4_.reassembler().set_timeout_handler(&Engine::on_reassembly_timeout, this);
  reactor_.add_poll_source(this);
  if (config_.announce_on_start) arp_.announce();  // sent with the first flush
}

Engine::~Engine() {
  reactor_.remove_poll_source(this);
  for (std::size_t i = 0; i < tcp_count_; ++i) nic::PacketPool::free(tcp_batch_[i].packet);
  tcp_count_ = 0;
}

void Engine::attach_tcp(std::nullptr_t) {
  // TCP is going away: segments it has not seen yet are dropped (counted as no transport).
  for (std::size_t i = 0; i < tcp_count_; ++i) nic::PacketPool::free(tcp_batch_[i].packet);
  rx_no_transport_ += tcp_count_;
  tcp_count_ = 0;
  tcp_ = nullptr;
  tcp_hooks_ = nullptr;
}

EngineStats Engine::stats() const {
  const ether::LinkStats& l = link_.stats();
  const ipv4::Ipv4Stats& ip = ipv4_.stats();
  EngineStats s;
  s.rx_frames = l.rx_frames;
  s.rx_bad_ether = l.rx_runt + l.rx_unknown_type + l.rx_bad_source;
  s.rx_not_for_us = l.rx_not_for_us + ip.rx_not_for_us;
  s.rx_no_transport = rx_no_transport_;
  s.tx_frames = l.tx_frames;
  s.tx_no_buffer = l.tx_no_buffer;
  s.tx_device_full = l.tx_device_full;
  s.tx_no_route = ip.tx_no_route;
  return s;
}

nic::Packet* Engine::alloc_tx() { return link_.alloc(kLinkAndIpHeadroom); }

Result<void> Engine::ip_send(nic::Packet* p, Ipv4Address dst, std::uint8_t protocol,
                             IpSendOptions options) {
  return ipv4_.send(p, dst, protocol, options);
}

Result<void> Engine::send_gratuitous_arp() {
  if (!arp_.announce()) return Error(Errc::kNoBufferSpace, "no buffer for a gratuitous ARP");
  return {};
}

bool Engine::poll() {
  const std::size_t n =
      device_.rx_burst(config_.queue, std::span<nic::Packet*>(rx_.data(), config_.rx_burst));
  link_.stats().rx_frames += n;
  for (std::size_t i = 0; i < n; ++i) process_frame(rx_[i]);
  // Datagrams we sent to ourselves since the last poll (not those this pass loops back).
  std::size_t looped = ipv4_.loopback_pending();
  for (std::size_t i = 0; i < looped; ++i) deliver(ipv4_.input(ipv4_.pop_loopback(), false));
  deliver_tcp_batch();
  if (tcp_ != nullptr) tcp_hooks_->flush(tcp_);
  const std::size_t sent = link_.flush();
  return n > 0 || looped > 0 || sent > 0;
}

std::optional<coro::TimePoint> Engine::next_event() const {
  // Frames queued by timers or coroutines since the last poll, or looped-back datagrams: the
  // next iteration has work without the device.
  if (link_.pending() > 0 || ipv4_.loopback_pending() > 0) return reactor_.now();
  return device_.next_rx_time(config_.queue);
}

void Engine::process_frame(nic::Packet* frame) {
  const ether::RxClass c = ether::classify(frame->bytes(), link_.mac());
  ether::LinkStats& ls = link_.stats();
  switch (c.kind) {
    case ether::RxKind::kArp:
      frame->trim_front(ether::kHeaderLen);
      arp_.input(frame);
      return;
    case ether::RxKind::kIpv4:
      frame->trim_front(ether::kHeaderLen);
      deliver(ipv4_.input(frame, c.broadcast));
      return;
    case ether::RxKind::kRunt:
      ++ls.rx_runt;
      break;
    case ether::RxKind::kUnknownType:
      ++ls.rx_unknown_type;
      break;
    case ether::RxKind::kNotForUs:
      ++ls.rx_not_for_us;
      break;
    case ether::RxKind::kBadSource:
      ++ls.rx_bad_source;
      break;
  }
  nic::PacketPool::free(frame);
}

void Engine::deliver(ipv4::Delivery d) {
  if (d.packet == nullptr) return;
  switch (d.info.protocol) {
    case kProtoUdp:
      udp_.input(d.packet, d.info);
      return;
    case kProtoIcmp:
      if (std::optional<icmp::ErrorReport> r = icmp_.input(d.packet, d.info)) deliver_error(*r);
      return;
    case kProtoTcp:
      if (tcp_ != nullptr) {
        if (tcp_count_ == tcp_batch_.size()) deliver_tcp_batch();
        tcp_batch_[tcp_count_++] = TcpRx{d.packet, d.info};
        return;
      }
      break;
    default:
      break;
  }
  // RFC 1122 §3.2.2.1: a host SHOULD report a transport protocol it does not have.
  ++rx_no_transport_;
  icmp_.send_error(icmp::kDestUnreachable, icmp::kCodeProtocolUnreachable, *d.packet, d.info);
  nic::PacketPool::free(d.packet);
}

void Engine::deliver_tcp_batch() {
  if (tcp_count_ == 0) return;
  const std::size_t n = tcp_count_;
  tcp_count_ = 0;
  tcp_hooks_->input(tcp_, std::span<const TcpRx>(tcp_batch_.data(), n));
}

void Engine::deliver_error(const icmp::ErrorReport& report) {
  if (report.protocol == kProtoUdp) {
    udp_.icmp_error(report);
  } else if (report.protocol == kProtoTcp && tcp_ != nullptr) {
    deliver_tcp_batch();  // segments that arrived before the error go first
    tcp_hooks_->icmp_error(tcp_, report);
  }
}

void Engine::on_arp_failure(void* self, nic::Packet* p) {
  auto* e = static_cast<Engine*>(self);
  // RFC 1122 §2.3.2.2 / §3.3.1.4: tell the transport the host did not answer, the way an ICMP
  // host unreachable would.
  if (std::optional<icmp::ErrorReport> r = icmp::parse_quoted(p->bytes(), e->address())) {
    r->type = icmp::kDestUnreachable;
    r->code = icmp::kCodeHostUnreachable;
    r->local_origin = true;
    e->deliver_error(*r);
  }
  nic::PacketPool::free(p);
}

void Engine::on_reassembly_timeout(void* self, nic::Packet* first) {
  auto* e = static_cast<Engine*>(self);
  // RFC 792: Time Exceeded, code 1 "fragment reassembly time exceeded".
  e->icmp_.send_error_about(icmp::kTimeExceeded, icmp::kCodeReassemblyTimeExceeded, first->bytes(),
                            false);
  nic::PacketPool::free(first);
}

}  // namespace coronet::stack
