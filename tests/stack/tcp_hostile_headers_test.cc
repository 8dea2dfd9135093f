// Hostile input against one coronet endpoint (the scripted bench of tcp_script.h), part one:
// malformed Ethernet/IPv4/TCP headers, segments to broadcast and multicast addresses, and bogus TCP
// options (zero or illegal lengths, window scale 200, tiny MSS, lying SACK blocks). Every test
// checks three things: the input is dropped or handled as the cited RFC says, a counter records
// it, and a victim connection established before the attack still carries data both ways,
// byte-exact and in order, afterwards. Part two: tcp_hostile_attacks_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "stack/net/bytes.h"
#include "tests/stack/tcp_hostile_helpers.h"

namespace coronet::testing::hostile {
namespace {

// =============================================================================================
// Malformed Ethernet / IPv4 / TCP headers. RFC 1122 §3.2.1 (and RFC 791 §3.1): a datagram whose
// header fails a check is silently discarded; RFC 9293 §3.1/§3.10.7 (MUST-2, MUST-3): so is a
// TCP segment with a bad checksum or a header that does not parse. "EVIL" data in these frames
// sits at RCV.NXT: had it been taken, the victim's next read would start with it.
// =============================================================================================

TEST(TcpHostile, BadIpv4HeaderChecksumIsDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  f[kIp + 10] ^= std::byte{0x5a};
  const auto before = v.s.tcp.stats().rx_segments;
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_checksum, 1u);
  EXPECT_EQ(v.s.tcp.stats().rx_segments, before);  // never reached TCP
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("bad IPv4 checksum");
}

// RFC 1122 §4.2.3.10: TCP is unicast only; a segment to a broadcast or multicast address is
// silently discarded: no SYN-ACK and no RST to a whole subnet. (Found by tests/fuzz/frame_fuzz:
// a segment to the subnet's broadcast address was answered with a RST.)
TEST(TcpHostile, SegmentsToABroadcastOrMulticastAddressAreDropped) {
  Victim v;
  for (const stack::Ipv4Address dst :
       {stack::Ipv4Address(198, 18, 0, 255), stack::Ipv4Address(255, 255, 255, 255),
        stack::Ipv4Address(224, 0, 0, 1)}) {
    // The victim's own 4-tuple (data at RCV.NXT), a SYN to the listening port, and a segment to
    // a closed port (which would otherwise get a RST).
    using Probe = std::pair<std::uint8_t, std::uint16_t>;  // flags, destination port
    for (const auto& [flags, port] : {Probe{flag::kAck | flag::kPsh, kPort}, Probe{flag::kSyn, kPort},
                                      Probe{flag::kAck, 81}}) {
      auto t = tcp_bytes(Seg{.flags = flags,
                             .seq = v.peer_nxt,
                             .ack = v.our_nxt,
                             .payload = flags == flag::kSyn ? std::vector<std::byte>{} : evil()});
      stack::store_be16(t.data() + 2, port);
      stack::store_be16(t.data() + 16, 0);
      stack::store_be16(t.data() + 16,
                        stack::tcp::tcp_checksum(TcpScript::kPeerAddr.raw(), dst.raw(), t));
      auto f = ip_frame(t);
      stack::store_be32(f.data() + kIp + 16, dst.raw());
      fix_ip_checksum(f);
      inject(v.s, f);
      EXPECT_EQ(v.s.pending_sent(), 0u) << dst.to_string() << " flags " << int{flags};
    }
  }
  // Multicast stops at IPv4 (no group joined, RFC 1112 level 0); the broadcasts reach TCP.
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_not_for_us, 3u);
  EXPECT_EQ(v.s.tcp.stats().rx_not_unicast, 6u);
  EXPECT_EQ(v.s.tcp.stats().tx_rst, 0u);
  v.check_alive("segments to broadcast addresses");
}

