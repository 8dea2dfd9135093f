// Micro-benchmarks for BENCHMARKS.md that the other binaries do not cover: the Internet checksum
// and TCP input of one in-order data segment on an established connection.
//
// BM_TcpInputInOrder goes through the scripted peer of the TCP tests (tests/stack/tcp_script.h):
// each iteration builds a 1448-byte segment (header, timestamps, checksum), hands it to the
// engine's receive path (Ethernet, IPv4, TCP input: sequence and PAWS checks, the data into the
// connection's receive buffer, an ACK decision) and flushes what TCP sends; a reader empties the
// buffer every 64 segments. BM_TcpSegmentBuildOnly is the same frame construction without the
// stack, the baseline to read the first against (their difference is the stack's share).
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "stack/net/checksum.h"
#include "stack/tcp/header.h"
#include "tests/stack/tcp_script.h"

namespace {

using namespace coronet;
namespace flag = stack::tcp::flag;

void BM_Checksum(benchmark::State& state) {
  std::vector<std::byte> data(static_cast<std::size_t>(state.range(0)));
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(stack::internet_checksum(data));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Checksum)->Arg(64)->Arg(1460);

constexpr std::uint32_t kMss = 1448;

void BM_TcpInputInOrder(benchmark::State& state) {
  stack::tcp::TcpConfig cfg;
  cfg.recv_buffer = 4 << 20;
  testing::NegotiatedConnection n(cfg);
  std::vector<std::byte> payload(kMss, std::byte{0x5a});
  std::vector<std::byte> sink(kMss * 64);
  std::uint32_t seq = 1001;
  std::uint32_t ts = 200;
  std::uint64_t segments = 0;
  for (auto _ : state) {
    n.s.send(testing::Seg{.flags = flag::kAck,
                          .seq = seq,
                          .ack = n.iss + 1,
                          .payload = payload,
                          .options = testing::ts(ts, n.our_ts)},
             80);
    seq += kMss;
    ++ts;
    if (++segments % 64 == 0) {
      state.PauseTiming();
      std::size_t left = kMss * 64;
      while (left > 0) {
        auto r = n.s.v.reactor.block_on(n.conn.read(std::span(sink).first(left)));
        if (!r || *r == 0) break;
        left -= *r;
      }
      while (n.s.next_sent()) {
      }
      state.ResumeTiming();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * kMss);
}
BENCHMARK(BM_TcpInputInOrder);

// The frame construction BM_TcpInputInOrder does per segment, without the stack.
void BM_TcpSegmentBuildOnly(benchmark::State& state) {
  std::vector<std::byte> payload(kMss, std::byte{0x5a});
  std::uint32_t seq = 1001;
  for (auto _ : state) {
    stack::tcp::TcpHeader h;
    h.src_port = 40000;
    h.dst_port = 80;
    h.seq = stack::tcp::SeqNum(seq);
    h.ack = stack::tcp::SeqNum(1);
    h.flags = flag::kAck;
    h.window = 65535;
    h.options = testing::ts(seq, 1);
    const std::uint32_t hlen = stack::tcp::kMinHeader + stack::tcp::options_length(h.options);
    std::vector<std::byte> t(hlen + payload.size());
    stack::tcp::write_header(h, t);
    std::memcpy(t.data() + hlen, payload.data(), payload.size());
    benchmark::DoNotOptimize(stack::tcp::tcp_checksum(0xc6120001, 0xc6120002, t));
    seq += kMss;
  }
}
BENCHMARK(BM_TcpSegmentBuildOnly);

}  // namespace
