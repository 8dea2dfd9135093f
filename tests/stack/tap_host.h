// A coronet host on a TAP device whose kernel side sits in a network namespace this process made,
// for bulk transfers between coronet's TCP and the kernel's under impairment, plus what such runs
// need around it:
//  - kernel-side loss (this kernel has no sch_netem, see DESIGN.md): nftables rules in the
//    namespace that drop a random share of TCP on the input and the output hook, or a Linux
//    bridge between the TAP and the kernel that drops a random share of the frames it forwards;
//  - coronet-side impairment: nic::ImpairedDevice around the TAP (loss, duplication, reordering,
//    delay with jitter, corruption), per direction;
//  - kernel sockets that time out on a stall (no progress for a while) and can be told to give up;
//  - byte streams checked byte for byte on the receiving side;
//  - namespaces removed even when the process is stopped by SIGINT/SIGTERM/SIGHUP.
// Needs root. Used by tests/stack/tcp_kernel_impair_test.cc and benchmarks/tcp_tap_bench.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "coro/reactor.h"
#include "coro/result.h"
#include "coro/task.h"
#include "nic/impair/impaired_device.h"
#include "nic/tap/tap_device.h"
#include "stack/engine.h"
#include "stack/net/ipv4_addr.h"
#include "stack/tcp/socket.h"
#include "stack/tcp/tcp_layer.h"
#include "tests/netns/netns.h"

namespace coronet::testing {

// ---------------------------------------------------------------------------------------------
// Stream contents.

// The bytes of one test stream. kExact: byte i is pattern(seed, i) (sim_hosts.h), computed per
// byte. kPeriodic: byte i is pattern(seed, i % kPeriod), filled and checked with memcpy/memcmp, for
// benchmarks where per-byte work would show in the numbers. kPeriod is prime, so no segment or
// buffer size lines up with it and a misplaced run of bytes still shows.
class ByteStream {
 public:
  enum class Mode : std::uint8_t { kExact, kPeriodic };
  static constexpr std::size_t kPeriod = 65521;

  ByteStream(std::uint64_t seed, Mode mode);

  // Bytes [offset, offset + out.size()) of the stream.
  void fill(std::uint64_t offset, std::span<std::byte> out) const;
  // The stream offset of the first byte of `got` (which holds the bytes from `offset` on) that
  // differs from the stream; nullopt when all match.
  std::optional<std::uint64_t> first_mismatch(std::uint64_t offset,
                                              std::span<const std::byte> got) const;

 private:
  std::uint64_t seed_;
  Mode mode_;
  std::vector<std::byte> table_;  // kPeriodic only: one period
};

// ---------------------------------------------------------------------------------------------
// Kernel-side impairment and cleanup.

// The nftables ruleset (table inet coronet_loss) that drops a random `share` of IPv4 TCP frames on
// the input hook and on the output hook. `meta random & 0xffff < share * 65536` per frame.
//
// Mind what the two hooks do to the kernel's own TCP: an input-hook drop is a lost frame, but an
// output-hook drop happens before the packet leaves the host, and the kernel's TCP learns of it
// from the failed transmit at once: it sends the same data again later without counting a
// retransmission (RetransSegs stays put), and what is dropped is a whole GSO super-packet. So
// these rules lose the peer's frames; the kernel's own frames are held up, not lost. For loss in
// both directions that neither kernel notices, drop on a bridge in between (bridge_loss_ruleset).
std::string kernel_loss_ruleset(double share);
// Writes the ruleset to a file, loads it with `nft -f` inside `ns`, removes the file.
Result<void> install_kernel_loss(const NetNs& ns, double share);
struct KernelDrops {
  std::uint64_t input = 0;   // frames dropped on the way in (sent by the peer)
  std::uint64_t output = 0;  // packets dropped on the way out (sent by this kernel)
};
// The rules' counters; zeros when the table is missing.
KernelDrops kernel_loss_drops(const NetNs& ns);

// The same random drop in the forward hook of a Linux bridge (table bridge coronet_loss): TCP
// frames crossing the bridge either way. The bridge forwards frames, not sockets' packets, so the
// senders see these drops only as missing ACKs: loss on the wire.
std::string bridge_loss_ruleset(double share);
Result<void> install_bridge_loss(const NetNs& ns, double share);
// Frames the bridge rule dropped (both directions together).
std::uint64_t bridge_loss_drops(const NetNs& ns);

// TCP segments the namespace's kernel retransmitted (RetransSegs in /proc/net/snmp).
std::uint64_t kernel_retransmits(const NetNs& ns);
// Turns off segmentation offloads (GSO, TSO, GRO) on `ifname` inside `ns`: frames cross the link
// as single segments (so a drop on a bridge or at the receiver's input hook loses one segment) and
// arriving frames are not merged before the input hook. (The sender's output hook still sees TCP's
// super-packets: they are split after it.)
Result<void> disable_segment_offloads(const NetNs& ns, const std::string& ifname);

// Deletes namespace `name` if the process gets SIGINT, SIGTERM or SIGHUP (then exits with
// 128 + signal). The first call blocks those signals in the calling thread (threads it starts
// later inherit that) and starts a thread that waits for them; call it from the main thread before
// starting others. forget_namespace_on_signal() undoes one registration (the owner deleted it).
void remove_namespace_on_signal(const std::string& name);
void forget_namespace_on_signal(const std::string& name);

// A namespace that is also removed on a fatal signal (see above). Deleted on destruction.
class GuardedNetNs {
 public:
  static Result<std::unique_ptr<GuardedNetNs>> create(const std::string& tag);
  ~GuardedNetNs();
  const NetNs& ns() const { return ns_; }

