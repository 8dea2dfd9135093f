#include "nic/pcap/pcap_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>

namespace coronet::nic {
namespace {

// Classic pcap (libpcap's savefile format): magic 0xa1b23c4d says "timestamps in nanoseconds".
constexpr std::uint32_t kPcapMagicNanos = 0xa1b23c4d;
constexpr std::uint16_t kLinktypeEthernet = 1;
constexpr std::size_t kPcapFileHeader = 24;
constexpr std::size_t kPcapRecordHeader = 16;

// pcapng (draft-ietf-opsawg-pcapng §4): block types, options and fixed sizes.
constexpr std::uint32_t kSectionHeaderBlock = 0x0A0D0D0A;
constexpr std::uint32_t kInterfaceDescriptionBlock = 0x00000001;
constexpr std::uint32_t kEnhancedPacketBlock = 0x00000006;
constexpr std::uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr std::uint16_t kOptEndOfOpt = 0;
constexpr std::uint16_t kOptShbUserAppl = 4;
constexpr std::uint16_t kOptIfName = 2;
constexpr std::uint16_t kOptIfTsresol = 9;
constexpr std::uint16_t kOptEpbFlags = 2;
// §4.3 if_tsresol: a value of 9 means units of 10^-9 s. Without it readers assume microseconds.
constexpr std::uint8_t kTsresolNanos = 9;
// §4.3.1 epb_flags bits 0-1: 01 inbound, 10 outbound.
constexpr std::uint32_t kEpbFlagInbound = 1;
constexpr std::uint32_t kEpbFlagOutbound = 2;
// EPB: type, total length, interface id, timestamp (2 words), captured and original length,
// then the data, then options, then the total length again.
constexpr std::size_t kEpbFixed = 7 * 4 + 4;
constexpr std::size_t kEpbFlagsOption = 4 + 4 + 4;  // epb_flags, then opt_endofopt
constexpr char kUserAppl[] = "coronet";
// Keeps the file header small and bounded whatever name the caller passes.
constexpr std::size_t kMaxInterfaceName = 256;

constexpr std::size_t pad4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// Little-endian stores, whatever the host: files come out byte-identical everywhere.
class Cursor {
 public:
  explicit Cursor(std::byte* p) : p_(p) {}
  void u16(std::uint16_t v) {
    for (int i = 0; i < 2; ++i) *p_++ = static_cast<std::byte>(v >> (8 * i));
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) *p_++ = static_cast<std::byte>(v >> (8 * i));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) *p_++ = static_cast<std::byte>(v >> (8 * i));
  }
  void bytes(const void* src, std::size_t n) {
    std::memcpy(p_, src, n);
    p_ += n;
  }
  void zeros(std::size_t n) {
    std::memset(p_, 0, n);
    p_ += n;
  }
  // A pcapng option: code, length, value padded to 32 bits.
  void option(std::uint16_t code, const void* value, std::size_t len) {
    u16(code);
    u16(static_cast<std::uint16_t>(len));
    bytes(value, len);
    zeros(pad4(len) - len);
  }
  std::byte* here() { return p_; }
  void skip(std::size_t n) { p_ += n; }

 private:
  std::byte* p_;
};

std::size_t option_size(std::size_t value_len) { return 4 + pad4(value_len); }

std::size_t file_header_size(const PcapWriterOptions& o) {
  if (o.format == PcapFormat::kPcap) return kPcapFileHeader;
  std::size_t shb = 24 + option_size(sizeof(kUserAppl) - 1) + 4 + 4;
  std::size_t name = std::min(o.interface_name.size(), kMaxInterfaceName);
  std::size_t idb = 16 + (name > 0 ? option_size(name) : 0) + option_size(1) + 4 + 4;
  return shb + idb;
}

