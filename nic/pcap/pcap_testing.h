// Test-only helpers for nic/pcap: an independent, strict reader for the files PcapWriter writes
// (so tests check the bytes on disk, not the writer against itself) and frame builders.
//
// The reader is deliberately separate code from the writer and checks what a careless writer gets
// wrong: both copies of pcapng block lengths, 32-bit padding, caplen <= len and <= snaplen.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "coro/result.h"
#include "nic/packet.h"
#include "nic/packet_pool.h"
#include "nic/pcap/pcap_writer.h"

namespace coronet::nic::testing {

struct CapturedFrame {
  std::uint64_t ts_ns = 0;
  std::uint32_t caplen = 0;
  std::uint32_t len = 0;
  std::vector<std::byte> data;  // caplen bytes
  PacketDirection dir = PacketDirection::kUnknown;
};

struct CaptureFile {
  PcapFormat format = PcapFormat::kPcapng;
  std::uint32_t snaplen = 0;
  std::uint16_t linktype = 0;
  bool nanosecond = false;  // classic: magic 0xa1b23c4d; pcapng: if_tsresol 9
  std::string user_appl;    // pcapng shb_userappl
  std::string if_name;      // pcapng if_name
  std::vector<CapturedFrame> frames;
};

namespace internal {

class Bytes {
 public:
  explicit Bytes(std::span<const std::byte> b) : b_(b) {}
  bool has(std::size_t off, std::size_t n) const {
    return off <= b_.size() && n <= b_.size() - off;
  }
  std::uint16_t u16(std::size_t off) const {
    return static_cast<std::uint16_t>(u8(off) | (u8(off + 1) << 8));
  }
  std::uint32_t u32(std::size_t off) const {
    return static_cast<std::uint32_t>(u16(off)) | (static_cast<std::uint32_t>(u16(off + 2)) << 16);
  }
  std::span<const std::byte> sub(std::size_t off, std::size_t n) const {
    return b_.subspan(off, n);
  }
  std::size_t size() const { return b_.size(); }