 private:
  explicit GuardedNetNs(NetNs ns) : ns_(std::move(ns)) {}
  NetNs ns_;
};

// ---------------------------------------------------------------------------------------------
// The coronet host.

struct TapHostConfig {
  std::string ns_tag;               // the kernel's namespace is "coronet-<ns_tag>-<pid>"
  std::string ifname;               // the TAP interface
  stack::Ipv4Address kernel_addr;   // the kernel's address (a /24)
  stack::Ipv4Address coronet_addr;  // coronet's
  double kernel_loss = 0.0;         // kernel_loss_ruleset() share in the kernel's namespace
  bool kernel_offloads = true;      // false: GSO/TSO/GRO off on the kernel's interface
  // false: the TAP is the kernel's interface, in its namespace. true: the TAP is a port of a Linux
  // bridge in a second namespace ("<ns_tag>-br"), whose other port is a veth to the kernel's
  // namespace; the kernel's address is on its end of the veth.
  bool bridged = false;
  double bridge_loss = 0.0;           // bridged: bridge_loss_ruleset() share on the bridge
  nic::ImpairmentConfig impair_tx{};  // coronet -> kernel (inactive: pass-through)
  nic::ImpairmentConfig impair_rx{};  // kernel -> coronet
  stack::tcp::TcpConfig tcp{};
  std::uint32_t pool_packets = 8192;
  coro::ReactorOptions reactor{};  // a real-time clock always (the clock field is ignored)
};

// Namespace(s), TAP (kernel side addressed and up, or bridged), a real-time reactor, the optional
// impairment layer, an engine and TCP. Everything is torn down in reverse on destruction,
// namespaces last.
class TapHost {
 public:
  static Result<std::unique_ptr<TapHost>> create(const TapHostConfig& config);
  ~TapHost();
  TapHost(const TapHost&) = delete;
  TapHost& operator=(const TapHost&) = delete;

  // The kernel peer's namespace.
  const NetNs& ns() const { return guard_->ns(); }
  // The bridge's namespace, or null when not bridged.
  const NetNs* bridge_ns() const { return bridge_ ? &bridge_->ns() : nullptr; }
  const TapHostConfig& config() const { return config_; }
  coro::Reactor& reactor() { return *reactor_; }
  stack::tcp::TcpLayer& tcp() { return *tcp_; }
  // The impairment layer, or null when neither direction is impaired.
  nic::ImpairedDevice* impaired() { return impaired_.get(); }

