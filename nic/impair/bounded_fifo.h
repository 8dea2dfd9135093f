// BoundedFifo: a fixed-capacity, single-threaded FIFO over storage allocated once at construction.
// The impairment queue and the wire's per-queue rx rings hold packets in these, so the per-packet
// path never allocates; a full FIFO is the caller's cue to count a drop.
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <vector>

namespace coronet::nic {

template <typename T>
class BoundedFifo {
 public:
  // Throws std::invalid_argument for a zero capacity (a start-up configuration error).
  explicit BoundedFifo(std::size_t capacity) : buf_(capacity) {
    if (capacity == 0) throw std::invalid_argument("BoundedFifo: capacity is 0");
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return buf_.size(); }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == buf_.size(); }

  // False (nothing stored) when full.
  bool push(const T& v) {
    if (full()) return false;
    std::size_t i = head_ + size_;
    if (i >= buf_.size()) i -= buf_.size();
    buf_[i] = v;
    ++size_;
    return true;
  }

  // Precondition: !empty().
  T& front() { return buf_[head_]; }
  const T& front() const { return buf_[head_]; }
  void pop() {
    if (++head_ == buf_.size()) head_ = 0;
    --size_;
  }

  // Moves up to out.size() entries (oldest first) into `out`; returns how many.
  std::size_t pop_n(std::span<T> out) {
    std::size_t n = out.size() < size_ ? out.size() : size_;
    for (std::size_t k = 0; k < n; ++k) {
      out[k] = buf_[head_];
      pop();
    }
    return n;
  }

 private:
  std::vector<T> buf_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace coronet::nic
