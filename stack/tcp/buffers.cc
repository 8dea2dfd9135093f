#include "stack/tcp/buffers.h"

#include <algorithm>
#include <cstring>

namespace coronet::stack::tcp {

ByteRing::ByteRing(std::size_t capacity)
    : cap_(capacity), data_(std::make_unique_for_overwrite<std::byte[]>(capacity)) {}

void ByteRing::write_at(std::size_t pos, std::span<const std::byte> in) {
  std::size_t at = pos % cap_;
  std::size_t first = std::min(in.size(), cap_ - at);
  std::memcpy(data_.get() + at, in.data(), first);
  std::memcpy(data_.get(), in.data() + first, in.size() - first);
}

void ByteRing::read_at(std::size_t pos, std::span<std::byte> out) const {
  std::size_t at = pos % cap_;
  std::size_t first = std::min(out.size(), cap_ - at);
  std::memcpy(out.data(), data_.get() + at, first);
  std::memcpy(out.data() + first, data_.get(), out.size() - first);
}

std::size_t SendBuffer::push(std::span<const std::byte> in) {
  std::size_t n = std::min(in.size(), free_space());
  ring_.write_at(head_ + size_, in.first(n));
  size_ += n;
  return n;
}

void SendBuffer::consume(std::size_t n) {
  n = std::min(n, size_);
  head_ = (head_ + n) % ring_.capacity();
  size_ -= n;
}

RecvBuffer::Insert RecvBuffer::insert(SeqNum seq, std::span<const std::byte> data) {
  // Offsets relative to base_ (the oldest unread byte); the window is [ready_, capacity).
  std::int64_t begin = seq - base_;
  std::int64_t end = begin + static_cast<std::int64_t>(data.size());
  std::int64_t lo = static_cast<std::int64_t>(ready_);
  std::int64_t hi = static_cast<std::int64_t>(ring_.capacity());
  std::int64_t b = std::max(begin, lo);
  std::int64_t e = std::min(end, hi);
  if (e <= b) return end <= lo ? Insert::kDuplicate : Insert::kNoRoom;
  auto ub = static_cast<std::size_t>(b);
  auto ue = static_cast<std::size_t>(e);
  if (ub == ready_) {
    ring_.write_at(head_ + ub, data.subspan(static_cast<std::size_t>(b - begin), ue - ub));
    ready_ = ue;
    absorb_ranges();
    return Insert::kInOrder;
  }
  if (!add_range(ub, ue)) return Insert::kNoRoom;  // too many islands: the peer will resend
  ring_.write_at(head_ + ub, data.subspan(static_cast<std::size_t>(b - begin), ue - ub));
  return Insert::kOutOfOrder;
}

bool RecvBuffer::add_range(std::size_t begin, std::size_t end) {
  // Merge with every overlapping or touching range; keep the list sorted by begin.
  std::size_t i = 0;
  while (i < nranges_ && ranges_[i].end < begin) ++i;
  std::size_t j = i;
  while (j < nranges_ && ranges_[j].begin <= end) {
    begin = std::min(begin, ranges_[j].begin);
    end = std::max(end, ranges_[j].end);
    ++j;
  }
  std::size_t merged = j - i;
  if (merged == 0) {
    if (nranges_ == kMaxRanges) return false;
    std::move_backward(ranges_.begin() + i, ranges_.begin() + nranges_,
                       ranges_.begin() + nranges_ + 1);
    ++nranges_;
  } else if (merged > 1) {
    std::move(ranges_.begin() + j, ranges_.begin() + nranges_, ranges_.begin() + i + 1);
    nranges_ -= merged - 1;
  }
  ranges_[i] = {begin, end};
  return true;
}

void RecvBuffer::absorb_ranges() {
  std::size_t k = 0;
  while (k < nranges_ && ranges_[k].begin <= ready_) {
    ready_ = std::max(ready_, ranges_[k].end);
    ++k;
  }
  if (k > 0) {
    std::move(ranges_.begin() + k, ranges_.begin() + nranges_, ranges_.begin());
    nranges_ -= k;
  }
}

std::size_t RecvBuffer::read(std::span<std::byte> out) {
  std::size_t n = std::min(out.size(), ready_);
  if (n == 0) return 0;
  ring_.read_at(head_, out.first(n));
  head_ = (head_ + n) % ring_.capacity();
  base_ += static_cast<std::uint32_t>(n);
  ready_ -= n;
  for (std::size_t i = 0; i < nranges_; ++i) {
    ranges_[i].begin -= n;
    ranges_[i].end -= n;
  }
  return n;
}

}  // namespace coronet::stack::tcp