 private:
  unsigned u8(std::size_t off) const { return static_cast<unsigned>(b_[off]); }
  std::span<const std::byte> b_;
};

inline Error bad(const std::string& what) { return Error(Errc::kInvalidArgument, what); }

inline Result<CaptureFile> parse_classic(const Bytes& in, std::uint32_t magic) {
  CaptureFile f;
  f.format = PcapFormat::kPcap;
  f.nanosecond = magic == 0xa1b23c4d;
  if (!in.has(0, 24)) return bad("classic header truncated");
  if (in.u16(4) != 2 || in.u16(6) != 4) return bad("version is not 2.4");
  f.snaplen = in.u32(16);
  f.linktype = static_cast<std::uint16_t>(in.u32(20));
  for (std::size_t off = 24; off < in.size();) {
    if (!in.has(off, 16)) return bad("record header truncated at " + std::to_string(off));
    CapturedFrame fr;
    std::uint64_t sec = in.u32(off), frac = in.u32(off + 4);
    if (frac >= (f.nanosecond ? 1'000'000'000u : 1'000'000u)) return bad("fraction too large");
    fr.ts_ns = sec * 1'000'000'000 + (f.nanosecond ? frac : frac * 1000);
    fr.caplen = in.u32(off + 8);
    fr.len = in.u32(off + 12);
    if (fr.caplen > fr.len || fr.caplen > f.snaplen) return bad("caplen exceeds len or snaplen");
    if (!in.has(off + 16, fr.caplen)) return bad("record data truncated");
    auto d = in.sub(off + 16, fr.caplen);
    fr.data.assign(d.begin(), d.end());
    off += 16 + std::size_t{fr.caplen};
    f.frames.push_back(std::move(fr));
  }
  return f;
}

// Calls fn(code, value) for each option in [off, end); false if they do not end properly.
template <typename Fn>
bool parse_options(const Bytes& in, std::size_t off, std::size_t end, Fn&& fn) {
  while (off + 4 <= end) {
    std::uint16_t code = in.u16(off), len = in.u16(off + 2);
    if (code == 0) return len == 0 && off + 4 == end;  // opt_endofopt closes the list
    std::size_t padded = (len + 3u) & ~3u;
    if (off + 4 + padded > end) return false;
    for (std::size_t i = len; i < padded; ++i) {
      if (in.sub(off + 4 + i, 1)[0] != std::byte{0}) return false;
    }
    fn(code, in.sub(off + 4, len));
    off += 4 + padded;
  }
  return off == end;  // no options at all is fine too
}

inline std::string as_string(std::span<const std::byte> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

inline Result<CaptureFile> parse_pcapng(const Bytes& in) {
  CaptureFile f;
  f.format = PcapFormat::kPcapng;
  int interfaces = 0;
  std::uint64_t units_per_sec = 1'000'000;  // pcapng default without if_tsresol
  for (std::size_t off = 0; off < in.size();) {
    if (!in.has(off, 12)) return bad("block header truncated at " + std::to_string(off));
    std::uint32_t type = in.u32(off), len = in.u32(off + 4);
    if (len < 12 || len % 4 != 0 || !in.has(off, len)) return bad("bad block length");
    if (in.u32(off + len - 4) != len) return bad("trailing block length differs");
    const std::size_t body = off + 8, end = off + len - 4;
    if (type == 0x0A0D0D0A) {
      if (end - body < 16 || in.u32(body) != 0x1A2B3C4D) return bad("bad section header");
      if (in.u16(body + 4) != 1 || in.u16(body + 6) != 0) return bad("version is not 1.0");
      if (!parse_options(in, body + 16, end, [&](std::uint16_t code, auto v) {
            if (code == 4) f.user_appl = as_string(v);
          })) {
        return bad("bad section header options");
      }
    } else if (type == 1) {
      if (end - body < 8) return bad("interface block truncated");
      f.linktype = in.u16(body);
      f.snaplen = in.u32(body + 4);
      int tsresol = 6;
      if (!parse_options(in, body + 8, end, [&](std::uint16_t code, auto v) {
            if (code == 2) f.if_name = as_string(v);
            if (code == 9 && v.size() == 1) tsresol = static_cast<int>(v[0]);
          })) {
        return bad("bad interface options");
      }
      if (tsresol != 6 && tsresol != 9) return bad("this reader knows tsresol 6 and 9 only");
      f.nanosecond = tsresol == 9;
      units_per_sec = tsresol == 9 ? 1'000'000'000 : 1'000'000;
      ++interfaces;
    } else if (type == 6) {
      if (end - body < 20) return bad("packet block truncated");
      if (in.u32(body) >= static_cast<std::uint32_t>(interfaces)) return bad("unknown interface");
      CapturedFrame fr;
      std::uint64_t units = (std::uint64_t{in.u32(body + 4)} << 32) | in.u32(body + 8);
      fr.ts_ns = units * (1'000'000'000 / units_per_sec);
      fr.caplen = in.u32(body + 12);
      fr.len = in.u32(body + 16);
      if (fr.caplen > fr.len || fr.caplen > f.snaplen) return bad("caplen exceeds len or snaplen");
      const std::size_t data = body + 20, padded = (fr.caplen + 3u) & ~3u;
      if (data + padded > end) return bad("packet data overruns its block");
      auto d = in.sub(data, fr.caplen);
      fr.data.assign(d.begin(), d.end());
      if (!parse_options(in, data + padded, end, [&](std::uint16_t code, auto v) {
            if (code == 2 && v.size() == 4) {
              std::uint32_t flags = Bytes(v).u32(0);
              fr.dir = (flags & 3) == 1   ? PacketDirection::kInbound
                       : (flags & 3) == 2 ? PacketDirection::kOutbound
                                          : PacketDirection::kUnknown;
            }
          })) {
        return bad("bad packet options");
      }
      f.frames.push_back(std::move(fr));
    } else {
      return bad("unexpected block type " + std::to_string(type));
    }
    off += len;
  }
  return f;
}

}  // namespace internal

// Parses a whole capture (little-endian files only: the writer never writes anything else).
inline Result<CaptureFile> parse_capture(std::span<const std::byte> bytes) {
  internal::Bytes in(bytes);
  if (!in.has(0, 4)) return internal::bad("file shorter than a magic number");
  std::uint32_t magic = in.u32(0);
  if (magic == 0xa1b23c4d || magic == 0xa1b2c3d4) return internal::parse_classic(in, magic);
  if (magic == 0x0A0D0D0A) return internal::parse_pcapng(in);
  return internal::bad("unknown magic " + std::to_string(magic));
}

inline std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

inline Result<CaptureFile> read_capture(const std::string& path) {
  return parse_capture(read_file(path));
}

// A frame of `bytes` bytes whose content is a function of (seed, offset), so any misplaced or
// dropped byte shows.
inline std::vector<std::byte> pattern_frame(std::size_t bytes, std::uint8_t seed) {
  std::vector<std::byte> f(bytes);
  for (std::size_t i = 0; i < bytes; ++i) {
    f[i] = static_cast<std::byte>((i * 31 + seed * 7 + (i >> 8)) & 0xff);
  }
  return f;
}

// Copies `frame` into a chain from `pool`, `segment` bytes per packet at most (so a small
// segment forces chaining). Null if the pool runs out.
inline Packet* make_chain(PacketPool& pool, std::span<const std::byte> frame, std::size_t segment) {
  Packet* head = nullptr;
  Packet* tail = nullptr;
  std::size_t off = 0;
  do {
    Packet* p = pool.alloc();
    if (p == nullptr) {
      if (head != nullptr) PacketPool::free(head);
      return nullptr;
    }
    std::size_t n = std::min({segment, frame.size() - off, std::size_t{p->tailroom()}});
    p->append_bytes(frame.subspan(off, n));
    off += n;
    if (tail != nullptr) tail->set_next(p);
    if (head == nullptr) head = p;
    tail = p;
  } while (off < frame.size());
  return head;
}

// A unique path under the test's scratch directory.
inline std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

}  // namespace coronet::nic::testing