// Nanoseconds since the Unix epoch for the file, clamped at 0 (the formats are unsigned).
std::uint64_t file_time_ns(coro::TimePoint ts, coro::Duration offset) {
  std::int64_t t =
      std::chrono::duration_cast<std::chrono::nanoseconds>(ts.time_since_epoch()).count();
  std::int64_t sum = 0;
  if (__builtin_add_overflow(t, offset.count(), &sum)) {
    sum = offset.count() > 0 ? std::numeric_limits<std::int64_t>::max() : 0;
  }
  return sum < 0 ? 0 : static_cast<std::uint64_t>(sum);
}

std::uint32_t clamp_u32(std::size_t n) {
  return n > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                       : static_cast<std::uint32_t>(n);
}

// The strerror text and stats().last_errno carry the precise cause; the code classifies it.
Errc errc_for(int err) { return errc_from_errno(err); }

std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r: returns the text, possibly not in buf. Thread-safe, unlike strerror.
  return strerror_r(err, buf, sizeof(buf));
}

Result<void> validate(const PcapWriterOptions& o) {
  if (o.snaplen == 0 || o.snaplen > PcapWriter::kMaxSnaplen) {
    return Error(Errc::kInvalidArgument, "pcap: snaplen " + std::to_string(o.snaplen) +
                                             " outside 1.." +
                                             std::to_string(PcapWriter::kMaxSnaplen));
  }
  if (o.format != PcapFormat::kPcap && o.format != PcapFormat::kPcapng) {
    return Error(Errc::kInvalidArgument, "pcap: unknown format");
  }
  return {};
}

}  // namespace

Result<PcapWriter> PcapWriter::open(const std::string& path, PcapWriterOptions options) {
  if (auto v = validate(options); !v) return v.error();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    return Error(errc_for(err), "pcap: open(" + path + "): " + errno_text(err));
  }
  return PcapWriter(fd, /*owned=*/true, path, std::move(options));
}

Result<PcapWriter> PcapWriter::from_fd(int fd, PcapWriterOptions options) {
  if (auto v = validate(options); !v) return v.error();
  std::string target = "fd " + std::to_string(fd);
  // Catch a closed or read-only fd now, not at the first flush, possibly much later.
  int flags = fd < 0 ? -1 : ::fcntl(fd, F_GETFL);
  if (flags < 0) {
    int err = fd < 0 ? EBADF : errno;
    return Error(errc_for(err), "pcap: " + target + ": " + errno_text(err));
  }
  if ((flags & O_ACCMODE) == O_RDONLY) {
    return Error(Errc::kInvalidArgument, "pcap: " + target + " is not open for writing");
  }
  return PcapWriter(fd, /*owned=*/false, std::move(target), std::move(options));
}

PcapWriter::PcapWriter(int fd, bool owned, std::string target, PcapWriterOptions options)
    : fd_(fd), owned_(owned), target_(std::move(target)), options_(std::move(options)) {
  if (options_.interface_name.size() > kMaxInterfaceName) {
    options_.interface_name.resize(kMaxInterfaceName);
  }
  capacity_ = std::max({options_.buffer_size, file_header_size(options_),
                        record_size(options_.snaplen, PacketDirection::kOutbound)});
  buf_ = std::make_unique<std::byte[]>(capacity_);
  put_file_header();
}

PcapWriter::PcapWriter(PcapWriter&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      owned_(std::exchange(other.owned_, false)),
      closed_(std::exchange(other.closed_, true)),
      target_(std::move(other.target_)),
      options_(std::move(other.options_)),
      buf_(std::move(other.buf_)),
      capacity_(std::exchange(other.capacity_, 0)),
      used_(std::exchange(other.used_, 0)),
      error_(std::move(other.error_)),
      stats_(other.stats_) {
  other.error_ = Error(Errc::kInvalidArgument, "pcap: writer was moved from");
}

PcapWriter& PcapWriter::operator=(PcapWriter&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    owned_ = std::exchange(other.owned_, false);
    closed_ = std::exchange(other.closed_, true);
    target_ = std::move(other.target_);
    options_ = std::move(other.options_);
    buf_ = std::move(other.buf_);
    capacity_ = std::exchange(other.capacity_, 0);
    used_ = std::exchange(other.used_, 0);
    error_ = std::move(other.error_);
    stats_ = other.stats_;
    other.error_ = Error(Errc::kInvalidArgument, "pcap: writer was moved from");
  }
  return *this;
}