TEST(TcpHostile, BadTcpChecksumIsDropped) {
  Victim v;
  v.s.send(Seg{.flags = flag::kAck | flag::kPsh,
               .seq = v.peer_nxt,
               .ack = v.our_nxt,
               .payload = evil(),
               .corrupt_checksum = true},
           kPort);
  EXPECT_EQ(v.s.tcp.stats().rx_bad_checksum, 1u);
  EXPECT_EQ(v.s.pending_sent(), 0u);  // no ACK for a segment we cannot trust
  // A RST with a bad checksum at exactly RCV.NXT must not reset either.
  v.s.send(Seg{.flags = flag::kRst, .seq = v.peer_nxt, .corrupt_checksum = true}, kPort);
  EXPECT_EQ(v.s.tcp.stats().rx_bad_checksum, 2u);
  v.check_alive("bad TCP checksum");
}

TEST(TcpHostile, Ipv4TotalLengthBeyondTheFrameIsDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  stack::store_be16(f.data() + kIp + 2, static_cast<std::uint16_t>(f.size() - kEth + 100));
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_length, 1u);
  stack::store_be16(f.data() + kIp + 2, 0xffff);
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_length, 2u);
  v.check_alive("IPv4 total length > frame");
}

TEST(TcpHostile, Ipv4TotalLengthBelowTheHeaderIsDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  for (std::uint16_t len : {0, 1, 19}) {
    stack::store_be16(f.data() + kIp + 2, len);
    fix_ip_checksum(f);
    inject(v.s, f);
  }
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_length, 3u);
  v.check_alive("IPv4 total length < header");
}

// The total length governs, not the frame: bytes past it are padding (RFC 1122 §3.2.1 / the
// Ethernet minimum). A total length that cuts into the TCP header leaves a segment too short to
// parse; one that cuts the payload leaves a checksum that no longer matches.
TEST(TcpHostile, Ipv4TotalLengthCuttingTheSegmentIsCaughtByTcp) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  stack::store_be16(f.data() + kIp + 2, 20 + 12);  // 12 of the 20 TCP header bytes
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.tcp.stats().rx_malformed, 1u);
  stack::store_be16(f.data() + kIp + 2, 20 + 20 + 2);  // "EV" of "EVIL"
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.tcp.stats().rx_bad_checksum, 1u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("IPv4 total length cutting the segment");
}

TEST(TcpHostile, Ipv4HeaderLengthBelowFiveOrBeyondTheFrameIsDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  for (std::uint8_t ihl = 0; ihl < 5; ++ihl) {
    f[kIp] = static_cast<std::byte>(0x40 | ihl);
    fix_ip_checksum(f);
    inject(v.s, f);
  }
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_header_len, 5u);
  // IHL 15 (60 bytes) in a datagram of 20 + 24 bytes: the header would run past the data.
  f[kIp] = std::byte{0x4f};
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_truncated, 1u);
  // Version 6 in an IPv4 ethertype.
  f[kIp] = std::byte{0x65};
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_version, 1u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("bad IHL");
}

// RFC 1122 §3.2.1.8: IP options a host does not implement are skipped by the IHL; 40 bytes of
// nonsense options do not hide or corrupt the TCP segment behind them (a positive control for
// the IHL handling: the data arrives, counted as a datagram with options).
TEST(TcpHostile, Ipv4HeaderWithGarbageOptionsIsParsedByItsLength) {
  Victim v;
  const std::vector<std::byte> data = bytes_of("behind 40 bytes of IP options");
  auto seg = tcp_bytes(
      Seg{.flags = flag::kAck | flag::kPsh, .seq = v.peer_nxt, .ack = v.our_nxt, .payload = data});
  auto plain = ip_frame(seg);
  std::vector<std::byte> f(plain.size() + 40);
  std::memcpy(f.data(), plain.data(), kEth + 20);
  for (std::size_t i = 0; i < 40; ++i) f[kEth + 20 + i] = static_cast<std::byte>(0x80 + i);
  std::memcpy(f.data() + kEth + 60, seg.data(), seg.size());
  f[kIp] = std::byte{0x4f};
  stack::store_be16(f.data() + kIp + 2, static_cast<std::uint16_t>(60 + seg.size()));
  fix_ip_checksum(f, 60);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_with_options, 1u);
  v.peer_nxt += static_cast<std::uint32_t>(data.size());
  auto r = v.read(data.size());
  EXPECT_EQ(r->data, data);
  v.check_alive("IP options");
}

