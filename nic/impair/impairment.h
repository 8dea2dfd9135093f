// Network impairments for one direction of a link: loss, duplication, reordering, delay with
// jitter, a bandwidth limit and bit corruption, all decided by a seeded PRNG so that a run can be
// replayed bit for bit. The kernel here has no sch_netem (see DESIGN.md), so this is coronet's own
// netem; ImpairedDevice wraps any Device with it and the in-memory Wire uses it per direction.
//
// An Impairer is a queue with opinions: frames go in with submit(now) and come out of release(now)
// once due. It is single-threaded, allocates only at construction, and owns every frame it holds
// (frames it drops are freed to their pools at once).
//
// Per frame, in this fixed order (the order is part of the replay contract):
//   1. loss       with probability `loss` the frame is freed and counted as dropped;
//   2. corrupt    with probability `corrupt` one uniformly chosen bit of the frame is flipped;
//   3. duplicate  with probability `duplicate` a copy (PacketPool::clone from the frame's own pool)
//                 follows the original through steps 4-6; an exhausted pool is counted and the copy
//                 skipped;
//   4. bandwidth  the frame occupies the link for size*8/bandwidth_bps after the previous frame
//                 finishes (frame bytes only: no preamble or inter-frame gap);
//   5. delay      it arrives `delay` +/- a uniform jitter later; jitter never reorders (a frame is
//                 never due before the frame in front of it), reordering is step 6's job alone;
//   6. reorder    with probability `reorder` the frame is held back until k later frames have
//                 overtaken it (k uniform in 1..reorder_depth), then goes right behind the k-th.
//                 Frames due more than `reorder_timeout` after it do not overtake it: it leaves at
//                 that deadline instead, so the tail of a burst is late but never stuck. A held
//                 frame is thus overtaken by at most reorder_depth later frames and never
//                 overtakes an earlier one (a later held frame released first counts as one of
//                 its overtakers).
// A random number is drawn for a step only when the step is enabled (cheap pass-through for the
// common case), so the decisions depend on the whole configuration: a replay needs the same config,
// the same seed and the same input at the same times.
//
// Probabilities come from std::mt19937_64's raw 64-bit output (its sequence is fixed by the C++
// standard) compared against p * 2^64, never from std::uniform_*_distribution, whose algorithms
// differ between standard libraries.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "coro/clock.h"
#include "nic/impair/bounded_fifo.h"
#include "nic/packet.h"

namespace coronet::nic {

struct ImpairmentConfig {
  double loss = 0.0;                // probability a frame is lost
  double duplicate = 0.0;           // probability a frame is delivered twice
  double reorder = 0.0;             // probability a frame is overtaken by later ones
  unsigned reorder_depth = 3;       // at most this many later frames overtake a held frame
  coro::Duration delay{0};          // one-way latency
  coro::Duration jitter{0};         // latency varies uniformly in [delay - jitter, delay + jitter]
  std::uint64_t bandwidth_bps = 0;  // serialisation rate in bits/s; 0 = unlimited
  double corrupt = 0.0;             // probability one random bit of the frame is flipped
  std::uint64_t seed = 1;
  // Frames waiting at once (delayed, serialising or held); more are dropped as queue overflow.
  std::uint32_t queue_limit = 1024;
  // A held (reordered) frame is released at the latest this long after it was due.
  coro::Duration reorder_timeout = std::chrono::milliseconds(1);

  // True when any knob would change a frame's fate or timing.
  bool active() const {
    return loss > 0 || duplicate > 0 || (reorder > 0 && reorder_depth > 0) || delay.count() > 0 ||
           jitter.count() > 0 || bandwidth_bps > 0 || corrupt > 0;
  }
};

struct ImpairmentStats {
  std::uint64_t submitted = 0;         // frames handed to submit()
  std::uint64_t released = 0;          // frames (copies included) handed out by release()
  std::uint64_t dropped = 0;           // lost on purpose (`loss`)
  std::uint64_t duplicated = 0;        // extra copies made
  std::uint64_t duplicate_failed = 0;  // copies skipped because the pool was exhausted
  std::uint64_t reordered = 0;         // held frames that at least one later frame overtook
  std::uint64_t corrupted = 0;         // frames with a flipped bit
  std::uint64_t corrupt_failed = 0;    // shared frames left intact: no buffer for a private copy
  std::uint64_t delayed = 0;           // frames (copies included) not due at submission time
  std::uint64_t queue_overflow = 0;    // frames dropped because queue_limit frames were waiting
  std::uint64_t flushed = 0;           // frames discarded by flush()
};

// Decisions from a seeded mt19937_64, reproducible on every standard library.
class DecisionRng {
 public:
  explicit DecisionRng(std::uint64_t seed) : gen_(seed) {}

