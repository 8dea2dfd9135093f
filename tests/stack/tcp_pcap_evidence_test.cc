// Wireshark as an independent judge of coronet's TCP on the wire: two coronet hosts exchange a few
// megabytes in both directions at once over an in-memory link that loses, duplicates and reorders
// frames both ways; host A's device is wrapped in a CaptureDevice, so the capture holds every
// frame A sent (before the impairments) and every frame A received (after them), the way tcpdump
// on A's interface would. tshark then decodes the file with IP and TCP checksum validation and
// TCP sequence analysis on, and the test asserts:
//   - no malformed frame and no bad IPv4 or TCP checksum (and every checksum was verified);
//   - no expert item of severity Error on any frame (both hosts are coronet; nothing corrupts
//     frames on this link, so an Error anywhere is coronet's);
//   - two more checks that are violations on this capture though tshark does not call them
//     errors: no "ACKed segment that wasn't captured", and no data beyond the window the peer
//     had offered (computed here from tshark's seq/ack/window fields; see where they are checked);
//   - the capture is worth judging: thousands of frames, data in both directions, SACK-permitted
//     and timestamps on both SYNs, timestamps on every later segment, SACK blocks from both sides,
//     retransmissions seen.
// Other notes and warnings are expected on a lossy link and are printed, not asserted on. With
// tshark 4.0.17 (Debian 12) a run shows, from both senders: retransmissions, fast retransmissions,
// out-of-order segments, duplicate ACKs, window updates, the FINs; from B (whose frames are
// captured after the link) also "previous segment(s) not captured" and, depending on the stack's
// version, a few spurious retransmissions (the link's duplicates). Some versions end with one RST
// from A: a duplicated final ACK reaching A after its connection was gone, answered as RFC 9293
// §3.10.7.1 says (<SEQ=SEG.ACK><CTL=RST>, no timestamp: RFC 7323 §3.2 exempts RSTs).
// The payload is test pattern, so the server port is decoded as plain data: otherwise tshark's
// heuristic dissectors take some segments for Thrift and report errors about "Thrift" fields.
//
// The capture is $TEST_TMPDIR/tcp_pcap_evidence.pcapng; it is deleted when the test passes and
// its path printed when it fails. To look at it by hand (one command line):
//   tshark -2 -r FILE -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE
//          -o tcp.analyze_sequence_numbers:TRUE -d tcp.port==7100,data -q -z expert
//
// Needs /usr/bin/tshark (Debian package tshark, installed by tools/setup): fails, never skips,
// when it is missing. Reads a file only: no network, no privileges.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coro/when_all.h"
#include "nic/pcap/capture_device.h"
#include "nic/pcap/pcap_testing.h"
#include "nic/pcap/pcap_writer.h"
#include "nic/wire/wire.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kTshark[] = "/usr/bin/tshark";
constexpr std::uint16_t kPort = 7100;
constexpr std::uint64_t kBytesUp = 3u << 20;    // A -> B
constexpr std::uint64_t kBytesDown = 3u << 20;  // B -> A
constexpr std::uint64_t kSeedUp = 11;
constexpr std::uint64_t kSeedDown = 12;
// Small receive buffers, so that both senders are often limited by the offered window rather
// than by congestion control, and the window check below has edges to test against.
constexpr std::size_t kRecvBuffer = 24 * 1024;

// Wireshark's expert severities (epan/proto.h PI_*), as -T fields prints them.
constexpr long kSeverityError = 0x00800000;

nic::ImpairmentConfig lossy(std::uint64_t seed) {
  nic::ImpairmentConfig imp;
  imp.loss = 0.04;
  imp.duplicate = 0.02;
  imp.reorder = 0.04;
  imp.delay = 1ms;
  imp.seed = seed;
  return imp;
}

// What one host does: send its pattern and half-close, while reading the peer's pattern to EOF;
// then close (close() gives the handle up, like close(2), so it waits for the reader).
coro::Task<Result<std::uint64_t>> exchange(stack::tcp::Connection& c, std::uint64_t send_seed,
                                           std::uint64_t send_bytes, std::uint64_t recv_seed) {
  auto sender = [&]() -> coro::Task<Result<void>> {
    if (auto r = co_await send_pattern(c, send_seed, send_bytes); !r) co_return r;
    co_return c.shutdown();
  };
  auto [got, sent] = co_await coro::when_all(receive_pattern(c, recv_seed), sender());
  if (!sent) co_return sent.error();
  if (!got) co_return got.error();
  if (auto r = co_await c.close(); !r) co_return r.error();
  co_return got;
}

