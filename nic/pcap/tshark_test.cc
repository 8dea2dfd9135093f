// Wireshark's own reader parses what we write: tshark decodes hand-built ARP and IPv4/UDP frames
// from both formats, with the lengths, addresses, ARP opcodes, UDP ports, directions and
// nanosecond timestamps we wrote, and reports snaplen truncation as cap_len < len.
//
// Needs /usr/bin/tshark (tools/setup installs it). Reading a file needs no privileges and no
// network; HOME points into the test's scratch directory so tshark keeps its profile there.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "nic/packet_pool.h"
#include "nic/pcap/pcap_testing.h"
#include "nic/pcap/pcap_writer.h"

namespace coronet::nic {
namespace {

using namespace std::chrono_literals;

constexpr char kTshark[] = "/usr/bin/tshark";
constexpr std::array<std::uint8_t, 6> kMacA = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
constexpr std::array<std::uint8_t, 6> kMacB = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x02};
constexpr std::array<std::uint8_t, 6> kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr std::array<std::uint8_t, 4> kIpA = {198, 18, 0, 1};  // RFC 2544 benchmark range
constexpr std::array<std::uint8_t, 4> kIpB = {198, 18, 0, 2};

// Big-endian frame assembly (network byte order), only what these frames need.
class FrameBuilder {
 public:
  FrameBuilder& u8(std::uint8_t v) {
    b_.push_back(static_cast<std::byte>(v));
    return *this;
  }
  FrameBuilder& u16(std::uint16_t v) { return u8(static_cast<std::uint8_t>(v >> 8)).u8(v & 0xff); }
  template <std::size_t N>
  FrameBuilder& raw(const std::array<std::uint8_t, N>& a) {
    for (auto v : a) u8(v);
    return *this;
  }
  FrameBuilder& text(const std::string& s) {
    for (char c : s) u8(static_cast<std::uint8_t>(c));
    return *this;
  }
  FrameBuilder& pad_to(std::size_t n) {
    while (b_.size() < n) u8(0);
    return *this;
  }
  void put16(std::size_t at, std::uint16_t v) {
    b_[at] = static_cast<std::byte>(v >> 8);
    b_[at + 1] = static_cast<std::byte>(v & 0xff);
  }
  std::size_t size() const { return b_.size(); }
  const std::vector<std::byte>& bytes() const { return b_; }