TEST(TcpHostile, TruncatedFramesAreDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  // An Ethernet runt: shorter than the 14-byte header.
  inject(v.s, std::vector<std::byte>(f.begin(), f.begin() + 10));
  EXPECT_EQ(v.s.engine.stats().rx_bad_ether, 1u);
  // The Ethernet header alone, and an IPv4 header cut at 12 bytes.
  inject(v.s, std::vector<std::byte>(f.begin(), f.begin() + kEth));
  inject(v.s, std::vector<std::byte>(f.begin(), f.begin() + kEth + 12));
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_truncated, 2u);
  // A datagram that ends inside the TCP header (total length consistent with the frame).
  const auto whole = evil_segment(v);
  auto g = ip_frame(std::span(whole).first(10));
  inject(v.s, g);
  EXPECT_EQ(v.s.tcp.stats().rx_malformed, 1u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("truncated frames");
}

// RFC 9293 §3.1: the data offset counts 32-bit words and is at least 5; one that points past the
// segment leaves nothing to parse. Both are dropped before any state is touched.
TEST(TcpHostile, TcpDataOffsetBelowFiveOrBeyondTheSegmentIsDropped) {
  Victim v;
  for (std::uint8_t off : {0, 1, 4, 6, 10, 15}) {
    auto seg = tcp_bytes(Seg{.flags = flag::kAck, .seq = v.peer_nxt, .ack = v.our_nxt});
    seg[12] = static_cast<std::byte>(off << 4);  // a 20-byte segment
    fix_tcp_checksum(seg);
    inject(v.s, ip_frame(seg));
  }
  // Offset 15 (60 bytes) over a 20-byte header with 4 bytes of data.
  auto seg = evil_segment(v);
  seg[12] = std::byte{0xf0};
  fix_tcp_checksum(seg);
  inject(v.s, ip_frame(seg));
  EXPECT_EQ(v.s.tcp.stats().rx_malformed, 7u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("bad data offset");
}

// =============================================================================================
// Bogus TCP options. RFC 9293 §3.1 (MUST-7) / RFC 1122 §4.2.2.5: "TCP MUST be prepared to handle
// an illegal option length (e.g., zero)". Parsing stops at the broken option (no loop, no read
// past the header), the segment itself is processed, and it is counted in rx_bad_options.
// =============================================================================================

struct OptionCase {
  const char* name;
  std::vector<std::uint8_t> options;  // a multiple of 4 bytes
  bool malformed;
};

TEST(TcpHostile, BrokenOptionListsEndParsingAndAreCounted) {
  const std::vector<OptionCase> cases = {
      {"zero-length unknown option", {0x42, 0, 1, 1}, true},
      {"zero-length MSS", {2, 0, 1, 1}, true},
      {"length 1", {0x42, 1, 0x42, 1}, true},
      {"length past the header", {8, 40, 1, 1}, true},
      {"length 255", {0x42, 255, 0, 0, 0, 0, 0, 0}, true},
      {"kind without a length byte", {1, 1, 1, 5}, true},
      {"MSS of length 3", {2, 3, 5, 0}, true},
      {"timestamp of length 6", {8, 6, 0, 0, 0, 1, 0, 0}, true},
      {"SACK of length 6", {5, 6, 0, 0, 0, 1, 0, 0}, true},
      // 40 bytes: NOP, NOP and an unknown option of 38 bytes, skipped by its length.
      {"40 bytes of unknown option",
       [] {
         std::vector<std::uint8_t> o(40, 0x77);
         o[0] = 1;
         o[1] = 1;
         o[2] = 0xfe;
         o[3] = 38;
         return o;
       }(),
       false},
      // 40 bytes of NOPs: legal, just long.
      {"40 NOPs", std::vector<std::uint8_t>(40, 1), false},
  };
  Victim v;
  std::uint64_t bad = 0;
  for (const OptionCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::byte> raw(c.options.size());
    std::transform(c.options.begin(), c.options.end(), raw.begin(),
                   [](std::uint8_t b) { return static_cast<std::byte>(b); });
    const std::vector<std::byte> data = bytes_of(std::string("data with ") + c.name);
    inject(v.s, ip_frame(tcp_bytes(Seg{.flags = flag::kAck | flag::kPsh,
                                       .seq = v.peer_nxt,
                                       .ack = v.our_nxt,
                                       .payload = data},
                                   raw)));
    if (c.malformed) ++bad;
    EXPECT_EQ(v.s.tcp.stats().rx_bad_options, bad);
    v.peer_nxt += static_cast<std::uint32_t>(data.size());
    auto r = v.read(data.size());
    EXPECT_EQ(r->data, data);  // the segment itself is good: its data arrives exactly
  }
  v.check_alive("broken option lists");
}

// RFC 7323 §2.3: a shift above 14 "SHOULD log the error but MUST use 14 instead". A peer window
// field of 1 then means 16384 bytes: what coronet puts in flight shows the shift used (200 taken
// literally would be undefined; 200 mod 32 = 8 would give 256 bytes; no scaling, 1 byte).
TEST(TcpHostile, WindowScale200IsClampedTo14AndTheConnectionWorks) {
  Victim v(TcpConfig{}, TcpOptions{.mss = 1460, .window_scale = 200});
  EXPECT_EQ(v.s.tcp.stats().rx_bad_options, 1u);
  ASSERT_TRUE(v.conn.set_no_delay(true).has_value());
  v.ack(1);  // 1 << 14 = 16384 bytes
  const auto data = pattern_bytes(40000);
  auto w = std::make_shared<WriteState>();
  v.s.v.reactor.spawn(write_task(v.conn, data, w));
  v.s.settle();
  // The first flight is cwnd-bound (10 segments); after its ACK, window-bound.
  std::vector<std::byte> first = v.receive(14600, 1);
  std::uint32_t in_flight = 0;
  std::vector<std::byte> p;
  while (auto h = v.s.next_sent(&p)) {
    EXPECT_EQ(h->seq.raw(), v.our_nxt + in_flight);
    in_flight += static_cast<std::uint32_t>(p.size());
    first.insert(first.end(), p.begin(), p.end());
  }
  EXPECT_LE(in_flight, 16384u);
  EXPECT_GT(in_flight, 16384u - 1460u);
  v.our_nxt += in_flight;
  // The rest, still through a 16 KiB window: 40000 bytes exactly.
  v.ack(1);
  std::vector<std::byte> rest = v.receive(40000 - first.size(), 1);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(first, data);
  ASSERT_TRUE(w->result.has_value());
  v.ack();
  v.check_alive("window scale 200");
}

// An MSS option of 0 or a few bytes: no division by zero, no empty segments, no 1-byte
// segments; coronet floors the MSS at 64 (counted) and the stream arrives exactly.
TEST(TcpHostile, TinyMssOnTheSynIsFlooredAndDataStillFlows) {
  for (std::uint16_t mss : {0, 1, 40}) {
    SCOPED_TRACE("MSS " + std::to_string(mss));
    Victim v(TcpConfig{}, TcpOptions{.mss = mss});
    EXPECT_EQ(v.s.tcp.stats().rx_bad_options, 1u);
    const auto data = pattern_bytes(1000);
    ASSERT_TRUE(v.write_now(data));
    std::size_t max_seg = 0;
    std::size_t min_seg = ~std::size_t{0};
    EXPECT_EQ(v.receive(data.size(), 65535, &max_seg, &min_seg), data);
    EXPECT_EQ(max_seg, 64u);
    EXPECT_GE(min_seg, 1000u % 64u);  // only the last segment is short
    v.check_alive("tiny MSS");
  }
}

// RFC 2018 §3 SACK blocks name data the receiver holds. Blocks that are empty, inverted, or that
// reach beyond SND.MAX (data never sent) cannot come from an honest peer: they are ignored whole
// (counted), so they neither mark data as delivered nor trigger a retransmission. Overlapping
// valid blocks merge, and a hole they prove lost is resent exactly once.
TEST(TcpHostile, BogusSackBlocksAreIgnoredAndValidOnesStillWork) {
  Victim v(TcpConfig{}, ts_sack_options(100));
  ASSERT_TRUE(v.ts_on);
  ASSERT_TRUE(v.conn.set_no_delay(true).has_value());
  const std::uint32_t mss = 1448;
  const auto data = pattern_bytes(5 * mss);
  ASSERT_TRUE(v.s.v.reactor.block_on(v.conn.write(data)).has_value());
  v.s.settle();
  v.drain();
  const std::uint32_t first = v.our_nxt;
  const std::uint32_t max = first + 5 * mss;
  auto sack_ack = [&](std::vector<SackBlock> blocks) {
    TcpOptions o = v.opts();
    o.sack_count = static_cast<std::uint8_t>(blocks.size());
    std::copy(blocks.begin(), blocks.end(), o.sack.begin());
    v.s.send(Seg{.flags = flag::kAck, .seq = v.peer_nxt, .ack = first, .options = o}, kPort);
  };
  // (With the timestamp option, at most three blocks fit the 40 option bytes.)
  sack_ack({{SeqNum(max + 1000), SeqNum(max + 5000)},        // unsent data
            {SeqNum(first + 2 * mss), SeqNum(first + mss)},  // inverted
            {SeqNum(first + mss), SeqNum(max + 1)}});        // runs past SND.MAX
  EXPECT_EQ(v.s.tcp.stats().sack_blocks_invalid, 3u);
  sack_ack({{SeqNum(first + mss), SeqNum(first + mss)},              // empty
            {SeqNum(max + 0x40000000u), SeqNum(max + 0x40001000u)},  // a quarter-space away
            {SeqNum(first + mss), SeqNum(first + 0x80000000u)}});    // half the space
  EXPECT_EQ(v.s.tcp.stats().sack_blocks_invalid, 6u);
  EXPECT_EQ(v.s.pending_sent(), 0u);  // nothing resent on the strength of lies
  EXPECT_EQ(v.s.tcp.stats().fast_retransmits, 0u);
  EXPECT_EQ(v.s.tcp.stats().rack_losses, 0u);
  // Overlapping valid blocks: the peer holds segments 2-4 (three blocks that overlap).
  // (A first block inside the second would be a D-SACK, RFC 2883 §4: not first here.)
  sack_ack({{SeqNum(first + mss), SeqNum(first + 3 * mss)},
            {SeqNum(first + 2 * mss), SeqNum(first + 4 * mss)},
            {SeqNum(first + mss + 100), SeqNum(first + 2 * mss)}});
  EXPECT_EQ(v.s.tcp.stats().sack_blocks_invalid, 6u);
  std::vector<std::byte> p;
  auto rx = v.s.next_sent(&p);
  ASSERT_TRUE(rx.has_value());
  EXPECT_EQ(rx->seq.raw(), first);  // the hole, and only the hole
  EXPECT_EQ(p, std::vector<std::byte>(data.begin(), data.begin() + mss));
  EXPECT_EQ(v.s.pending_sent(), 0u);  // nothing SACKed goes again
  EXPECT_EQ(v.s.tcp.stats().tx_retransmits, 1u);
  // The cumulative ACK for everything ends it.
  v.our_nxt = max;
  v.ack();
  v.check_alive("bogus SACK blocks");
}

}  // namespace
}  // namespace coronet::testing::hostile
