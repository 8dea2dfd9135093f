#include "tests/stack/tcp_script.h"

#include <gtest/gtest.h>

#include <cstring>

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"

namespace coronet::testing {

using stack::load_be16;
using stack::store_be16;
using stack::store_be32;

ScriptDevice::ScriptDevice(std::uint32_t buffers)
    : pool_(nic::PacketPoolConfig{.name = "script", .count = buffers, .buffer_size = 2048,
                                  .headroom = 128}) {
  info_.name = "script";
  info_.mac = kOurMac;
  info_.mtu = 1500;
}

std::size_t ScriptDevice::rx_burst(std::uint16_t, std::span<nic::Packet*> out) {
  std::size_t n = 0;
  while (n < out.size() && !rx_.empty()) {
    out[n++] = rx_.front();
    rx_.pop_front();
  }
  return n;
}

void ScriptDevice::inject(std::span<const std::byte> frame) {
  nic::Packet* p = pool_.alloc();
  p->append_bytes(frame);
  rx_.push_back(p);
}

std::size_t ScriptDevice::tx_burst(std::uint16_t, std::span<nic::Packet* const> pkts) {
  for (nic::Packet* p : pkts) {
    std::vector<std::byte> f(p->chain_size());
    p->copy_out(f);
    nic::PacketPool::free(p);
    // Answer ARP requests for the peer at once (RFC 826 reply), so tests see only TCP.
    if (f.size() >= 42 && load_be16(f.data() + 12) == 0x0806 && load_be16(f.data() + 20) == 1) {
      std::vector<std::byte> r(42);
      std::memcpy(r.data(), kOurMac.bytes().data(), 6);
      std::memcpy(r.data() + 6, kPeerMac.bytes().data(), 6);
      store_be16(r.data() + 12, 0x0806);
      store_be16(r.data() + 14, 1);       // Ethernet
      store_be16(r.data() + 16, 0x0800);  // IPv4
      r[18] = std::byte{6};
      r[19] = std::byte{4};
      store_be16(r.data() + 20, 2);  // reply
      std::memcpy(r.data() + 22, kPeerMac.bytes().data(), 6);
      std::memcpy(r.data() + 28, f.data() + 38, 4);  // sender IP = the address asked for
      std::memcpy(r.data() + 32, f.data() + 22, 6);  // target = the asker
      std::memcpy(r.data() + 38, f.data() + 28, 4);
      inject(r);
      continue;
    }
    sent.push_back(std::move(f));
  }
  return pkts.size();
}

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> v(s.size());
  if (!s.empty()) std::memcpy(v.data(), s.data(), s.size());  // (memcpy from null is UB)
  return v;
}

TcpScript::TcpScript(stack::tcp::TcpConfig config, std::uint32_t device_buffers)
    : dev(device_buffers),
      engine(v.reactor, dev,
             stack::EngineConfig{.address = kOurAddr, .prefix_len = 24}),
      tcp(engine, config) {}

void TcpScript::send_raw_tcp(std::span<const std::byte> tcp_bytes) {
  std::vector<std::byte> f(14 + 20 + tcp_bytes.size());
  std::memcpy(f.data(), ScriptDevice::kOurMac.bytes().data(), 6);
  std::memcpy(f.data() + 6, ScriptDevice::kPeerMac.bytes().data(), 6);
  store_be16(f.data() + 12, 0x0800);
  std::byte* ip = f.data() + 14;
  ip[0] = std::byte{0x45};
  store_be16(ip + 2, static_cast<std::uint16_t>(20 + tcp_bytes.size()));
  ip[8] = std::byte{64};
  ip[9] = std::byte{6};
  store_be32(ip + 12, kPeerAddr.raw());
  store_be32(ip + 16, kOurAddr.raw());
  std::uint16_t c = stack::internet_checksum({ip, 20});
  store_be16(ip + 10, c);
  std::memcpy(f.data() + 34, tcp_bytes.data(), tcp_bytes.size());
  dev.inject(f);
  settle();
}