  // One paragraph of counters (impairment layer, coronet TCP, nftables drops, kernel
  // retransmissions).
  std::string counters();

 private:
  explicit TapHost(TapHostConfig config) : config_(std::move(config)) {}

  TapHostConfig config_;
  std::unique_ptr<GuardedNetNs> guard_;
  std::unique_ptr<GuardedNetNs> bridge_;
  std::unique_ptr<nic::TapDevice> tap_;
  std::unique_ptr<coro::Reactor> reactor_;
  std::unique_ptr<nic::ImpairedDevice> impaired_;
  std::unique_ptr<stack::Engine> engine_;
  std::unique_ptr<stack::tcp::TcpLayer> tcp_;
};

// ---------------------------------------------------------------------------------------------
// Kernel sockets (blocking, on a thread inside the namespace). Every wait is sliced into 1 s steps
// so that `stop` (may be null) is honoured within a second; `stall` bounds the time without
// progress.

struct Transfer {
  std::uint64_t bytes = 0;
  double seconds = 0;  // from the call to the last byte (send) or to EOF (receive)
  std::string error;   // empty on success
  bool ok() const { return error.empty(); }
  double mb_per_s() const { return seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0; }
};

// Connects to `to`; the fd, or -1 with `error` set.
int kernel_connect_within(stack::Endpoint to, std::chrono::seconds limit, std::string* error);
// Listens on `at`; the fd, or -1 with `error` set.
int kernel_listen_at(stack::Endpoint at, std::string* error);
// Accepts one connection; the fd, or -1 with `error` set.
int kernel_accept_within(int listen_fd, std::chrono::seconds limit, const std::atomic<bool>* stop,
                         std::string* error);
// Sends `total` bytes of `stream`.
Transfer kernel_send(int fd, const ByteStream& stream, std::uint64_t total,
                     std::chrono::seconds stall, const std::atomic<bool>* stop);
// Receives to EOF, checking every byte against `stream`.
Transfer kernel_receive(int fd, const ByteStream& stream, std::chrono::seconds stall,
                        const std::atomic<bool>* stop);

// ---------------------------------------------------------------------------------------------
// coronet sockets. Each read or write that makes no progress for `stall` fails with a message
// naming the byte count reached.

coro::Task<Transfer> coronet_send(stack::tcp::Connection& c, const ByteStream& stream,
                                  std::uint64_t total, coro::Duration stall,
                                  std::size_t chunk = 65536);
coro::Task<Transfer> coronet_receive(stack::tcp::Connection& c, const ByteStream& stream,
                                     coro::Duration stall, std::size_t chunk = 65536);

// ---------------------------------------------------------------------------------------------
// Whole bulk transfers: one connection, `total` bytes of `stream` one way, checked on arrival.
// The receiver listens on `port`; its clock (accept to EOF) is the measurement. A side that makes
// no progress for `stall` gives up, and the whole transfer is abandoned after `limit`.

struct Bulk {
  Transfer sent;      // the sender's view
  Transfer received;  // the receiver's view: bytes that arrived intact, seconds from accept to EOF
  std::string error;  // what went wrong (both sides' errors if both failed); empty on success
  bool ok() const { return error.empty(); }
};

// Linux connects, sends and half-closes; coronet reads to EOF, then closes (Linux waits for that).
Bulk linux_to_coronet(TapHost& h, std::uint16_t port, const ByteStream& stream, std::uint64_t total,
                      std::chrono::seconds stall, std::chrono::seconds limit);
// coronet connects, sends and closes; Linux reads to EOF.
Bulk coronet_to_linux(TapHost& h, std::uint16_t port, const ByteStream& stream, std::uint64_t total,
                      std::chrono::seconds stall, std::chrono::seconds limit);
// Between two namespaces: a thread in `sender_ns` connects to `receiver` (a thread listening in
// `receiver_ns`), sends and closes.
Bulk linux_to_linux(const NetNs& sender_ns, const NetNs& receiver_ns, stack::Endpoint receiver,
                    const ByteStream& stream, std::uint64_t total, std::chrono::seconds stall,
                    std::chrono::seconds limit);

}  // namespace coronet::testing