struct TsharkRun {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs tshark on `file` with checksum validation and sequence analysis on, two passes (so the
// analysis of a frame may use later frames, as the GUI does), with `args` appended.
TsharkRun tshark(const std::string& file, const std::string& args) {
  const std::string home = nic::testing::temp_path("tshark-home");
  const std::string err = nic::testing::temp_path("tshark.stderr");
  const std::string cmd = "mkdir -p '" + home + "' && HOME='" + home + "' XDG_CONFIG_HOME='" +
                          home + "' " + kTshark + " -n -2 -r '" + file +
                          "' -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE"
                          " -o tcp.analyze_sequence_numbers:TRUE -d tcp.port==" +
                          std::to_string(kPort) + ",data " + args + " 2>'" + err + "'";
  TsharkRun run;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return run;
  std::array<char, 65536> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) run.out.append(buf.data(), n);
  const int st = ::pclose(p);
  run.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  auto e = nic::testing::read_file(err);
  run.err.assign(reinterpret_cast<const char*>(e.data()), e.size());
  return run;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const std::size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

// The fields read per frame: kFields[i] is the column for Col i.
enum Col : std::size_t {
  kNumber,
  kIpSrc,
  kIpChecksum,   // 0 bad, 1 good, 2 unverified
  kTcpChecksum,  // the same
  kTcpLen,
  kSyn,
  kSackPerm,
  kTsval,
  kSackLeft,
  kRetransmission,
  kMalformed,
  kSeverity,  // one per expert item, '|'-joined
  kMessage,   // the same
  kAckLost,   // "ACKed segment that wasn't captured"
  kSeqRaw,
  kAckRaw,
  kAckFlag,
  kWindow,  // calculated (scaled) window
  kZeroWindowProbe,
  kRst,
  kColumns,
};
const std::vector<std::string> kFields = {
    "frame.number",
    "ip.src",
    "ip.checksum.status",
    "tcp.checksum.status",
    "tcp.len",
    "tcp.flags.syn",
    "tcp.options.sack_perm",
    "tcp.options.timestamp.tsval",
    "tcp.options.sack_le",
    "tcp.analysis.retransmission",
    "_ws.malformed",
    "_ws.expert.severity",
    "_ws.expert.message",
    "tcp.analysis.ack_lost_segment",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.flags.ack",
    "tcp.window_size",
    "tcp.analysis.zero_window_probe",
    "tcp.flags.reset",
};
static_assert(kColumns == 20);

struct Frame {
  std::vector<std::string> f;
  const std::string& operator[](Col c) const { return f[c]; }
  bool has(Col c) const { return !f[c].empty(); }
  bool flag(Col c) const { return f[c] == "1" || f[c] == "True"; }
  std::uint32_t u32(Col c) const {
    return static_cast<std::uint32_t>(std::stoul(f[c], nullptr, 0));
  }
};

struct Side {
  std::uint64_t frames = 0;
  std::uint64_t data_frames = 0;
  std::uint64_t syns = 0;
  std::uint64_t syns_with_sack_perm_and_ts = 0;
  std::uint64_t tcp_frames = 0;
  std::uint64_t non_rst_frames = 0;
  std::uint64_t non_rst_frames_with_ts = 0;
  std::uint64_t rsts = 0;
  std::uint64_t frames_with_sack_blocks = 0;
  std::uint64_t retransmissions = 0;
};

// Removes the varying parts of an expert message ("Duplicate ACK (#3)", sequence numbers) so
// messages group by kind.
std::string message_kind(const std::string& m) {
  std::string out;
  bool in_digits = false;
  for (char c : m) {
    const bool digit = c >= '0' && c <= '9';
    if (digit && !in_digits) out += 'N';
    if (!digit) out += c;
    in_digits = digit;
  }
  return out;
}

std::string severity_name(long s) {
  switch (s) {
    case 0x00100000:
      return "comment";
    case 0x00200000:
      return "chat";
    case 0x00400000:
      return "note";
    case 0x00600000:
      return "warning";
    case 0x00800000:
      return "ERROR";
    default:
      return "severity " + std::to_string(s);
  }
}

TEST(TcpPcapEvidence, LossyTransferBothWaysHasNoProtocolViolationsInTshark) {
  ASSERT_EQ(::access(kTshark, X_OK), 0)
      << kTshark << " is missing: run tools/setup (it installs the tshark package)";
  const std::string file = nic::testing::temp_path("tcp_pcap_evidence.pcapng");
  const auto t0 = std::chrono::steady_clock::now();

  // ---- the transfer, captured on host A's side ----
  nic::CaptureStats capture_stats;
  std::uint64_t a_retransmits = 0, b_retransmits = 0;
  {
    coro::testing::VirtualReactor v;
    nic::Wire wire(v.clock, end_config("a", 1, lossy(21)), end_config("b", 2, lossy(22)));
    auto writer = nic::PcapWriter::open(file, {.interface_name = "coronet-a"});
    ASSERT_TRUE(writer.has_value()) << writer.error().message();
    nic::CaptureDevice capture(wire.a(), *writer, v.clock);
    {
      // Hosts after the capture chain (they hold references into it), torn down before it.
      auto a =
          std::make_unique<SimHost>(v.reactor, capture, SimPair::kAddrA, stack::tcp::TcpConfig{});
      auto b =
          std::make_unique<SimHost>(v.reactor, wire.b(), SimPair::kAddrB, stack::tcp::TcpConfig{});
      // Suspended tasks hold connection handles: the reactor lets go of them before the hosts
      // go, on every path out of this scope (an ASSERT included).
      struct ShutdownFirst {
        coro::Reactor& r;
        ~ShutdownFirst() { r.shutdown(); }
      } shutdown_first{v.reactor};
      auto listener = stack::tcp::listen(b->tcp, kPort, {.buffers = {.recv = kRecvBuffer}});
      ASSERT_TRUE(listener.has_value()) << listener.error().message();
      auto server = [&]() -> coro::Task<Result<std::uint64_t>> {
        auto c = co_await listener->accept();
        if (!c) co_return c.error();
        co_return co_await exchange(*c, kSeedDown, kBytesDown, kSeedUp);
      };
      auto client = [&]() -> coro::Task<Result<std::uint64_t>> {
        auto c = co_await stack::tcp::connect(a->tcp, {SimPair::kAddrB, kPort},
                                              {.buffers = {.recv = kRecvBuffer}});
        if (!c) co_return c.error();
        co_return co_await exchange(*c, kSeedUp, kBytesUp, kSeedDown);
      };
      auto [at_b, at_a] = v.reactor.block_on(coro::when_all(server(), client()));
      ASSERT_TRUE(at_b.has_value()) << "B: " << at_b.error().message();
      ASSERT_TRUE(at_a.has_value()) << "A: " << at_a.error().message();
      EXPECT_EQ(*at_b, kBytesUp);
      EXPECT_EQ(*at_a, kBytesDown);
      a_retransmits = a->tcp.stats().tx_retransmits;
      b_retransmits = b->tcp.stats().tx_retransmits;
      const auto& ia = wire.a().tx_impairment_stats();
      const auto& ib = wire.b().tx_impairment_stats();
      std::printf(
          "link A->B: %llu frames, %llu lost, %llu duplicated, %llu reordered; "
          "B->A: %llu frames, %llu lost, %llu duplicated, %llu reordered\n"
          "retransmissions: A %llu, B %llu\n",
          static_cast<unsigned long long>(ia.submitted),
          static_cast<unsigned long long>(ia.dropped),
          static_cast<unsigned long long>(ia.duplicated),
          static_cast<unsigned long long>(ia.reordered),
          static_cast<unsigned long long>(ib.submitted),
          static_cast<unsigned long long>(ib.dropped),
          static_cast<unsigned long long>(ib.duplicated),
          static_cast<unsigned long long>(ib.reordered),
          static_cast<unsigned long long>(a_retransmits),
          static_cast<unsigned long long>(b_retransmits));
    }
    capture_stats = capture.capture_stats();
    ASSERT_TRUE(writer->close()) << "writing " << file;
  }
  EXPECT_GT(a_retransmits, 0u);
  EXPECT_GT(b_retransmits, 0u);
  EXPECT_EQ(capture_stats.not_captured, 0u);
  const auto t_transfer = std::chrono::steady_clock::now();

  // ---- tshark: per-frame fields ----
  std::string field_args = "-T fields -E separator=/t -E occurrence=a -E aggregator='|'";
  for (const auto& f : kFields) field_args += " -e " + f;
  const TsharkRun fields = tshark(file, field_args);
  ASSERT_EQ(fields.status, 0) << fields.err;
  std::vector<Frame> frames;
  for (const auto& line : split(fields.out, '\n')) {
    if (line.empty()) continue;
    Frame fr{split(line, '\t')};
    ASSERT_EQ(fr.f.size(), kFields.size()) << "unexpected tshark line: " << line;
    frames.push_back(std::move(fr));
  }

  const std::string ip_a = SimPair::kAddrA.to_string(), ip_b = SimPair::kAddrB.to_string();
  std::map<std::string, Side> sides;           // by ip.src
  std::map<std::string, std::uint64_t> kinds;  // "src severity: message kind" -> count
  std::uint64_t ip_frames = 0, tcp_frames = 0;
  std::optional<std::uint32_t> edge_a, edge_b;  // highest right edge each host offered
  std::uint64_t window_checked = 0;             // data segments checked against such an edge
  std::uint64_t window_full = 0;                // of those, ending exactly at the edge
  std::vector<std::string> violations;
  for (const Frame& fr : frames) {
    const std::string& src = fr[kIpSrc];
    const std::string who = src.empty() ? "non-IP" : src == ip_a ? "A" : src == ip_b ? "B" : src;
    auto violation = [&](const std::string& what) {
      if (violations.size() < 50) {
        violations.push_back("frame " + fr[kNumber] + " (from " + who + "): " + what);
      }
    };
    if (fr.has(kMalformed)) violation("malformed");
    if (fr.has(kIpChecksum)) {
      ++ip_frames;
      if (fr[kIpChecksum] != "1")
        violation("IPv4 checksum status " + fr[kIpChecksum] + " (1 = good)");
    }
    if (fr.has(kTcpChecksum)) {
      ++tcp_frames;
      if (fr[kTcpChecksum] != "1")
        violation("TCP checksum status " + fr[kTcpChecksum] + " (1 = good)");
    }
    const auto severities = split(fr[kSeverity], '|');
    const auto messages = split(fr[kMessage], '|');
    if (fr.has(kSeverity)) {
      for (std::size_t i = 0; i < severities.size(); ++i) {
        const long sev = std::stol(severities[i], nullptr, 0);
        const std::string msg = i < messages.size() ? messages[i] : "?";
        ++kinds[who + " " + severity_name(sev) + ": " + message_kind(msg)];
        if (sev >= kSeverityError) violation("expert " + severity_name(sev) + ": " + msg);
      }
    }
    // Two things tshark files as warnings (or does not check) that are violations on this
    // capture. Every frame A sent is in it, and every frame A received (captured on the way in):
    // so the capture holds everything either host knew about its peer's sequence space and
    // windows. Hence (1) no host can rightly acknowledge bytes the capture lacks; (2) no data may
    // reach beyond the highest right edge (ack + window) the receiver had sent so far, except a
    // zero-window probe (RFC 9293 §3.8.6.1).
    if (fr.has(kAckLost)) violation("acknowledges a segment that was never captured");
    if (fr.has(kTcpChecksum) && (who == "A" || who == "B")) {
      const bool from_a = who == "A";
      auto& own_edge = from_a ? edge_a : edge_b;
      const auto& peer_edge = from_a ? edge_b : edge_a;
      const std::uint32_t len = fr.u32(kTcpLen);
      if (len > 0 && peer_edge && !fr.has(kZeroWindowProbe)) {
        const std::uint32_t end = fr.u32(kSeqRaw) + len;
        const auto beyond = static_cast<std::int32_t>(end - *peer_edge);
        ++window_checked;
        if (beyond == 0) ++window_full;
        if (beyond > 0) {
          violation("data ends " + std::to_string(beyond) +
                    " bytes beyond the window the peer offered (raw seq end " +
                    std::to_string(end) + ", right edge " + std::to_string(*peer_edge) + ")");
        }
      }
      if (fr.flag(kAckFlag)) {
        const std::uint32_t e = fr.u32(kAckRaw) + fr.u32(kWindow);
        if (!own_edge || static_cast<std::int32_t>(e - *own_edge) > 0) own_edge = e;
      }
    }
    if (src.empty()) continue;
    Side& s = sides[src];
    ++s.frames;
    if (!fr.has(kTcpChecksum)) continue;
    ++s.tcp_frames;
    if (fr.has(kTcpLen) && fr[kTcpLen] != "0") ++s.data_frames;
    if (fr.flag(kSyn)) {
      ++s.syns;
      if (fr.has(kSackPerm) && fr.has(kTsval)) ++s.syns_with_sack_perm_and_ts;
    }
    if (fr.flag(kRst)) {
      ++s.rsts;
    } else {
      ++s.non_rst_frames;
      if (fr.has(kTsval)) ++s.non_rst_frames_with_ts;
    }
    if (fr.has(kSackLeft)) ++s.frames_with_sack_blocks;
    if (fr.has(kRetransmission)) ++s.retransmissions;
  }

  // ---- tshark: its own expert summary, for the log ----
  const TsharkRun expert = tshark(file, "-q -z expert");
  EXPECT_EQ(expert.status, 0) << expert.err;
  const auto t_end = std::chrono::steady_clock::now();

  std::printf(
      "capture %s: %zu frames (%llu captured rx, %llu tx), %llu IPv4, %llu TCP\n", file.c_str(),
      frames.size(), static_cast<unsigned long long>(capture_stats.rx_captured),
      static_cast<unsigned long long>(capture_stats.tx_captured),
      static_cast<unsigned long long>(ip_frames), static_cast<unsigned long long>(tcp_frames));
  for (const auto& [src, s] : sides) {
    std::printf(
        "  from %s (%s): %llu frames, %llu TCP, %llu with data, %llu SYN (%llu with SACK-permitted "
        "+ timestamps), %llu RST, %llu of %llu others with timestamps, %llu with SACK blocks, "
        "%llu retransmissions\n",
        src.c_str(), src == ip_a ? "A, sent" : "B, received",
        static_cast<unsigned long long>(s.frames), static_cast<unsigned long long>(s.tcp_frames),
        static_cast<unsigned long long>(s.data_frames), static_cast<unsigned long long>(s.syns),
        static_cast<unsigned long long>(s.syns_with_sack_perm_and_ts),
        static_cast<unsigned long long>(s.rsts),
        static_cast<unsigned long long>(s.non_rst_frames_with_ts),
        static_cast<unsigned long long>(s.non_rst_frames),
        static_cast<unsigned long long>(s.frames_with_sack_blocks),
        static_cast<unsigned long long>(s.retransmissions));
  }
  std::printf(
      "window check: %llu data segments against the peer's offered right edge, %llu "
      "filling it exactly\n",
      static_cast<unsigned long long>(window_checked),
      static_cast<unsigned long long>(window_full));
  std::printf("expert items by sender, severity and kind:\n");
  for (const auto& [k, n] : kinds) {
    std::printf("  %6llu  %s\n", static_cast<unsigned long long>(n), k.c_str());
  }
  std::string summary;  // tshark's table, one "Duplicate ACK (#n)" row per n folded away
  for (const auto& line : split(expert.out, '\n')) {
    if (line.find("Duplicate ACK (#") == std::string::npos) summary += line + "\n";
  }
  std::printf("tshark -z expert (Duplicate ACK rows left out):\n%s\n", summary.c_str());
  std::printf("time: transfer %.2f s, tshark %.2f s\n",
              std::chrono::duration<double>(t_transfer - t0).count(),
              std::chrono::duration<double>(t_end - t_transfer).count());

  // ---- the verdict ----
  // tshark's summary lists an "Errors (n)" section only when there are errors.
  EXPECT_EQ(expert.out.find("Errors ("), std::string::npos) << expert.out;
  EXPECT_TRUE(violations.empty()) << [&] {
    std::string all;
    for (const auto& v : violations) all += "  " + v + "\n";
    return "tshark found protocol violations:\n" + all;
  }();

  // ---- the capture is worth judging ----
  const std::uint64_t min_segments = (kBytesUp + kBytesDown) / 1460;
  EXPECT_EQ(frames.size(), capture_stats.rx_captured + capture_stats.tx_captured);
  EXPECT_GT(tcp_frames, min_segments);
  EXPECT_GT(window_checked, min_segments / 2);
  ASSERT_EQ(sides.count(ip_a), 1u) << "no frame from A in the capture";
  ASSERT_EQ(sides.count(ip_b), 1u) << "no frame from B in the capture";
  for (const auto& [src, s] : sides) {
    SCOPED_TRACE("frames from " + src);
    EXPECT_GT(s.data_frames, kBytesUp / 1460 / 2);  // both directions carried data (minus loss)
    EXPECT_GE(s.syns, 1u);                          // SYN from A, SYN-ACK from B
    EXPECT_EQ(s.syns_with_sack_perm_and_ts, s.syns);
    // RFC 7323 §3.2: once both SYNs carried it, TSopt goes on every segment but RSTs.
    EXPECT_EQ(s.non_rst_frames_with_ts, s.non_rst_frames);
    EXPECT_GT(s.frames_with_sack_blocks, 0u);
  }
  EXPECT_GT(sides[ip_a].retransmissions, 0u);  // A's capture shows all of A's retransmissions

  if (HasFailure()) {
    std::printf("capture kept: %s\n", file.c_str());
  } else {
    ::unlink(file.c_str());
  }
}

}  // namespace
}  // namespace coronet::testing
