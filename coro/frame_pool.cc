#include "coro/frame_pool.h"

#include <array>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CORONET_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define CORONET_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define CORONET_POISON(p, n) ((void)(p), (void)(n))
#define CORONET_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace coronet::coro {
namespace {

constexpr std::size_t kClasses = detail::kFrameMaxPooled / detail::kFrameGranule;

struct FreeBlock {
  FreeBlock* next;
};

// Frames may be freed on a different thread than the one that allocated them (a task handed to
// another core); each block simply joins the freeing thread's list. Blocks are individually
// obtained from ::operator new, so any thread may hand any block back to the global allocator.
class Pool {
 public:
  ~Pool() {
    trim();
    destroyed = true;
  }

  void* alloc(std::size_t cls) {
    FreeBlock* b = heads_[cls];
    if (b != nullptr) {
      CORONET_UNPOISON(b, (cls + 1) * detail::kFrameGranule);
      heads_[cls] = b->next;
      --counts_[cls];
      --stats_.cached_blocks;
      ++stats_.pool_hits;
      return b;
    }
    ++stats_.global_allocs;
    return ::operator new((cls + 1) * detail::kFrameGranule);
  }

  void free(void* p, std::size_t cls) {
    if (counts_[cls] >= detail::kFrameMaxCachedPerClass) {
      ++stats_.global_frees;
      ::operator delete(p);
      return;
    }
    auto* b = static_cast<FreeBlock*>(p);
    b->next = heads_[cls];
    heads_[cls] = b;
    ++counts_[cls];
    ++stats_.cached_blocks;
    // Under ASan a cached frame is poisoned, so a use after destroy is still reported.
    CORONET_POISON(b, (cls + 1) * detail::kFrameGranule);
  }

  void trim() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = heads_[c]) {
        CORONET_UNPOISON(b, (c + 1) * detail::kFrameGranule);
        heads_[c] = b->next;
        ::operator delete(b);
        ++stats_.global_frees;
      }
      counts_[c] = 0;
    }
    stats_.cached_blocks = 0;
  }

  FramePoolStats stats() const { return stats_; }
  void count_bypass_alloc() { ++stats_.global_allocs; }
  void count_bypass_free() { ++stats_.global_frees; }

  // Set once the thread's pool is gone (thread exit): later frees go straight to the allocator.
  static thread_local bool destroyed;

 private:
  std::array<FreeBlock*, kClasses> heads_{};
  std::array<std::size_t, kClasses> counts_{};
  FramePoolStats stats_;
};

thread_local bool Pool::destroyed = false;
thread_local Pool tls_pool;

inline std::size_t size_class(std::size_t size) {
  return (size + detail::kFrameGranule - 1) / detail::kFrameGranule - 1;
}

}  // namespace

FramePoolStats frame_pool_stats() { return tls_pool.stats(); }

void frame_pool_trim() { tls_pool.trim(); }

namespace detail {

void* frame_alloc(std::size_t size) {
  if (Pool::destroyed) return ::operator new(size);
  if (size > kFrameMaxPooled) {
    tls_pool.count_bypass_alloc();
    return ::operator new(size);
  }
  return tls_pool.alloc(size_class(size));
}

void frame_free(void* p, std::size_t size) noexcept {
  if (Pool::destroyed) {
    ::operator delete(p);
    return;
  }
  if (size > kFrameMaxPooled) {
    tls_pool.count_bypass_free();
    ::operator delete(p);
    return;
  }
  tls_pool.free(p, size_class(size));
}

}  // namespace detail
}  // namespace coronet::coro
