// Bulk TCP throughput of coronet against Linux's own, measured in one run (needs root):
//   bazel run --config=opt //benchmarks:tcp_tap_bench [-- --mib 64 --loss 0.05 --runs 3]
//
// Two pairs, each with one end played by "Linux" (the kernel's TCP in a namespace made here) and
// the other by the peer under test:
//   coronet <-> Linux: coronet's TCP on a TAP device (Linux 198.18.6.17, coronet .18);
//   Linux   <-> Linux: the kernel's TCP on the far end of a veth (Linux .33, peer .34).
// Each pair moves --mib MiB each way, one connection per direction; the receiver listens and its
// clock runs from accept to EOF; every byte is checked (memcmp against a periodic pattern).
//
// Links, in this order:
//   clean        the TAP or veth directly, offloads as the kernel sets them (Linux at its best);
//   nft hooks    the same, with the DESIGN.md loss recipe in the Linux namespace: --loss of TCP
//                dropped by nftables on the input and on the output hook (tests/stack/tap_host.h
//                explains why only the input-hook drops are real loss: the kernel's TCP resends
//                its own output-hook drops at once without counting a loss);
//   bridged      a Linux bridge in a third namespace between the two ends (TAP or veth on one
//                port, a veth to the Linux namespace on the other), no loss;
//   bridge loss  the same bridge dropping --loss of the TCP frames it forwards, both ways: wire
//                loss neither end hears about.
// On every link but "clean" GSO/TSO/GRO are off on the kernel interfaces, so frames cross as single
// segments and a drop loses one. The ratio column is coronet/Linux: the peer's TCP being coronet
// instead of Linux, all else equal. MB/s are 10^6 bytes per second, medians over --runs. A shared
// VM is noisy: repeat and compare medians. A failed transfer (stall, time limit, wrong byte) shows
// as FAILED and makes the exit status 1.
//
// Options: --mib N, --loss P (0 skips the lossy links), --runs N, --busy-poll (coronet's reactor
// never sleeps), --stall S (seconds without progress before a transfer is given up, default 60),
// --limit S (seconds per transfer, default 900), --linux-cc NAME (the kernel's congestion control
// in the namespaces made here, one of tcp_allowed_congestion_control, e.g. reno for a loss-based
// sender like coronet's; default: the system's, often bbr).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/netns/netns.h"
#include "tests/stack/tap_host.h"

namespace coronet::testing {
namespace {

constexpr stack::Ipv4Address kTapLinux{198, 18, 6, 17};
constexpr stack::Ipv4Address kTapCoronet{198, 18, 6, 18};
constexpr stack::Ipv4Address kVethLinux{198, 18, 6, 33};
constexpr stack::Ipv4Address kVethPeer{198, 18, 6, 34};

struct Options {
  std::uint64_t mib = 64;
  double loss = 0.05;
  int runs = 1;
  bool busy_poll = false;
  std::chrono::seconds stall{60};
  std::chrono::seconds limit{900};
  std::string linux_cc;  // empty: the system default
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "tcp_tap_bench: %s\nusage: tcp_tap_bench [--mib N] [--loss P] [--runs N] "
               "[--busy-poll] [--stall S] [--limit S] [--linux-cc NAME]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--mib") {
      o.mib = std::strtoull(value(), nullptr, 10);
    } else if (a == "--loss") {
      o.loss = std::strtod(value(), nullptr);
    } else if (a == "--runs") {
      o.runs = std::atoi(value());
    } else if (a == "--busy-poll") {
      o.busy_poll = true;
    } else if (a == "--stall") {
      o.stall = std::chrono::seconds(std::atoi(value()));
    } else if (a == "--limit") {
      o.limit = std::chrono::seconds(std::atoi(value()));
    } else if (a == "--linux-cc") {
      o.linux_cc = value();
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (o.mib == 0 || o.runs < 1 || o.loss < 0 || o.loss >= 1 || o.stall.count() < 1 ||
      o.limit.count() < 1) {
    usage("bad option value");
  }
  return o;
}

struct Link {
  const char* name;
  bool bridged;
  bool hook_loss;    // the nftables input/output rules in the Linux namespace
  bool bridge_loss;  // the nftables rule on the bridge
  bool offloads;     // GSO/TSO/GRO left on
};
constexpr Link kLinks[] = {
    {"clean", false, false, false, true},
    {"nft hooks", false, true, false, false},
    {"bridged", true, false, false, false},
    {"bridge loss", true, false, true, false},
};
constexpr int kLinkCount = sizeof(kLinks) / sizeof(kLinks[0]);
bool lossy(const Link& l) { return l.hook_loss || l.bridge_loss; }

enum Direction { kFromLinux, kToLinux, kDirections };
enum Pair { kCoronet, kLinux, kPairs };

struct Cell {
  std::vector<double> mb_per_s;  // one per successful run
  std::string error;             // the last failure, if any
};

struct Results {
  Cell cell[kLinkCount][kDirections][kPairs];
  bool failed = false;

