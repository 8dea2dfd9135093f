#include "stack/tcp/buffers.h"

#include <algorithm>
#include <cstring>

namespace coronet::stack::tcp {

ByteRing::~ByteRing() {
  if (data_ != nullptr && budget_ != nullptr) budget_->used -= cap_;
}

void ByteRing::release() {
  if (data_ == nullptr) return;
  if (budget_ != nullptr) budget_->used -= cap_;
  data_.reset();
}

bool ByteRing::ensure() {
  if (data_ != nullptr) return true;
  if (budget_ != nullptr) {
    if (budget_->used + cap_ > budget_->limit) {
      ++budget_->refusals;
      return false;
    }
    budget_->used += cap_;
  }
  data_ = std::make_unique_for_overwrite<std::byte[]>(cap_);
  return true;
}

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

SendBuffer::SendBuffer(std::size_t capacity, nic::PacketPool& chunks)
    : pool_(chunks),
      cap_(capacity),
      chunk_(chunks.buffer_size() - chunks.headroom()),
      // Enough for `capacity` bytes starting anywhere in the first chunk.
      slots_(capacity / chunk_ + 2),
      ring_(std::make_unique<nic::Packet*[]>(slots_)) {}

SendBuffer::~SendBuffer() {
  for (std::size_t k = 0; k < count_; ++k) nic::PacketPool::free(slot(k));
}

std::size_t SendBuffer::push(std::span<const std::byte> in) {
  const std::size_t n = std::min(in.size(), free_space());
  std::size_t done = 0;
  starved_ = false;
  while (done < n) {
    nic::Packet* tail = count_ > 0 ? slot(count_ - 1) : nullptr;
    if (tail == nullptr || tail->tailroom() == 0) {
      tail = count_ < slots_ ? pool_.alloc() : nullptr;
      if (tail == nullptr) {
        starved_ = true;
        break;
      }
      slot(count_++) = tail;
    }
    const std::size_t k = std::min<std::size_t>(tail->tailroom(), n - done);
    std::memcpy(tail->append(static_cast<std::uint32_t>(k)), in.data() + done, k);
    done += k;
  }
  size_ += done;
  return done;
}

void SendBuffer::copy(std::size_t offset, std::span<std::byte> out) const {
  std::size_t pos = head_off_ + offset;
  std::size_t done = 0;
  while (done < out.size()) {
    const nic::Packet* c = slot(pos / chunk_);
    const std::size_t within = pos % chunk_;
    const std::size_t k = std::min(out.size() - done, c->size() - within);
    std::memcpy(out.data() + done, c->data() + within, k);
    done += k;
    pos += k;
  }
}

nic::Packet* SendBuffer::views(std::size_t offset, std::size_t length) {
  std::size_t pos = head_off_ + offset;
  std::size_t done = 0;
  nic::Packet* head = nullptr;
  nic::Packet* tail = nullptr;
  while (done < length) {
    nic::Packet* c = slot(pos / chunk_);
    const std::size_t within = pos % chunk_;
    const std::size_t k = std::min(length - done, c->size() - within);
    nic::Packet* v = pool_.alloc_view(*c, static_cast<std::uint32_t>(within),
                                      static_cast<std::uint32_t>(k));
    if (v == nullptr) {
      nic::PacketPool::free(head);
      return nullptr;
    }
    if (tail != nullptr) {
      tail->set_next(v);
    } else {
      head = v;
    }
    tail = v;
    done += k;
    pos += k;
  }
  return head;
}

void SendBuffer::consume(std::size_t n) {
  n = std::min(n, size_);
  size_ -= n;
  head_off_ += n;
  while (count_ > 0 && head_off_ >= slot(0)->size() &&
         (slot(0)->size() == chunk_ || size_ == 0)) {
    head_off_ -= slot(0)->size();
    nic::PacketPool::free(slot(0));  // a view on the wire keeps it until the device is done
    first_ = (first_ + 1) % slots_;
    --count_;
  }
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
  if (!ring_.ensure()) return Insert::kNoMemory;
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

void RecvBuffer::hold(SeqNum seq, nic::Packet* p) {
  (void)seq;
  const std::size_t n = p->size();
  p->set_next(nullptr);
  if (held_tail_ != nullptr) {
    held_tail_->set_next(p);
  } else {
    held_head_ = p;
  }
  held_tail_ = p;
  ++held_count_;
  held_bytes_ += n;
  ready_ += n;
  absorb_ranges();  // islands this reaches follow the held bytes in the ring
}

std::size_t RecvBuffer::read(std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size() && held_head_ != nullptr) {
    nic::Packet* p = held_head_;
    const std::size_t k = std::min(out.size() - done, p->size() - held_off_);
    std::memcpy(out.data() + done, p->data() + held_off_, k);
    done += k;
    held_off_ += k;
    held_bytes_ -= k;
    if (held_off_ == p->size()) {
      held_head_ = p->next();
      if (held_head_ == nullptr) held_tail_ = nullptr;
      p->set_next(nullptr);
      nic::PacketPool::free(p);
      --held_count_;
      held_off_ = 0;
    }
  }
  advance(done);
  const std::size_t n = std::min(out.size() - done, ready_);
  if (n == 0) return done;
  ring_.read_at(head_, out.subspan(done, n));
  advance(n);
  return done + n;
}

void RecvBuffer::advance(std::size_t n) {
  if (n == 0) return;
  head_ = (head_ + n) % ring_.capacity();
  base_ += static_cast<std::uint32_t>(n);
  ready_ -= n;
  for (std::size_t i = 0; i < nranges_; ++i) {
    ranges_[i].begin -= n;
    ranges_[i].end -= n;
  }
}

void RecvBuffer::drop_held() {
  nic::PacketPool::free(held_head_);  // the chain is linked through next()
  held_head_ = held_tail_ = nullptr;
  held_count_ = 0;
  held_bytes_ = 0;
  held_off_ = 0;
}

}  // namespace coronet::stack::tcp