  // p as a threshold on a raw 64-bit draw: p * 2^64 is exact in double arithmetic (a power-of-two
  // scale), and below 1.0 it is at most 2^64 - 2^11, so kAlways is free to mean "p >= 1".
  static constexpr std::uint64_t kAlways = ~std::uint64_t{0};
  static std::uint64_t threshold(double p) {
    if (!(p > 0.0)) return 0;  // also catches NaN
    if (p >= 1.0) return kAlways;
    return static_cast<std::uint64_t>(p * 18446744073709551616.0);
  }
  // One draw; true with the probability `t` stands for.
  bool chance(std::uint64_t t) {
    std::uint64_t u = gen_();
    return t == kAlways || u < t;
  }
  // Uniform in [0, n) by multiply-shift (Lemire); the bias for n << 2^64 is negligible.
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(gen_()) * n) >> 64);
  }

 private:
  std::mt19937_64 gen_;
};

// A per-queue seed for queue `q` derived from `seed` (queue 0 keeps it), so that queues of one
// device make independent decisions that are still fixed by the one configured seed.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t q);

class Impairer {
 public:
  struct Delivery {
    Packet* packet;
    coro::TimePoint at;  // when it became due: the frame's arrival time at the far end
  };
  enum class Verdict : std::uint8_t {
    kQueued,    // accepted (it may still come out late, corrupted, duplicated)
    kLost,      // dropped by `loss`
    kOverflow,  // dropped: queue_limit frames were already waiting
  };

  // Throws std::invalid_argument for probabilities outside [0, 1] or a zero queue_limit.
  explicit Impairer(const ImpairmentConfig& config);
  ~Impairer();  // frees every frame still held
  Impairer(const Impairer&) = delete;
  Impairer& operator=(const Impairer&) = delete;

  // Takes ownership of `p` (the head of a frame's chain). The verdict is for the original frame.
  Verdict submit(Packet* p, coro::TimePoint now);
  // Hands out frames due at or before `now`, earliest first, up to out.size(); returns how many.
  // Delivery times never decrease from one delivery to the next.
  std::size_t release(coro::TimePoint now, std::span<Delivery> out);
  // When the next frame becomes due; nullopt when nothing is queued.
  std::optional<coro::TimePoint> next_release() const;
  // Frees everything queued (e.g. a link going down); returns how many frames, counted as flushed.
  std::size_t flush();

  std::size_t queued() const { return fifo_.size() + held_.size(); }
  const ImpairmentStats& stats() const { return stats_; }
  const ImpairmentConfig& config() const { return config_; }

 private:
  struct Held {
    Packet* packet;
    coro::TimePoint at;        // when it would have been due without reordering
    coro::TimePoint deadline;  // at + reorder_timeout
    std::uint32_t remaining;   // later frames still to overtake it
    std::uint32_t overtaken;   // later frames that did
  };

  Verdict enqueue(Packet* p, coro::TimePoint now);
  void push_fifo(Packet* p, coro::TimePoint at);
  void overtake_held(std::size_t n);
  void expire_front();
  // Returns the frame to send on: a private copy when `p` shares its bytes.
  Packet* flip_random_bit(Packet* p);
  coro::Duration serialisation_time(std::size_t bytes) const;

  ImpairmentConfig config_;
  DecisionRng rng_;
  std::uint64_t loss_t_, duplicate_t_, reorder_t_, corrupt_t_;
  // Invariants: due times never decrease front to back, and no FIFO entry is due after the
  // deadline of any held frame (so expired held frames can simply be appended).
  BoundedFifo<Delivery> fifo_;
  std::vector<Held> held_;     // submission order; reserved to queue_limit (no allocation later)
  coro::TimePoint last_at_{};  // due time of the newest frame submitted (order keeping)
  coro::TimePoint fifo_back_at_{};  // due time of the newest FIFO entry
  coro::TimePoint link_free_{};     // when the (bandwidth-limited) link finishes its current frame
  ImpairmentStats stats_;
};

}  // namespace coronet::nic
