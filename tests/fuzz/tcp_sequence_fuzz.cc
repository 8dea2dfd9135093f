// Fuzz target (b) of issue 10: a sequence driver. The input decodes into steps against one
// coronet engine on virtual time: time passing, segments from the peer (in order, out of order,
// retransmitted, with SACK blocks, odd windows, stale timestamps, FIN, RST, SYN, arbitrary flags
// and numbers) and the application's actions (write, read, shutdown, close, abort). After every
// step the layer's invariants must hold (sequence spaces, buffer accounting, timers; see
// tcp_invariants.h), and every byte the app reads must be the peer's stream at that offset: the
// peer only ever sends its stream's true bytes, so a wrong byte is corruption in coronet.
// Input: [scenario] then steps of [op] [arguments...]; missing bytes read as zero.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "tests/fuzz/tcp_fuzz_bench.h"

namespace {

using namespace std::chrono_literals;
using coronet::Result;
using coronet::stack::tcp::Connection;
using coronet::stack::tcp::SeqNum;
using coronet::stack::tcp::TcpOptions;
using namespace coronet::testing::fuzz;
namespace flag = coronet::stack::tcp::flag;
namespace coro = coronet::coro;

class Input {
 public:
  Input(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool done() const { return i_ >= n_; }
  std::uint8_t u8() { return i_ < n_ ? d_[i_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() << 8 | u8()); }
  std::uint32_t u32() { return std::uint32_t{u16()} << 16 | u16(); }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t i_ = 0;
};

coro::Task<void> write_task(Connection* c, std::vector<std::byte> data) {
  (void)co_await c->write(data);
}
coro::Task<void> close_task(Connection* c) { (void)co_await c->close(); }

// Windows worth trying: closed, one byte, small, odd, full.
std::uint16_t window_of(std::uint8_t b) {
  switch (b & 7) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 536;
    case 3: return static_cast<std::uint16_t>(b) << 4;
    default: return 65535;
  }
}

void step(Bench& b, Input& in, bool* stale_ts) {
  const std::uint8_t op = in.u8() % 14;
  const std::uint32_t stream_base = b.peer_isn + 1;  // the peer's stream offset 0
  auto peer_segment = [&](std::uint8_t flags, std::uint32_t seq, std::uint32_t ack,
                          std::size_t len, std::uint16_t window, TcpOptions* o) {
    std::vector<std::byte> payload = b.peer_data(seq - stream_base, len);
    if (*stale_ts && b.ts_on && o == nullptr) {
      TcpOptions old = coronet::testing::ts(b.peer_ts - 0x10000, b.our_ts);
      b.peer_send(flags, seq, ack, payload, window, &old);
    } else {
      b.peer_send(flags, seq, ack, payload, window, o);
    }
  };
  switch (op) {
    case 0:  // time passes (timers fire at their deadlines)
      b.run_for(std::chrono::milliseconds(5) * (in.u8() + 1));
      break;
    case 1: {  // the peer's next bytes, in order
      const std::size_t len = in.u8() * 6u % 1461;
      peer_segment(flag::kAck | flag::kPsh, b.peer_nxt, b.our_max, len, 65535, nullptr);
      b.peer_nxt += static_cast<std::uint32_t>(len);
      break;
    }
    case 2: {  // bytes of the peer's stream elsewhere: ahead (out of order) or behind (again)
      const auto delta = static_cast<std::int16_t>(in.u16());
      const std::size_t len = in.u8() * 6u % 1461;
      peer_segment(flag::kAck, b.peer_nxt + static_cast<std::uint32_t>(delta), b.our_max, len,
                   window_of(in.u8()), nullptr);
      break;
    }
    case 3: {  // an ACK: all we sent or a little less, any window, up to 4 SACK blocks
      const std::uint8_t shape = in.u8();
      const std::uint32_t back = (shape & 3) == 0 ? in.u8() * 16u : 0;
      const std::uint32_t ack = b.our_max - back;
      TcpOptions o = b.ts_on ? coronet::testing::ts(++b.peer_ts, b.our_ts) : TcpOptions{};
      o.sack_count = static_cast<std::uint8_t>((shape >> 2) % 4);
      std::uint32_t left = b.our_max - in.u16();
      for (std::uint8_t i = 0; i < o.sack_count; ++i) {
        const std::uint32_t right = left + in.u8() * 16u + 1;
        o.sack[i] = {SeqNum(left), SeqNum(right)};
        left = right + in.u8() * 8u;
      }
      peer_segment(flag::kAck, b.peer_nxt, ack, 0, window_of(shape >> 4), &o);
      break;
    }
    case 4: {  // the app writes
      if (!b.conn.valid()) break;
      std::vector<std::byte> data(in.u8() * 64u + 1);
      for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i);
      b.s.v.reactor.spawn(write_task(&b.conn, std::move(data)));
      b.s.settle();
      b.absorb_sent();
      break;
    }
    case 5:  // the app reads what is there
      b.read_now();
      break;
    case 6:  // the app shuts down sending
      if (b.conn.valid()) (void)b.conn.shutdown();
      b.s.settle();
      b.absorb_sent();
      break;
    case 7:  // the app closes (waits for the FIN's ACK in the background)
      if (b.conn.valid()) b.s.v.reactor.spawn(close_task(&b.conn));
      b.s.settle();
      b.absorb_sent();
      break;
    case 8:  // the app aborts
      if (b.conn.valid()) b.conn.abort();
      b.s.settle();
      b.absorb_sent();
      break;
    case 9:  // the peer's FIN after its data
      peer_segment(flag::kAck | flag::kFin, b.peer_nxt, b.our_max, 0, 65535, nullptr);
      break;
    case 10: {  // RST: exact (0) or near the expected sequence number (RFC 5961 §3)
      const auto delta = static_cast<std::int8_t>(in.u8());
      peer_segment(flag::kRst | (in.u8() & 1 ? flag::kAck : 0),
                   b.peer_nxt + static_cast<std::uint32_t>(delta * 97), b.our_max, 0, 0, nullptr);
      break;
    }
    case 11: {  // SYN on the connection's 4-tuple (RFC 5961 §4), maybe with data
      const std::uint32_t seq = in.u8() & 1 ? b.peer_nxt : in.u32();
      TcpOptions o = coronet::testing::ts_sack_options(++b.peer_ts);
      b.peer_send(flag::kSyn, seq, 0, {}, 65535, &o);
      break;
    }
    case 12: {  // anything: flags, numbers anywhere, window, length
      const std::uint8_t flags = in.u8();
      const std::uint32_t seq = b.peer_nxt + in.u32();
      const std::uint32_t ack = b.our_max + in.u32();
      const std::size_t len = in.u8() * 6u % 1461;
      peer_segment(flags, seq, ack, len, in.u16(), nullptr);
      break;
    }
    case 13:  // the peer's timestamps go stale (PAWS, RFC 7323 §5) or fresh again
      *stale_ts = !*stale_ts;
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) return -1;
  Input in(data, size);
  const auto scenario = static_cast<Scenario>(in.u8() % static_cast<std::uint8_t>(Scenario::kCount));
  Bench b(scenario);
  bool stale_ts = false;
  for (int steps = 0; !in.done() && steps < 256; ++steps) {
    step(b, in, &stale_ts);
    b.check("after a step");
  }
  // The end: the peer acknowledges everything, the app reads, every timer gets its chance.
  b.peer_send(flag::kAck, b.peer_nxt, b.our_max, {}, 65535);
  b.read_now();
  b.check("after the final ACK");
  b.run_for(300s);
  b.check("after five minutes");
  b.finish();
  return 0;
}
