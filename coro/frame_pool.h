// Per-thread free-list pool for coroutine frames. Every coronet promise type routes its
// operator new/delete here, so creating and destroying a Task in steady state never calls the
// global allocator: a frame freed on this thread is reused by the next frame of the same size class.
#pragma once

#include <cstddef>
#include <cstdint>

namespace coronet::coro {

struct FramePoolStats {
  std::uint64_t pool_hits = 0;        // allocations served from the free lists
  std::uint64_t global_allocs = 0;    // allocations that had to call ::operator new
  std::uint64_t global_frees = 0;     // frees returned to ::operator delete (list full or too big)
  std::uint64_t cached_blocks = 0;    // blocks currently parked in the free lists
};

// Statistics of the calling thread's pool.
FramePoolStats frame_pool_stats();

// Returns every cached block of the calling thread to the global allocator.
void frame_pool_trim();

namespace detail {

// Size classes are multiples of kFrameGranule up to kFrameMaxPooled; larger frames bypass the pool.
inline constexpr std::size_t kFrameGranule = 64;
inline constexpr std::size_t kFrameMaxPooled = 4096;
// Cap per size class so a burst (say a million-deep await chain) does not pin memory forever.
inline constexpr std::size_t kFrameMaxCachedPerClass = 16384;

void* frame_alloc(std::size_t size);
void frame_free(void* p, std::size_t size) noexcept;

}  // namespace detail
}  // namespace coronet::coro