 private:
  std::vector<std::byte> b_;
};

FrameBuilder& ethernet(FrameBuilder& f, const std::array<std::uint8_t, 6>& dst,
                       const std::array<std::uint8_t, 6>& src, std::uint16_t type) {
  return f.raw(dst).raw(src).u16(type);
}

// RFC 826 ARP for IPv4 over Ethernet, padded to the 60-byte Ethernet minimum.
std::vector<std::byte> arp(std::uint16_t opcode, const std::array<std::uint8_t, 6>& eth_dst,
                           const std::array<std::uint8_t, 6>& sha,
                           const std::array<std::uint8_t, 4>& spa,
                           const std::array<std::uint8_t, 6>& tha,
                           const std::array<std::uint8_t, 4>& tpa) {
  FrameBuilder f;
  ethernet(f, eth_dst, sha, 0x0806);
  f.u16(1).u16(0x0800).u8(6).u8(4).u16(opcode).raw(sha).raw(spa).raw(tha).raw(tpa);
  return f.pad_to(60).bytes();
}

// Ethernet + IPv4 (RFC 791, header checksum filled) + UDP (RFC 768, checksum 0 = none).
std::vector<std::byte> udp(std::uint16_t sport, std::uint16_t dport, std::size_t frame_len) {
  FrameBuilder f;
  ethernet(f, kMacB, kMacA, 0x0800);
  const std::size_t ip_len = frame_len - 14;
  f.u8(0x45).u8(0).u16(static_cast<std::uint16_t>(ip_len)).u16(0x1234).u16(0x4000);
  f.u8(64).u8(17).u16(0).raw(kIpA).raw(kIpB);
  std::uint32_t sum = 0;
  for (std::size_t i = 14; i < 34; i += 2) {
    sum += (static_cast<std::uint32_t>(f.bytes()[i]) << 8) |
           static_cast<std::uint32_t>(f.bytes()[i + 1]);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f.put16(24, static_cast<std::uint16_t>(~sum));
  f.u16(sport).u16(dport).u16(static_cast<std::uint16_t>(ip_len - 20)).u16(0);
  f.text("coronet pcap test ");
  for (std::size_t i = 0; f.size() < frame_len; ++i) f.u8(static_cast<std::uint8_t>('a' + i % 26));
  return f.bytes();
}

struct TsharkRun {
  int status = -1;
  std::vector<std::vector<std::string>> rows;  // one per frame, one cell per field
  std::string raw;
};

// Runs tshark on `path`, printing `fields` tab-separated, one line per frame.
TsharkRun tshark(const std::string& path, const std::vector<std::string>& fields) {
  std::string home = testing::temp_path("tshark-home");
  std::string cmd = "mkdir -p '" + home + "' && HOME='" + home + "' XDG_CONFIG_HOME='" + home +
                    "' " + kTshark + " -n -r '" + path + "' -T fields -E separator=/t";
  for (const auto& f : fields) cmd += " -e " + f;
  cmd += " 2>'" + testing::temp_path("tshark.stderr") + "'";
  TsharkRun run;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return run;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) run.raw.append(buf.data(), n);
  int st = ::pclose(p);
  run.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::size_t start = 0;
  while (start < run.raw.size()) {
    std::size_t end = run.raw.find('\n', start);
    if (end == std::string::npos) end = run.raw.size();
    std::vector<std::string> cells;
    std::string line = run.raw.substr(start, end - start);
    for (std::size_t c = 0;;) {
      std::size_t tab = line.find('\t', c);
      cells.push_back(line.substr(c, tab == std::string::npos ? std::string::npos : tab - c));
      if (tab == std::string::npos) break;
      c = tab + 1;
    }
    run.rows.push_back(std::move(cells));
    start = end + 1;
  }
  return run;
}

std::string tshark_stderr() {
  auto b = testing::read_file(testing::temp_path("tshark.stderr"));
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

class TsharkReads : public ::testing::TestWithParam<PcapFormat> {
 protected:
  void SetUp() override {
    if (::access(kTshark, X_OK) != 0) {
      FAIL() << kTshark << " is missing: run tools/setup (it installs the tshark package)";
    }
  }
  std::string path(const std::string& stem) const {
    return testing::temp_path(stem + (GetParam() == PcapFormat::kPcap ? ".pcap" : ".pcapng"));
  }
};

INSTANTIATE_TEST_SUITE_P(Formats, TsharkReads,
                         ::testing::Values(PcapFormat::kPcapng, PcapFormat::kPcap),
                         [](const auto& info) {
                           return std::string(info.param == PcapFormat::kPcap ? "pcap" : "pcapng");
                         });

TEST_P(TsharkReads, ArpAndUdpFramesWithLengthsAddressesOpcodesPortsAndTimes) {
  const std::string file = path("decoded");
  PacketPool pool({.name = "t", .count = 64, .buffer_size = 512, .headroom = 64});
  const auto request = arp(1, kBroadcast, kMacA, kIpA, {}, kIpB);
  const auto reply = arp(2, kMacA, kMacB, kIpB, kMacA, kIpA);
  const auto small = udp(40000, 9, 60);
  const auto large = udp(40001, 7, 1514);
  {
    auto w = PcapWriter::open(file, {.format = GetParam(), .interface_name = "wire0"});
    ASSERT_TRUE(w);
    const coro::TimePoint t0(1'700'000'000s);
    ASSERT_TRUE(w->write(std::span<const std::byte>(request), t0, PacketDirection::kOutbound));
    ASSERT_TRUE(w->write(std::span<const std::byte>(reply), t0 + 1ns, PacketDirection::kInbound));
    ASSERT_TRUE(w->write(std::span<const std::byte>(small), t0 + 2'000'000'007ns,
                         PacketDirection::kOutbound));
    Packet* chain = testing::make_chain(pool, large, 300);  // chained: 6 segments
    ASSERT_NE(chain, nullptr);
    ASSERT_TRUE(w->write(*chain, t0 + 3s + 999'999'999ns, PacketDirection::kInbound));
    PacketPool::free(chain);
    ASSERT_TRUE(w->close());
  }
  const bool ng = GetParam() == PcapFormat::kPcapng;
  TsharkRun r = tshark(
      file, {"frame.len", "frame.cap_len", "eth.src", "eth.dst", "eth.type", "arp.opcode",
             "udp.srcport", "udp.dstport", "frame.time_epoch", "frame.packet_flags_direction",
             "frame.interface_name", "_ws.malformed", "_ws.expert.severity"});
  ASSERT_EQ(r.status, 0) << tshark_stderr();
  ASSERT_EQ(r.rows.size(), 4u) << r.raw << tshark_stderr();
  // pcapng direction (epb_flags bits 0-1, shown as the flags word): 1 inbound, 2 outbound;
  // classic pcap has no such field. The last two columns stay empty unless tshark found the
  // frame malformed or raised an expert note (checksums, lengths).
  const std::string out = ng ? "0x00000002" : "", in = ng ? "0x00000001" : "",
                    name = ng ? "wire0" : "";
  const std::vector<std::vector<std::string>> want = {
      {"60", "60", "02:00:5e:10:00:01", "ff:ff:ff:ff:ff:ff", "0x0806", "1", "", "",
       "1700000000.000000000", out, name, "", ""},
      {"60", "60", "02:00:5e:10:00:02", "02:00:5e:10:00:01", "0x0806", "2", "", "",
       "1700000000.000000001", in, name, "", ""},
      {"60", "60", "02:00:5e:10:00:01", "02:00:5e:10:00:02", "0x0800", "", "40000", "9",
       "1700000002.000000007", out, name, "", ""},
      {"1514", "1514", "02:00:5e:10:00:01", "02:00:5e:10:00:02", "0x0800", "", "40001", "7",
       "1700000003.999999999", in, name, "", ""},
  };
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(r.rows[i], want[i]) << "frame " << i + 1 << ":\n" << r.raw;
  }
}

TEST_P(TsharkReads, SnaplenTruncationShowsAsCapLenBelowLen) {
  const std::string file = path("truncated");
  {
    auto w = PcapWriter::open(file, {.format = GetParam(), .snaplen = 64});
    ASSERT_TRUE(w);
    const auto large = udp(40002, 53, 1514);
    ASSERT_TRUE(w->write(std::span<const std::byte>(large), coro::TimePoint(1s)));
    ASSERT_TRUE(w->close());
  }
  TsharkRun r =
      tshark(file, {"frame.len", "frame.cap_len", "eth.type", "udp.srcport", "udp.dstport"});
  ASSERT_EQ(r.status, 0) << tshark_stderr();
  ASSERT_EQ(r.rows.size(), 1u) << r.raw;
  // The UDP header lies inside the 64 captured bytes, so it still decodes.
  EXPECT_EQ(r.rows[0], (std::vector<std::string>{"1514", "64", "0x0800", "40002", "53"}));
}

}  // namespace
}  // namespace coronet::nic
