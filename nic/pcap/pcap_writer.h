// PcapWriter: records Ethernet frames to a capture file that Wireshark, tshark and tcpdump read.
//
// Two formats. pcapng is the default because it records per-packet direction (epb_flags), which
// a capture of both sides of a device needs, plus the interface name, and still has nanosecond
// timestamps (if_tsresol = 9). Classic pcap with the nanosecond magic 0xa1b23c4d is there for
// tools that read nothing else; it has no direction field, so direction is dropped there.
// Both are written little-endian whatever the host, which every reader accepts (byte-order
// magic), so files are byte-identical across machines.
//
// Hot path: write() copies the frame (every segment of a chain) into one fixed buffer allocated
// at construction and issues a write(2) only when the buffer is full or on flush(). Nothing is
// allocated per packet, except the error text on the error path.
//
// Errors (open failure, disk full, a write(2) that fails part-way) come back as Result values
// carrying strerror text, and are counted. The first I/O error is sticky: the file may then end
// in a torn record, so later writes are refused (counted as dropped) rather than appended after
// the tear, which would make everything behind it unreadable.
//
// Single-threaded, like everything core-local. The fd must be blocking: EAGAIN is an error here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "coro/clock.h"
#include "coro/result.h"
#include "nic/packet.h"

namespace coronet::nic {

enum class PcapFormat : std::uint8_t {
  kPcapng,  // per-packet direction, interface name, nanosecond timestamps
  kPcap,    // classic libpcap, nanosecond magic 0xa1b23c4d, LINKTYPE_ETHERNET
};

// Which way a frame went, seen from the device being captured. pcapng records it (epb_flags
// bits 0-1); classic pcap cannot.
enum class PacketDirection : std::uint8_t { kUnknown, kInbound, kOutbound };

struct PcapWriterOptions {
  PcapFormat format = PcapFormat::kPcapng;
  // Bytes kept per frame, 1..PcapWriter::kMaxSnaplen. A longer frame is recorded with
  // captured length = snaplen and original length = its real length (the format's own,
  // honest way to say "truncated"). 65535 keeps every standard and jumbo frame whole.
  std::uint32_t snaplen = 65535;
  // Write buffer. Raised when needed so that one maximal record always fits.
  std::size_t buffer_size = 256 * 1024;
  // pcapng if_name option (e.g. the device name); empty writes none. Ignored for classic pcap.
  std::string interface_name = {};
  // Added to every timestamp. coro::TimePoint is steady_clock (time since boot, or virtual time
  // from zero), while capture files hold Unix time; PcapWriter::wall_clock_offset() lines a
  // monotonic clock up with the wall clock. Timestamps that end up before 1970 are written as 0.
  coro::Duration time_offset{0};
};

struct PcapWriterStats {
  std::uint64_t frames = 0;         // records accepted (buffered or already on disk)
  std::uint64_t truncated = 0;      // of those, frames cut at snaplen (caplen < len)
  std::uint64_t dropped = 0;        // frames refused because the writer had failed or closed
  std::uint64_t bytes_written = 0;  // bytes that reached the fd, headers included
  std::uint64_t flushes = 0;        // write(2) batches issued
  std::uint64_t errors = 0;         // failed open/write/close system calls
  int last_errno = 0;               // errno of the last failure, 0 if none
};

class CaptureDevice;

class PcapWriter {
 public:
  // libpcap's MAXIMUM_SNAPLEN; readers reject larger values.
  static constexpr std::uint32_t kMaxSnaplen = 262144;

  // Creates or truncates `path` (mode 0644) and owns the fd.
  static Result<PcapWriter> open(const std::string& path, PcapWriterOptions options = {});
  // Writes to an fd the caller opened and still owns (close() and the destructor leave it open).
  static Result<PcapWriter> from_fd(int fd, PcapWriterOptions options = {});

  PcapWriter(PcapWriter&& other) noexcept;
  PcapWriter& operator=(PcapWriter&& other) noexcept;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  // Flushes and closes an owned fd. Errors here can only be counted; call close() to see them.
  ~PcapWriter();

  // Records one frame: the whole chain starting at `chain`, stamped `ts` (+ time_offset).
  Result<void> write(const Packet& chain, coro::TimePoint ts,
                     PacketDirection dir = PacketDirection::kUnknown);
  // The same for a frame in contiguous memory.
  Result<void> write(std::span<const std::byte> frame, coro::TimePoint ts,
                     PacketDirection dir = PacketDirection::kUnknown);

  // Hands everything buffered to the fd (the file header included, so an empty capture is
  // still a valid file after the first flush).
  Result<void> flush();
  // Flushes, then closes an owned fd. Later writes fail. Calling it twice is harmless.
  Result<void> close();

  // False once an I/O error happened or after close(): write() will refuse frames.
  bool ok() const { return !error_.has_value(); }
  // The sticky error; nullopt while ok().
  const std::optional<Error>& error() const { return error_; }
  const PcapWriterStats& stats() const { return stats_; }
  const PcapWriterOptions& options() const { return options_; }
  // Bytes waiting in the buffer.
  std::size_t buffered() const { return used_; }

  // Unix time minus steady_clock time, now: pass as time_offset when timestamps come from the
  // monotonic clock and the file should show wall-clock times.
  static coro::Duration wall_clock_offset();

 private:
  // CaptureDevice records tx frames before handing them to the inner device and takes back the
  // records of those the device refused (it must not read a packet it no longer owns), so it
  // needs to reserve room and roll back. Kept private: no one else should need it.
  friend class CaptureDevice;

  struct Mark {
    std::size_t used = 0;
    std::uint64_t frames = 0;
    std::uint64_t truncated = 0;
    std::uint64_t flushes = 0;
  };

  PcapWriter(int fd, bool owned, std::string target, PcapWriterOptions options);

  // Size on disk of the record for a frame of `frame_len` bytes.
  std::size_t record_size(std::size_t frame_len, PacketDirection dir) const;
  std::size_t capacity() const { return capacity_; }
  // Makes sure `bytes` more fit without an implicit flush (flushing now if needed).
  // Precondition: bytes <= capacity().
  Result<void> reserve(std::size_t bytes);
  Mark mark() const { return {used_, stats_.frames, stats_.truncated, stats_.flushes}; }
  // Forgets every record written since `m`. Precondition: no flush since `m` (see reserve()).
  void rollback(const Mark& m);

  // Shared tail of both write() overloads: header, `caplen` bytes via `copy`, trailer.
  template <typename CopyFn>
  Result<void> append_record(std::size_t frame_len, coro::TimePoint ts, PacketDirection dir,
                             CopyFn&& copy);
  void put_file_header();
  // Records the first failure (sticky), counts it, and returns it. `written`: bytes of this
  // flush that did reach the fd before the failure, for the error text.
  Error fail(const char* op, int err, std::size_t written);
  Result<void> refuse();
  void release();

  int fd_ = -1;
  bool owned_ = false;
  bool closed_ = false;
  std::string target_;  // path or "fd N", for error text
  PcapWriterOptions options_;
  std::unique_ptr<std::byte[]> buf_;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::optional<Error> error_;
  PcapWriterStats stats_;
};

}  // namespace coronet::nic