PcapWriter::~PcapWriter() { release(); }

void PcapWriter::release() {
  if (!closed_) (void)close();
}

coro::Duration PcapWriter::wall_clock_offset() {
  auto wall = std::chrono::system_clock::now().time_since_epoch();
  auto mono = std::chrono::steady_clock::now().time_since_epoch();
  return std::chrono::duration_cast<coro::Duration>(wall) -
         std::chrono::duration_cast<coro::Duration>(mono);
}

std::size_t PcapWriter::record_size(std::size_t frame_len, PacketDirection dir) const {
  std::size_t caplen = std::min<std::size_t>(frame_len, options_.snaplen);
  if (options_.format == PcapFormat::kPcap) return kPcapRecordHeader + caplen;
  return kEpbFixed + pad4(caplen) + (dir == PacketDirection::kUnknown ? 0 : kEpbFlagsOption);
}

void PcapWriter::put_file_header() {
  Cursor c(buf_.get() + used_);
  if (options_.format == PcapFormat::kPcap) {
    c.u32(kPcapMagicNanos);
    c.u16(2);  // version 2.4, the only one there is
    c.u16(4);
    c.u32(0);  // thiszone: timestamps are UTC
    c.u32(0);  // sigfigs
    c.u32(options_.snaplen);
    c.u32(kLinktypeEthernet);
  } else {
    const std::size_t shb = 24 + option_size(sizeof(kUserAppl) - 1) + 4 + 4;
    c.u32(kSectionHeaderBlock);
    c.u32(static_cast<std::uint32_t>(shb));
    c.u32(kByteOrderMagic);
    c.u16(1);  // version 1.0
    c.u16(0);
    c.u64(~std::uint64_t{0});  // section length unknown: we stream
    c.option(kOptShbUserAppl, kUserAppl, sizeof(kUserAppl) - 1);
    c.u32(kOptEndOfOpt);
    c.u32(static_cast<std::uint32_t>(shb));

    const std::string& name = options_.interface_name;
    const std::size_t idb =
        16 + (name.empty() ? 0 : option_size(name.size())) + option_size(1) + 4 + 4;
    c.u32(kInterfaceDescriptionBlock);
    c.u32(static_cast<std::uint32_t>(idb));
    c.u16(kLinktypeEthernet);
    c.u16(0);  // reserved
    c.u32(options_.snaplen);
    if (!name.empty()) c.option(kOptIfName, name.data(), name.size());
    c.option(kOptIfTsresol, &kTsresolNanos, 1);
    c.u32(kOptEndOfOpt);
    c.u32(static_cast<std::uint32_t>(idb));
  }
  used_ = static_cast<std::size_t>(c.here() - buf_.get());
}