  void add(int link, Direction d, Pair p, const Bulk& b, int run) {
    static const char* kDir[] = {"Linux -> peer", "peer -> Linux"};
    static const char* kPair[] = {"coronet", "Linux"};
    Cell& x = cell[link][d][p];
    if (b.ok()) {
      x.mb_per_s.push_back(b.received.mb_per_s());
      std::fprintf(stderr, "run %d, %s, %s, peer %s: %.2f s, %.1f MB/s\n", run + 1,
                   kLinks[link].name, kDir[d], kPair[p], b.received.seconds, b.received.mb_per_s());
    } else {
      x.error = b.error;
      failed = true;
      std::fprintf(stderr, "run %d, %s, %s, peer %s: FAILED: %s\n", run + 1, kLinks[link].name,
                   kDir[d], kPair[p], b.error.c_str());
    }
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string show(const Cell& c) {
  if (c.mb_per_s.empty()) return "FAILED";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", median(c.mb_per_s));
  return buf;
}

// --linux-cc: the congestion control of new sockets in `ns` (the sysctl is per namespace).
Result<void> set_linux_cc(const NetNs& ns, const Options& o) {
  if (o.linux_cc.empty()) return {};
  auto r = ns.exec("sysctl -qw net.ipv4.tcp_congestion_control=" + o.linux_cc);
  if (!r) {
    return Error(r.error().code(), "--linux-cc " + o.linux_cc + ": " + r.error().message() +
                                       " (a namespace may pick only what "
                                       "/proc/sys/net/ipv4/tcp_allowed_congestion_control lists)");
  }
  return {};
}

// coronet <-> Linux over TAP, both directions, on one link. A set-up failure is returned (the
// namespaces made so far are gone by then).
Result<void> run_tap(const Options& o, int link, int run, Results& r) {
  const Link& l = kLinks[link];
  TapHostConfig c;
  c.ns_tag = "tapbench";
  c.ifname = "cntb0";
  c.kernel_addr = kTapLinux;
  c.coronet_addr = kTapCoronet;
  c.kernel_offloads = l.offloads;
  c.kernel_loss = l.hook_loss ? o.loss : 0.0;
  c.bridged = l.bridged;
  c.bridge_loss = l.bridge_loss ? o.loss : 0.0;
  if (o.busy_poll) c.reactor.idle = coro::IdleMode::kBusyPoll;
  auto h = TapHost::create(c);
  if (!h) return Error(h.error().code(), "TAP set-up: " + h.error().message());
  if (auto cc = set_linux_cc((*h)->ns(), o); !cc) return cc.error();
  const std::uint64_t total = o.mib << 20;
  const ByteStream down(0x61, ByteStream::Mode::kPeriodic);
  const ByteStream up(0x62, ByteStream::Mode::kPeriodic);
  r.add(link, kFromLinux, kCoronet, linux_to_coronet(**h, 7200, down, total, o.stall, o.limit),
        run);
  r.add(link, kToLinux, kCoronet, coronet_to_linux(**h, 7201, up, total, o.stall, o.limit), run);
  std::fprintf(stderr, "%s", (*h)->counters().c_str());
  return {};
}

// Linux <-> Linux over veth, both directions, on one link. Namespace a is "Linux" (it carries the
// hook rules, as the kernel's namespace does in the TAP case), b the peer, and the bridge, if any,
// sits in a third.
Result<void> run_veth(const Options& o, int link, int run, Results& r) {
  const Link& l = kLinks[link];
  auto a = GuardedNetNs::create("vethbench-a");
  if (!a) return a.error();
  auto b = GuardedNetNs::create("vethbench-b");
  if (!b) return b.error();
  std::unique_ptr<GuardedNetNs> bridge;
  if (l.bridged) {
    auto g = GuardedNetNs::create("vethbench-br");
    if (!g) return g.error();
    bridge = std::move(*g);
  }
  const NetNs& na = (*a)->ns();
  const NetNs& nb = (*b)->ns();
  const std::string no_v6 = "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6";
  // Interfaces: a's cnva0 and b's cnvb0; bridged, their peers cnvr0/cnvr1 are the bridge's ports.
  Result<std::string> s = std::string();
  if (l.bridged) {
    const NetNs& nr = bridge->ns();
    s = shell("ip link add cnva0 netns " + na.name() + " type veth peer name cnvr0 netns " +
              nr.name());
    if (s) {
      s = shell("ip link add cnvb0 netns " + nb.name() + " type veth peer name cnvr1 netns " +
                nr.name());
    }
    if (s) {
      s = nr.exec(no_v6 +
                  " && ip link add br0 type bridge && ip link set cnvr0 master br0 && ip link "
                  "set cnvr1 master br0 && ip link set cnvr0 up && ip link set cnvr1 up && ip "
                  "link set br0 up");
    }
  } else {
    s = shell("ip link add cnva0 netns " + na.name() + " type veth peer name cnvb0 netns " +
              nb.name());
  }
  if (s) {
    s = na.exec(no_v6 + " && ip addr add " + kVethLinux.to_string() +
                "/24 dev cnva0 && ip link set cnva0 up");
  }
  if (s) {
    s = nb.exec(no_v6 + " && ip addr add " + kVethPeer.to_string() +
                "/24 dev cnvb0 && ip link set cnvb0 up");
  }
  if (!s) return s.error();
  Result<void> v{};
  if (!l.offloads) {
    v = disable_segment_offloads(na, "cnva0");
    if (v) v = disable_segment_offloads(nb, "cnvb0");
    if (v && l.bridged) v = disable_segment_offloads(bridge->ns(), "cnvr0");
    if (v && l.bridged) v = disable_segment_offloads(bridge->ns(), "cnvr1");
  }
  if (v) v = set_linux_cc(na, o);
  if (v) v = set_linux_cc(nb, o);
  if (v && l.hook_loss) v = install_kernel_loss(na, o.loss);
  if (v && l.bridge_loss) v = install_bridge_loss(bridge->ns(), o.loss);
  if (!v) return v.error();

  const std::uint64_t total = o.mib << 20;
  const ByteStream down(0x61, ByteStream::Mode::kPeriodic);
  const ByteStream up(0x62, ByteStream::Mode::kPeriodic);
  r.add(link, kFromLinux, kLinux,
        linux_to_linux(na, nb, {kVethPeer, 7300}, down, total, o.stall, o.limit), run);
  r.add(link, kToLinux, kLinux,
        linux_to_linux(nb, na, {kVethLinux, 7301}, up, total, o.stall, o.limit), run);
  const KernelDrops d = kernel_loss_drops(na);
  std::fprintf(stderr,
               "  veth: nft drops in %llu out %llu, bridge drops %llu, retransmitted segments "
               "%llu (Linux) %llu (peer)\n",
               static_cast<unsigned long long>(d.input), static_cast<unsigned long long>(d.output),
               static_cast<unsigned long long>(bridge ? bridge_loss_drops(bridge->ns()) : 0),
               static_cast<unsigned long long>(kernel_retransmits(na)),
               static_cast<unsigned long long>(kernel_retransmits(nb)));
  return {};
}

std::string kernel_cc() {
  auto r = shell("cat /proc/sys/net/ipv4/tcp_congestion_control");
  if (!r) return "?";
  std::string s = *r;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "tcp_tap_bench: needs root (network namespaces, TAP, nftables)\n");
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  Results r;
  for (int run = 0; run < o.runs; ++run) {
    for (int link = 0; link < kLinkCount; ++link) {
      if (o.loss == 0 && lossy(kLinks[link])) continue;
      Result<void> s = run_tap(o, link, run, r);
      if (s) s = run_veth(o, link, run, r);
      if (!s) {
        std::fprintf(stderr, "tcp_tap_bench: set-up failed: %s\n", s.error().message().c_str());
        return 1;
      }
    }
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf(
      "\nBulk TCP, %llu MiB per transfer, one connection, MB/s = 10^6 B/s, median of %d "
      "run(s); loss %.3g%%; Linux congestion control: %s; %s coronet reactor\n",
      static_cast<unsigned long long>(o.mib), o.runs, o.loss * 100,
      o.linux_cc.empty() ? kernel_cc().c_str() : o.linux_cc.c_str(),
      o.busy_poll ? "busy-polling" : "sleeping");
  std::printf("%-12s %-15s %12s %12s %15s\n", "link", "direction", "coronet", "Linux",
              "coronet/Linux");
  for (int link = 0; link < kLinkCount; ++link) {
    if (o.loss == 0 && lossy(kLinks[link])) continue;
    for (int d = 0; d < kDirections; ++d) {
      const Cell& co = r.cell[link][d][kCoronet];
      const Cell& li = r.cell[link][d][kLinux];
      std::string ratio = "-";
      if (!co.mb_per_s.empty() && !li.mb_per_s.empty() && median(li.mb_per_s) > 0) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.3f", median(co.mb_per_s) / median(li.mb_per_s));
        ratio = buf;
      }
      std::printf("%-12s %-15s %12s %12s %15s\n", kLinks[link].name,
                  d == kFromLinux ? "Linux -> peer" : "peer -> Linux", show(co).c_str(),
                  show(li).c_str(), ratio.c_str());
    }
  }
  std::printf("(peer: coronet over TAP, or Linux over veth; whole run %.0f s)\n", took);
  for (int link = 0; link < kLinkCount; ++link) {
    for (int d = 0; d < kDirections; ++d) {
      for (int p = 0; p < kPairs; ++p) {
        if (!r.cell[link][d][p].error.empty()) {
          std::printf("failure: %s\n", r.cell[link][d][p].error.c_str());
        }
      }
    }
  }
  return r.failed ? 1 : 0;
}

}  // namespace
}  // namespace coronet::testing

int main(int argc, char** argv) { return coronet::testing::run(argc, argv); }
