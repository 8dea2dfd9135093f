// PcapWriter: files read back byte for byte by an independent reader (pcap_testing.h), in both
// formats; honest truncation at snaplen; buffering; errors as counted, sticky Result values.
#include "nic/pcap/pcap_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "nic/packet_pool.h"
#include "nic/pcap/pcap_testing.h"

namespace coronet::nic {
namespace {

using namespace std::chrono_literals;
using testing::CaptureFile;
using testing::make_chain;
using testing::pattern_frame;
using testing::read_capture;
using testing::temp_path;

coro::TimePoint at(std::chrono::nanoseconds ns) { return coro::TimePoint(ns); }

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

CaptureFile must_read(const std::string& path) {
  auto f = read_capture(path);
  if (!f) ADD_FAILURE() << f.error().message();
  return f ? *f : CaptureFile{};
}

const char* format_name(PcapFormat f) { return f == PcapFormat::kPcap ? "pcap" : "pcapng"; }

class PcapWriterFormat : public ::testing::TestWithParam<PcapFormat> {
 protected:
  std::string path() const { return temp_path(std::string("w.") + format_name(GetParam())); }
};

INSTANTIATE_TEST_SUITE_P(Formats, PcapWriterFormat,
                         ::testing::Values(PcapFormat::kPcapng, PcapFormat::kPcap),
                         [](const auto& info) { return std::string(format_name(info.param)); });

TEST_P(PcapWriterFormat, RoundTripKeepsBytesLengthsTimestampsAndDirections) {
  PacketPool pool({.name = "t", .count = 64, .buffer_size = 512, .headroom = 64});
  const std::vector<std::size_t> sizes = {60, 61, 62, 63, 64, 100, 447, 448, 449, 1000, 1513, 1514};
  const PacketDirection dirs[] = {PacketDirection::kInbound, PacketDirection::kOutbound,
                                  PacketDirection::kUnknown};
  std::vector<std::vector<std::byte>> frames;
  std::vector<coro::TimePoint> stamps;
  {
    auto w = PcapWriter::open(path(), {.format = GetParam()});
    ASSERT_TRUE(w) << w.error().message();
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      frames.push_back(pattern_frame(sizes[i], static_cast<std::uint8_t>(i)));
      // Odd nanoseconds and a seconds carry: any unit mix-up shows.
      stamps.push_back(at(1'700'000'000s + std::chrono::nanoseconds(i * 123'456'789 + 1)));
      Result<void> r;
      if (i % 2 == 0) {
        // Chained: the pool's 448-byte data area (and 200-byte slices) split the frame.
        Packet* chain = make_chain(pool, frames.back(), 200);
        ASSERT_NE(chain, nullptr);
        EXPECT_EQ(chain->chain_size(), sizes[i]);
        r = w->write(*chain, stamps.back(), dirs[i % 3]);
        PacketPool::free(chain);
      } else {
        r = w->write(std::span<const std::byte>(frames.back()), stamps.back(), dirs[i % 3]);
      }
      ASSERT_TRUE(r) << r.error().message();
    }
    ASSERT_TRUE(w->flush());
    EXPECT_EQ(w->stats().frames, sizes.size());
    EXPECT_EQ(w->stats().truncated, 0u);
    EXPECT_EQ(w->stats().bytes_written, file_size(path()));
    EXPECT_EQ(w->stats().errors, 0u);
  }
  CaptureFile f = must_read(path());
  EXPECT_EQ(f.format, GetParam());
  EXPECT_EQ(f.linktype, 1);  // LINKTYPE_ETHERNET
  EXPECT_EQ(f.snaplen, 65535u);
  EXPECT_TRUE(f.nanosecond);
  ASSERT_EQ(f.frames.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const auto& fr = f.frames[i];
    EXPECT_EQ(fr.len, sizes[i]);
    EXPECT_EQ(fr.caplen, sizes[i]);
    EXPECT_EQ(fr.data, frames[i]);
    EXPECT_EQ(fr.ts_ns, static_cast<std::uint64_t>(stamps[i].time_since_epoch().count()));
    // Classic pcap has no direction field.
    EXPECT_EQ(fr.dir, GetParam() == PcapFormat::kPcap ? PacketDirection::kUnknown : dirs[i % 3]);
  }
}

TEST_P(PcapWriterFormat, SnaplenTruncationRecordsCaplenBelowOriginalLength) {
  PacketPool pool({.name = "t", .count = 64, .buffer_size = 512, .headroom = 0});
  const std::vector<std::size_t> sizes = {60, 99, 100, 101, 1514};
  std::vector<std::vector<std::byte>> frames;
  {
    auto w = PcapWriter::open(path(), {.format = GetParam(), .snaplen = 100});
    ASSERT_TRUE(w);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      frames.push_back(pattern_frame(sizes[i], static_cast<std::uint8_t>(i)));
      Packet* chain = make_chain(pool, frames.back(), 33);  // truncation inside a chain
      ASSERT_TRUE(w->write(*chain, at(1s), PacketDirection::kOutbound));
      PacketPool::free(chain);
    }
    EXPECT_EQ(w->stats().truncated, 2u);
    ASSERT_TRUE(w->close());
  }
  CaptureFile f = must_read(path());
  EXPECT_EQ(f.snaplen, 100u);
  ASSERT_EQ(f.frames.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    std::size_t kept = std::min<std::size_t>(sizes[i], 100);
    EXPECT_EQ(f.frames[i].len, sizes[i]);
    EXPECT_EQ(f.frames[i].caplen, kept);
    EXPECT_EQ(f.frames[i].data,
              std::vector<std::byte>(frames[i].begin(), frames[i].begin() + kept));
  }
}

TEST_P(PcapWriterFormat, DefaultSnaplenKeepsJumboFramesWhole) {
  PacketPool pool({.name = "t", .count = 16, .buffer_size = 2048, .headroom = 128});
  auto frame = pattern_frame(9014, 9);
  {
    auto w = PcapWriter::open(path(), {.format = GetParam()});
    ASSERT_TRUE(w);
    Packet* chain = make_chain(pool, frame, 2048);
    EXPECT_EQ(chain->chain_segments(), 5u);
    ASSERT_TRUE(w->write(*chain, at(0s)));
    PacketPool::free(chain);
  }  // the destructor flushes
  CaptureFile f = must_read(path());
  ASSERT_EQ(f.frames.size(), 1u);
  EXPECT_EQ(f.frames[0].caplen, 9014u);
  EXPECT_EQ(f.frames[0].data, frame);
}

TEST_P(PcapWriterFormat, TimeOffsetShiftsTimestampsAndClampsBeforeTheEpochToZero) {
  {
    auto w = PcapWriter::open(path(), {.format = GetParam(), .time_offset = 1'000'000'000s});
    ASSERT_TRUE(w);
    auto frame = pattern_frame(60, 1);
    ASSERT_TRUE(w->write(std::span<const std::byte>(frame), at(1500ms)));
    ASSERT_TRUE(w->write(std::span<const std::byte>(frame), at(-2'000'000'000s)));
  }
  CaptureFile f = must_read(path());
  ASSERT_EQ(f.frames.size(), 2u);
  EXPECT_EQ(f.frames[0].ts_ns, 1'000'000'001'500'000'000u);
  EXPECT_EQ(f.frames[1].ts_ns, 0u);
}

TEST_P(PcapWriterFormat, EmptyCaptureIsAValidFileOnceFlushed) {
  auto w = PcapWriter::open(path(), {.format = GetParam(), .interface_name = "wire0"});
  ASSERT_TRUE(w);
  EXPECT_EQ(file_size(path()), 0u);  // buffered, even the header
  ASSERT_TRUE(w->flush());
  CaptureFile f = must_read(path());
  EXPECT_TRUE(f.frames.empty());
  if (GetParam() == PcapFormat::kPcapng) {
    EXPECT_EQ(f.if_name, "wire0");
    EXPECT_EQ(f.user_appl, "coronet");
  }
}

TEST(PcapWriter, FramesStayBufferedUntilFlush) {
  const std::string p = temp_path("buffered.pcapng");
  auto w = PcapWriter::open(p);
  ASSERT_TRUE(w);
  auto frame = pattern_frame(1514, 3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->write(std::span<const std::byte>(frame), at(1s)));
  EXPECT_EQ(file_size(p), 0u);
  EXPECT_EQ(w->stats().flushes, 0u);
  EXPECT_GT(w->buffered(), 3 * 1514u);
  ASSERT_TRUE(w->flush());
  EXPECT_EQ(w->buffered(), 0u);
  EXPECT_EQ(file_size(p), w->stats().bytes_written);
  EXPECT_EQ(must_read(p).frames.size(), 3u);
}

TEST(PcapWriter, FullBufferFlushesByItselfAndLosesNothing) {
  const std::string p = temp_path("small-buffer.pcap");
  auto w = PcapWriter::open(p, {.format = PcapFormat::kPcap, .snaplen = 2000, .buffer_size = 1});
  ASSERT_TRUE(w);
  for (int i = 0; i < 50; ++i) {
    auto frame = pattern_frame(60 + 29 * static_cast<std::size_t>(i), static_cast<std::uint8_t>(i));
    ASSERT_TRUE(w->write(std::span<const std::byte>(frame), at(std::chrono::milliseconds(i))));
  }
  // The buffer was raised to one maximal record (2016 bytes): many flushes happened already.
  EXPECT_GT(w->stats().flushes, 15u);
  ASSERT_TRUE(w->close());
  CaptureFile f = must_read(p);
  ASSERT_EQ(f.frames.size(), 50u);
  EXPECT_EQ(f.frames[49].data, pattern_frame(60 + 29 * 49, 49));
}

TEST(PcapWriter, WallClockOffsetTurnsSteadyTimeIntoUnixTime) {
  auto unix_now = std::chrono::system_clock::now().time_since_epoch();
  auto mapped =
      std::chrono::steady_clock::now().time_since_epoch() + PcapWriter::wall_clock_offset();
  EXPECT_LT(std::chrono::abs(mapped - unix_now), 1s);
}

TEST(PcapWriter, DiskFullSurfacesAsStickyResultError) {
  auto w = PcapWriter::open("/dev/full");
  ASSERT_TRUE(w) << w.error().message();
  auto frame = pattern_frame(100, 1);
  ASSERT_TRUE(w->write(std::span<const std::byte>(frame), at(1s)));  // only buffered so far
  Result<void> r = w->flush();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kResourceExhausted);
  EXPECT_NE(r.error().message().find("No space left on device"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("/dev/full"), std::string::npos);
  EXPECT_FALSE(w->ok());
  EXPECT_EQ(w->stats().errors, 1u);
  EXPECT_EQ(w->stats().last_errno, ENOSPC);

  // Sticky: nothing more is appended behind a possibly torn record; refusals are counted.
  Result<void> again = w->write(std::span<const std::byte>(frame), at(2s));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::kResourceExhausted);
  EXPECT_EQ(w->stats().dropped, 1u);
  EXPECT_FALSE(w->flush());
  EXPECT_EQ(w->stats().errors, 1u);  // no new system call was tried
  EXPECT_FALSE(w->close());
}

TEST(PcapWriter, WriteReportsAFailedAutomaticFlush) {
  auto w = PcapWriter::open("/dev/full", {.snaplen = 1600, .buffer_size = 4096});
  ASSERT_TRUE(w);
  auto frame = pattern_frame(1514, 1);
  Result<void> r;
  int writes = 0;
  while (r && writes < 10) {
    r = w->write(std::span<const std::byte>(frame), at(1s));
    ++writes;
  }
  ASSERT_FALSE(r);
  EXPECT_EQ(writes, 3);  // two records fit in 4096 bytes with the header; the third flushes
  EXPECT_EQ(w->stats().frames, 2u);
  EXPECT_EQ(w->stats().dropped, 1u);
  EXPECT_NE(r.error().message().find("No space left on device"), std::string::npos);
}

TEST(PcapWriter, ShortWriteFollowedByFailureIsReportedWithWhatWasWritten) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  // A one-page, non-blocking pipe: write(2) takes one page, then fails with EAGAIN.
  ASSERT_GT(::fcntl(fds[1], F_SETPIPE_SZ, 4096), 0);
  ASSERT_EQ(::fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
  {
    auto w = PcapWriter::from_fd(fds[1]);
    ASSERT_TRUE(w);
    auto frame = pattern_frame(1514, 2);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(w->write(std::span<const std::byte>(frame), at(1s)));
    Result<void> r = w->flush();
    ASSERT_FALSE(r);
    const std::uint64_t written = w->stats().bytes_written;
    EXPECT_GT(written, 0u);
    EXPECT_LT(written, 5 * 1514u);
    EXPECT_EQ(w->stats().last_errno, EAGAIN);
    EXPECT_NE(r.error().message().find("after a short write of " + std::to_string(written)),
              std::string::npos)
        << r.error().message();
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(PcapWriter, OpenFailureNamesThePathAndTheCause) {
  auto w = PcapWriter::open("/nonexistent-coronet-dir/x.pcapng");
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message().find("/nonexistent-coronet-dir/x.pcapng"), std::string::npos);
  EXPECT_NE(w.error().message().find("No such file or directory"), std::string::npos)
      << w.error().message();
  EXPECT_EQ(w.error().code(), Errc::kNotFound);
}

TEST(PcapWriter, InvalidArgumentsAreRejectedUpFront) {
  EXPECT_EQ(PcapWriter::open(temp_path("x"), {.snaplen = 0}).error().code(),
            Errc::kInvalidArgument);
  EXPECT_EQ(
      PcapWriter::open(temp_path("x"), {.snaplen = PcapWriter::kMaxSnaplen + 1}).error().code(),
      Errc::kInvalidArgument);
  EXPECT_FALSE(PcapWriter::from_fd(-1));
  int ro = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(ro, 0);
  auto w = PcapWriter::from_fd(ro);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message().find("not open for writing"), std::string::npos);
  ::close(ro);
}

TEST(PcapWriter, BorrowedFdStaysOpenAfterClose) {
  const std::string p = temp_path("borrowed.pcapng");
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  {
    auto w = PcapWriter::from_fd(fd);
    ASSERT_TRUE(w);
    auto frame = pattern_frame(60, 5);
    ASSERT_TRUE(w->write(std::span<const std::byte>(frame), at(1s)));
    ASSERT_TRUE(w->close());
  }
  EXPECT_GE(::fcntl(fd, F_GETFD), 0);  // still ours
  ::close(fd);
  EXPECT_EQ(must_read(p).frames.size(), 1u);
}

TEST(PcapWriter, WriteAfterCloseIsRefusedAndCounted) {
  auto w = PcapWriter::open(temp_path("closed.pcapng"));
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->close());
  EXPECT_TRUE(w->close());  // harmless twice
  auto frame = pattern_frame(60, 1);
  Result<void> r = w->write(std::span<const std::byte>(frame), at(1s));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("closed"), std::string::npos);
  EXPECT_EQ(w->stats().dropped, 1u);
}

TEST(PcapWriter, MovedWriterKeepsItsBufferAndTheSourceRefuses) {
  const std::string p = temp_path("moved.pcapng");
  auto frame = pattern_frame(60, 1);
  {
    auto opened = PcapWriter::open(p);
    ASSERT_TRUE(opened);
    ASSERT_TRUE(opened->write(std::span<const std::byte>(frame), at(1s)));
    PcapWriter w = std::move(*opened);
    EXPECT_FALSE(opened->ok());
    EXPECT_FALSE(opened->write(std::span<const std::byte>(frame), at(1s)));
    ASSERT_TRUE(w.write(std::span<const std::byte>(frame), at(2s)));
  }
  EXPECT_EQ(must_read(p).frames.size(), 2u);
}

}  // namespace
}  // namespace coronet::nic