template <typename CopyFn>
Result<void> PcapWriter::append_record(std::size_t frame_len, coro::TimePoint ts,
                                       PacketDirection dir, CopyFn&& copy) {
  if (!ok()) return refuse();
  const std::size_t rec = record_size(frame_len, dir);
  if (capacity_ - used_ < rec) {
    if (auto f = flush(); !f) {
      ++stats_.dropped;
      return f;
    }
  }
  const std::uint32_t caplen = clamp_u32(std::min<std::size_t>(frame_len, options_.snaplen));
  const std::uint64_t ns = file_time_ns(ts, options_.time_offset);
  Cursor c(buf_.get() + used_);
  if (options_.format == PcapFormat::kPcap) {
    // Seconds wrap in 2106; the format has 32 bits for them.
    c.u32(static_cast<std::uint32_t>(ns / 1'000'000'000));
    c.u32(static_cast<std::uint32_t>(ns % 1'000'000'000));
    c.u32(caplen);
    c.u32(clamp_u32(frame_len));
    copy(c.here(), caplen);
    c.skip(caplen);
  } else {
    c.u32(kEnhancedPacketBlock);
    c.u32(static_cast<std::uint32_t>(rec));
    c.u32(0);  // interface id: the one IDB we wrote
    c.u32(static_cast<std::uint32_t>(ns >> 32));
    c.u32(static_cast<std::uint32_t>(ns));
    c.u32(caplen);
    c.u32(clamp_u32(frame_len));
    copy(c.here(), caplen);
    c.skip(caplen);
    c.zeros(pad4(caplen) - caplen);
    if (dir != PacketDirection::kUnknown) {
      std::uint32_t flags = dir == PacketDirection::kInbound ? kEpbFlagInbound : kEpbFlagOutbound;
      c.u16(kOptEpbFlags);
      c.u16(4);
      c.u32(flags);
      c.u32(kOptEndOfOpt);
    }
    c.u32(static_cast<std::uint32_t>(rec));
  }
  used_ += rec;
  ++stats_.frames;
  if (caplen < frame_len) ++stats_.truncated;
  return {};
}

Result<void> PcapWriter::write(const Packet& chain, coro::TimePoint ts, PacketDirection dir) {
  return append_record(chain.chain_size(), ts, dir, [&chain](std::byte* dst, std::size_t n) {
    chain.copy_out({dst, n});
  });
}

Result<void> PcapWriter::write(std::span<const std::byte> frame, coro::TimePoint ts,
                               PacketDirection dir) {
  return append_record(frame.size(), ts, dir, [frame](std::byte* dst, std::size_t n) {
    std::memcpy(dst, frame.data(), n);
  });
}

Result<void> PcapWriter::flush() {
  if (!ok()) return *error_;
  if (used_ == 0) return {};
  ++stats_.flushes;
  std::size_t done = 0;
  while (done < used_) {
    ssize_t n = ::write(fd_, buf_.get() + done, used_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // n == 0 cannot make progress either: report it rather than spin. Whatever part of the
      // buffer reached the file stays there; the rest is lost, and the writer stays failed.
      int err = n < 0 ? errno : EIO;
      used_ = 0;
      return fail("write", err, done);
    }
    // A short write is normal (pipes, signals, a nearly full disk): write the rest. The call
    // that cannot write anything more reports the real cause (ENOSPC, EFBIG, ...).
    done += static_cast<std::size_t>(n);
    stats_.bytes_written += static_cast<std::uint64_t>(n);
  }
  used_ = 0;
  return {};
}

Result<void> PcapWriter::close() {
  if (closed_) return {};
  Result<void> result = flush();
  if (owned_ && fd_ >= 0) {
    // Linux releases the fd even when close() fails; retrying on EINTR could close a reused fd.
    if (::close(fd_) != 0) {
      Error e = fail("close", errno, 0);
      if (result) result = e;
    }
  }
  fd_ = -1;
  closed_ = true;
  if (ok()) error_ = Error(Errc::kInvalidArgument, "pcap: " + target_ + ": writer is closed");
  return result;
}

Result<void> PcapWriter::reserve(std::size_t bytes) {
  if (!ok()) return *error_;
  if (capacity_ - used_ < bytes) return flush();
  return {};
}

void PcapWriter::rollback(const Mark& m) {
  // A flush in between would have sent the records to the fd already; reserve() rules it out.
  if (m.flushes != stats_.flushes || m.used > used_) return;
  used_ = m.used;
  stats_.frames = m.frames;
  stats_.truncated = m.truncated;
}

Error PcapWriter::fail(const char* op, int err, std::size_t written) {
  ++stats_.errors;
  stats_.last_errno = err;
  std::string detail = "pcap: " + std::string(op) + "(" + target_ + "): " + errno_text(err);
  if (written > 0) detail += " (after a short write of " + std::to_string(written) + " bytes)";
  Error e(errc_for(err), std::move(detail));
  if (!error_) error_ = e;
  return e;
}

Result<void> PcapWriter::refuse() {
  ++stats_.dropped;
  return *error_;
}

}  // namespace coronet::nic