void TcpScript::send(const Seg& s, std::uint16_t port) {
  stack::tcp::TcpHeader h;
  h.src_port = s.src_port != 0 ? s.src_port : kPeerPort;
  h.dst_port = port;
  h.seq = stack::tcp::SeqNum(s.seq);
  h.ack = stack::tcp::SeqNum(s.ack);
  h.flags = s.flags;
  h.window = s.window;
  h.options = s.options;
  std::uint32_t hlen = stack::tcp::kMinHeader + stack::tcp::options_length(h.options);
  std::vector<std::byte> t(hlen + s.payload.size());
  stack::tcp::write_header(h, t);
  if (!s.payload.empty()) std::memcpy(t.data() + hlen, s.payload.data(), s.payload.size());
  std::uint16_t c = stack::tcp::tcp_checksum(kPeerAddr.raw(), kOurAddr.raw(), t);
  if (s.corrupt_checksum) c ^= 0x1234;
  store_be16(t.data() + 16, c);
  send_raw_tcp(t);
}

void TcpScript::settle() { v.drain(); }

void TcpScript::advance(coro::Duration d) {
  v.clock.advance(d);
  settle();
}

std::size_t TcpScript::pending_sent() { return dev.sent.size(); }

std::optional<stack::tcp::TcpHeader> TcpScript::next_sent(std::vector<std::byte>* payload) {
  while (!dev.sent.empty()) {
    std::vector<std::byte> f = std::move(dev.sent.front());
    dev.sent.pop_front();
    if (f.size() < 34 || load_be16(f.data() + 12) != 0x0800) continue;
    std::size_t ihl = (static_cast<std::size_t>(f[14]) & 0xf) * 4;
    std::size_t total = load_be16(f.data() + 16);
    std::span<const std::byte> seg(f.data() + 14 + ihl, total - ihl);
    auto h = stack::tcp::parse_header(seg, nullptr);
    if (!h) continue;
    if (stack::tcp::tcp_checksum(kOurAddr.raw(), kPeerAddr.raw(), seg) != 0) {
      ADD_FAILURE() << "coronet sent a segment with a bad checksum";
    }
    if (payload != nullptr) {
      payload->assign(seg.begin() + h->header_len(), seg.end());
    }
    return h;
  }
  return std::nullopt;
}

TcpScript::Established TcpScript::establish(std::uint16_t port, stack::tcp::TcpOptions opts) {
  listener.emplace(*stack::tcp::listen(tcp, port));
  Seg syn{.flags = stack::tcp::flag::kSyn, .seq = 1000, .options = opts};
  send(syn, port);
  auto synack = next_sent();
  Established e;
  if (!synack) {
    ADD_FAILURE() << "no SYN-ACK";
    return e;
  }
  e.our_iss = synack->seq.raw();
  send(Seg{.flags = stack::tcp::flag::kAck, .seq = 1001, .ack = e.our_iss + 1}, port);
  auto c = v.reactor.block_on(listener->accept());
  if (!c) {
    ADD_FAILURE() << c.error().message();
    return e;
  }
  e.conn = std::move(*c);
  return e;
}

stack::tcp::TcpOptions ts_sack_options(std::uint32_t ts_val) {
  stack::tcp::TcpOptions o;
  o.mss = 1460;
  o.sack_permitted = true;
  o.ts_val = ts_val;
  o.ts_ecr = 0;
  return o;
}

stack::tcp::TcpOptions ts(std::uint32_t val, std::uint32_t ecr) {
  stack::tcp::TcpOptions o;
  o.ts_val = val;
  o.ts_ecr = ecr;
  return o;
}

NegotiatedConnection::NegotiatedConnection(stack::tcp::TcpConfig cfg, std::uint16_t port,
                                           coro::Duration rtt)
    : s(cfg) {
  namespace flag = stack::tcp::flag;
  s.listener.emplace(*stack::tcp::listen(s.tcp, port));
  s.send(Seg{.flags = flag::kSyn, .seq = 1000, .options = ts_sack_options(100)}, port);
  synack = s.next_sent();
  if (!synack) {
    ADD_FAILURE() << "no SYN-ACK";
    return;
  }
  iss = synack->seq.raw();
  our_ts = synack->options.ts_val.value_or(0);
  if (rtt.count() > 0) s.advance(rtt);
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = iss + 1, .options = ts(100, our_ts)}, port);
  auto c = s.v.reactor.block_on(s.listener->accept());
  if (c) {
    conn = std::move(*c);
  } else {
    ADD_FAILURE() << c.error().message();
  }
}

}  // namespace coronet::testing
