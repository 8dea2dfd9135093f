// Multi-queue TapDevice and its RSS steering. The eBPF program alone first: BPF_PROG_TEST_RUN on
// thousands of frames (well-formed, truncated, fragmented, odd IHLs, other protocols) against the
// C++ RSS (Toeplitz + round-robin RETA), for several keys and queue counts. Then against the
// kernel, in a test-made namespace, once per IoMode: hundreds of kernel TCP connects whose SYNs
// must each arrive on the queue coronet's RSS predicts, non-TCP frames on queue 0, tx on every
// queue.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"
#include "nic/tap/tap_device.h"
#include "nic/tap/tap_steering.h"
#include "nic/tap/tap_test_fixture.h"

namespace coronet::nic::tap_test {
namespace {

using ::testing::HasSubstr;
using Bytes = std::vector<std::uint8_t>;

// Big-endian loads from a frame.
std::uint32_t be16(const Bytes& f, std::size_t at) {
  return (std::uint32_t{f[at]} << 8) | f[at + 1];
}
std::uint32_t be32(const Bytes& f, std::size_t at) { return (be16(f, at) << 16) | be16(f, at + 2); }

// The queue coronet's RSS predicts for a frame, written out independently of the program under
// test: the in-memory wire's steering (tests/stack/sim_hosts.cc) with ARP on queue 0 and IPv4
// fragments (MF set or a fragment offset) excluded from hashing.
std::uint16_t expected_queue(const Bytes& f, const rss::Toeplitz& hash, const rss::Reta& reta) {
  if (f.size() < 14 || be16(f, 12) != 0x0800) return 0;
  if (f.size() < 14 + 20 + 4 || f[23] != 6) return 0;
  if ((be16(f, 20) & 0x3fff) != 0) return 0;
  const std::size_t l4 = 14 + (f[14] & 0xfu) * 4;
  if (f.size() < l4 + 4) return 0;
  const rss::Ipv4Tuple t{be32(f, 26), be32(f, 30), static_cast<std::uint16_t>(be16(f, l4)),
                         static_cast<std::uint16_t>(be16(f, l4 + 2))};
  return reta.queue_of(hash.hash(t));
}

// Owns a file descriptor.
struct OwnedFd {
  int fd = -1;
  explicit OwnedFd(int f) : fd(f) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() {
    if (fd >= 0) ::close(fd);
  }
};

// Runs a socket filter on `frame` once and returns its return value (-1 on a failed syscall).
// A socket filter's test run starts at the network header (the kernel strips an Ethernet header
// with eth_type_trans() first), so a dummy Ethernet header goes in front: the program then sees
// `frame` from its first byte, as it does on tun's transmit path. Its EtherType is the local
// experimental 0x88b5: with 0x0800 the kernel refuses to run on less than an IPv4 header.
std::int64_t test_run(int prog_fd, const Bytes& frame) {
  Bytes in(14, 0);
  in[0] = 0x02;  // a unicast destination MAC (not ours: the frame counts as PACKET_OTHERHOST)
  in[12] = 0x88;
  in[13] = 0xb5;
  in.insert(in.end(), frame.begin(), frame.end());
  bpf_attr attr{};
  attr.test.prog_fd = static_cast<std::uint32_t>(prog_fd);
  attr.test.data_in = reinterpret_cast<std::uintptr_t>(in.data());
  attr.test.data_size_in = static_cast<std::uint32_t>(in.size());
  attr.test.repeat = 1;
  if (::syscall(SYS_bpf, BPF_PROG_TEST_RUN, &attr, sizeof(attr)) != 0) return -1;
  return attr.test.retval;
}

// An Ethernet + IPv4 + TCP-ports frame: `ihl` words of IP header (options filled with junk),
// then the ports and `extra` more bytes; at least 38 bytes (a 20-byte IPv4 header and ports, the
// shortest frame hashed) whatever the IHL says.
Bytes tcp_frame(std::mt19937& rng, unsigned ihl, std::size_t extra) {
  std::uniform_int_distribution<int> byte(0, 255);
  Bytes f(std::max<std::size_t>(14 + ihl * 4 + 4 + extra, 38));
  for (auto& b : f) b = static_cast<std::uint8_t>(byte(rng));
  f[12] = 0x08;
  f[13] = 0x00;
  f[14] = static_cast<std::uint8_t>(0x40 | ihl);
  f[20] = static_cast<std::uint8_t>(f[20] & 0x40);  // DF may be set; MF and offset clear
  f[21] = 0;
  f[23] = 6;
  return f;
}

// A frame from a mix meant to hit every rule of the steering: mostly hashable TCP, with mutations
// that each must send it to queue 0 (or not, for DF and odd IHLs).
Bytes random_frame(std::mt19937& rng) {
  std::uniform_int_distribution<int> pct(0, 99);
  std::uniform_int_distribution<int> byte(0, 255);
  unsigned ihl = 5;
  if (pct(rng) < 20) ihl = std::uniform_int_distribution<unsigned>(0, 15)(rng);
  Bytes f = tcp_frame(rng, ihl, std::uniform_int_distribution<std::size_t>(0, 40)(rng));
  const int mutation = pct(rng);
  if (mutation < 8) {
    f[12] = static_cast<std::uint8_t>(byte(rng));  // another EtherType (0x0806, 0x86dd, junk)
    if (pct(rng) < 50) f[13] = static_cast<std::uint8_t>(pct(rng) < 50 ? 0x06 : 0xdd);
  } else if (mutation < 16) {
    f[23] = static_cast<std::uint8_t>(pct(rng) < 50 ? 17 : byte(rng));  // UDP or anything
  } else if (mutation < 24) {
    f[20] = static_cast<std::uint8_t>(byte(rng));  // flags and fragment offset: MF, offset, DF
    f[21] = static_cast<std::uint8_t>(pct(rng) < 50 ? 0 : byte(rng));
  } else if (mutation < 36) {
    f.resize(std::uniform_int_distribution<std::size_t>(0, f.size())(rng));  // truncated
  }
  return f;
}

TEST(TapSteeringProgram, IsSmall) {
  const auto program = rss_steering_program(rss::kSymmetricKey, 4);
  EXPECT_LE(program.size(), 230u) << "2 instructions per input bit plus the header checks";
  EXPECT_THROW(rss_steering_program(rss::kSymmetricKey, 0), std::invalid_argument);
  EXPECT_THROW(rss_steering_program(rss::kSymmetricKey, 129), std::invalid_argument);
}

TEST(TapSteeringProgram, MatchesCoronetRssOnRandomFrames) {
  std::mt19937 rng(20240601);
  rss::Key random_key;
  for (auto& b : random_key) b = static_cast<std::uint8_t>(rng());
  const std::array<std::pair<const char*, rss::Key>, 3> keys = {{
      {"symmetric", rss::kSymmetricKey},
      {"microsoft", rss::kMicrosoftKey},
      {"random", random_key},
  }};
  for (const auto& [key_name, key] : keys) {
    const rss::Toeplitz hash(key);
    for (std::uint16_t queues : {2, 3, 4, 7, 64}) {
      SCOPED_TRACE(std::string(key_name) + " key, " + std::to_string(queues) + " queues");
      const rss::Reta reta = rss::Reta::round_robin(queues, 128);
      const auto program = rss_steering_program(key, queues);
      auto fd = load_socket_filter(program, "coronet_test");
      ASSERT_TRUE(fd) << fd.error().message();
      OwnedFd prog(*fd);
      std::vector<int> per_queue(queues, 0);
      int failures = 0;
      for (int i = 0; i < 2000 && failures < 5; ++i) {
        const Bytes f = random_frame(rng);
        const std::int64_t got = test_run(prog.fd, f);
        ASSERT_GE(got, 0) << "BPF_PROG_TEST_RUN: " << std::strerror(errno);
        const std::uint16_t want = expected_queue(f, hash, reta);
        if (got != want) {
          ++failures;
          ADD_FAILURE() << "frame of " << f.size() << " bytes, IHL "
                        << (f.size() > 14 ? f[14] & 0xf : -1) << ": program says " << got
                        << ", RSS says " << want;
        }
        ++per_queue[want];
      }
      for (std::uint16_t q = 0; q < queues; ++q) EXPECT_GT(per_queue[q], 0) << "queue " << q;
    }
  }
}

TEST(TapSteeringProgram, EdgesOfTheRules) {
  const rss::Toeplitz hash(rss::kSymmetricKey);
  const std::uint16_t queues = 4;
  const rss::Reta reta = rss::Reta::round_robin(queues, 128);
  auto fd = load_socket_filter(rss_steering_program(rss::kSymmetricKey, queues), "coronet_test");
  ASSERT_TRUE(fd) << fd.error().message();
  OwnedFd prog(*fd);
  std::mt19937 rng(7);
  // A TCP frame (of some IHL) whose RSS queue is not 0, so that "queue 0" below means "not hashed".
  auto nonzero = [&](unsigned ihl, std::size_t extra) {
    for (;;) {
      Bytes f = tcp_frame(rng, ihl, extra);
      if (expected_queue(f, hash, reta) != 0) return f;
    }
  };
  for (unsigned ihl : {5u, 6u, 15u}) {
    SCOPED_TRACE("IHL " + std::to_string(ihl));
    Bytes f = nonzero(ihl, 0);  // ends exactly with the ports
    EXPECT_EQ(test_run(prog.fd, f), expected_queue(f, hash, reta));
    Bytes cut(f.begin(), f.end() - 1);  // one byte short of the destination port
    EXPECT_EQ(test_run(prog.fd, cut), 0);
    Bytes df = f;
    df[20] |= 0x40;  // DF: still hashed
    EXPECT_EQ(test_run(prog.fd, df), expected_queue(df, hash, reta));
    Bytes mf = f;
    mf[20] |= 0x20;  // first fragment: not hashed
    EXPECT_EQ(test_run(prog.fd, mf), 0);
    Bytes offset = f;
    offset[21] = 1;  // a later fragment: not hashed
    EXPECT_EQ(test_run(prog.fd, offset), 0);
    Bytes udp = f;
    udp[23] = 17;
    EXPECT_EQ(test_run(prog.fd, udp), 0);
    Bytes arp = f;
    arp[13] = 0x06;
    EXPECT_EQ(test_run(prog.fd, arp), 0);
  }
  // Under 38 bytes nothing is hashed, even with an IHL that puts the "ports" inside the header.
  Bytes small = nonzero(0, 20);  // IHL 0: the "ports" are the first IPv4 header bytes
  small.resize(38);
  EXPECT_EQ(test_run(prog.fd, small), expected_queue(small, hash, reta));
  small.resize(37);
  EXPECT_EQ(test_run(prog.fd, small), 0);
  EXPECT_EQ(test_run(prog.fd, Bytes{}), 0);
  EXPECT_EQ(test_run(prog.fd, Bytes(13, 0x08)), 0);
}

TEST(TapSteeringProgram, LoadFailureCarriesStrerrorAndVerifierLog) {
  bpf_insn exit_only{};
  exit_only.code = BPF_JMP | BPF_EXIT;  // returns r0, which was never written
  auto fd = load_socket_filter(std::span<const bpf_insn>(&exit_only, 1), "coronet_bad");
  ASSERT_FALSE(fd);
  EXPECT_THAT(fd.error().message(), HasSubstr(std::strerror(EACCES)));
  EXPECT_THAT(fd.error().message(), HasSubstr("verifier log"));
  EXPECT_THAT(fd.error().message(), HasSubstr("R0 !read_ok"));
}

TEST(TapSteeringProgram, InstallOnAnUnattachedTunFdFails) {
  OwnedFd tun(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  ASSERT_GE(tun.fd, 0) << std::strerror(errno);
  auto r = install_rss_steering(tun.fd, "nothing", rss::kSymmetricKey, 2);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("TUNSETSTEERINGEBPF"));
  EXPECT_THAT(r.error().message(), HasSubstr(std::strerror(EBADFD)));
}

// Errors found before the kernel is asked need no namespace.
TEST(TapMultiQueueOpen, ZeroQueuesIsRefused) {
  TapConfig c;
  c.ifname = "ctap9";
  c.queues = 0;
  auto d = TapDevice::open(c);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), HasSubstr("queues = 0"));
}

TEST(TapMultiQueueOpen, TooManyQueuesIsRefused) {
  for (std::uint16_t n : {65, 256, 1000}) {
    TapConfig c;
    c.ifname = "ctap9";
    c.queues = n;
    auto d = TapDevice::open(c);
    ASSERT_FALSE(d);
    EXPECT_THAT(d.error().message(), HasSubstr("queues = " + std::to_string(n)));
    EXPECT_THAT(d.error().message(), HasSubstr("1 to 64"));
  }
}

// ---- Against the kernel ---------------------------------------------------------------------

struct Received {
  std::uint16_t queue;
  Frame frame;
};

// A kernel-sent TCP SYN's tuple (host order), or nullopt for any other frame.
std::optional<rss::Ipv4Tuple> syn_tuple(const Frame& f) {
  Bytes b(f.size());
  std::transform(f.begin(), f.end(), b.begin(), [](std::byte x) { return std::uint8_t(x); });
  if (b.size() < 34 || be16(b, 12) != 0x0800 || b[23] != 6) return std::nullopt;
  const std::size_t l4 = 14 + (b[14] & 0xfu) * 4;
  if (b.size() < l4 + 20) return std::nullopt;
  const std::uint8_t flags = b[l4 + 13];
  if ((flags & 0x02) == 0 || (flags & 0x10) != 0) return std::nullopt;  // SYN without ACK
  return rss::Ipv4Tuple{be32(b, 26), be32(b, 30), static_cast<std::uint16_t>(be16(b, l4)),
                        static_cast<std::uint16_t>(be16(b, l4 + 2))};
}

class TapMultiQueueTest : public TapTest {
 protected:
  // Opens `queues` queues (key `key`), addresses the kernel side and lets it reach 198.18.0.2
  // without ARP.
  void open_multi(std::uint16_t queues, const rss::Key& key = rss::kSymmetricKey) {
    TapConfig c = config();
    c.queues = queues;
    c.rss_key = key;
    ASSERT_NO_FATAL_FAILURE(open(c));
    exec(std::string("ip addr add 198.18.0.1/24 dev ") + kIfName + " && ip link set " + kIfName +
         " up");
    add_static_neighbour();
  }

  // Drains every queue for `duration` from this thread, tagging frames with their queue.
  std::vector<Received> collect(std::chrono::milliseconds duration) {
    std::vector<Received> got;
    const std::uint16_t n = dev_->info().rx_queues;
    const auto deadline = Clock::now() + duration;
    while (Clock::now() < deadline) {
      std::vector<pollfd> pfds;
      for (std::uint16_t q = 0; q < n; ++q) pfds.push_back({dev_->rx_fd(q), POLLIN, 0});
      (void)::poll(pfds.data(), pfds.size(), 10);
      for (std::uint16_t q = 0; q < n; ++q) {
        std::array<Packet*, 32> burst;
        std::size_t k;
        do {
          k = dev_->rx_burst(q, burst);
          for (std::size_t i = 0; i < k; ++i) {
            got.push_back({q, Frame(burst[i]->bytes().begin(), burst[i]->bytes().end())});
            PacketPool::free(burst[i]);
          }
        } while (k == burst.size());
      }
    }
    return got;
  }

  // A counter from the namespace's /proc/net/snmp ("Tcp", "ActiveOpens").
  std::uint64_t snmp(const std::string& group, const std::string& name) {
    std::istringstream text(exec("cat /proc/net/snmp"));
    std::string header, values, line;
    while (std::getline(text, line)) {
      if (line.rfind(group + ":", 0) != 0) continue;
      if (header.empty()) {
        header = line;
      } else {
        values = line;
        break;
      }
    }
    std::istringstream h(header), v(values);
    std::string key, value;
    while (h >> key && v >> value) {
      if (key == name) return std::stoull(value);
    }
    ADD_FAILURE() << "no " << group << " " << name << " in /proc/net/snmp";
    return 0;
  }

  // One of the kernel interface's counters (/sys/class/net/ctap0/statistics/<name>).
  std::uint64_t if_stat(const std::string& name) {
    return std::stoull(exec(std::string("cat /sys/class/net/") + kIfName + "/statistics/" + name));
  }

  // The kernel opens `kConnects` TCP connections to 198.18.0.2 (from a few addresses to a few
  // ports, source ports of its choice) while one thread per queue reads that queue, as engines
  // would. Every SYN
  // (retransmissions included) must arrive on the queue coronet's RSS predicts for its tuple, every
  // queue must get some, and nothing may be lost.
  void check_syn_steering(std::uint16_t queues, const rss::Key& key) {
    ASSERT_NO_FATAL_FAILURE(open_multi(queues, key));
    // More kernel addresses, so that the address half of the hash varies too.
    constexpr std::array<std::uint32_t, 3> kMoreSources = {
        tf::ipv4(198, 18, 0, 11), tf::ipv4(198, 18, 0, 12), tf::ipv4(198, 18, 1, 13)};
    exec(std::string("ip addr add 198.18.0.11/24 dev ") + kIfName + " && ip addr add " +
         "198.18.0.12/24 dev " + kIfName + " && ip addr add 198.18.1.13/23 dev " + kIfName);
    ASSERT_EQ(dev_->info().rx_queues, queues);
    ASSERT_TRUE(dev_->info().offloads.rss);

    std::atomic<bool> stop{false};
    std::atomic<std::size_t> frames{0};
    std::vector<std::vector<Frame>> per_queue(queues);
    std::vector<std::thread> readers;
    for (std::uint16_t q = 0; q < queues; ++q) {
      readers.emplace_back([&, q] {
        std::array<Packet*, 32> burst;
        while (!stop.load()) {
          pollfd pfd{dev_->rx_fd(q), POLLIN, 0};
          (void)::poll(&pfd, 1, 10);
          const std::size_t k = dev_->rx_burst(q, burst);
          for (std::size_t i = 0; i < k; ++i) {
            per_queue[q].emplace_back(burst[i]->bytes().begin(), burst[i]->bytes().end());
            PacketPool::free(burst[i]);
          }
          frames += k;
        }
      });
    }
    // Joins the readers on every exit path.
    struct Joiner {
      std::atomic<bool>& stop;
      std::vector<std::thread>& threads;
      ~Joiner() {
        stop = true;
        for (auto& t : threads) t.join();
      }
    } joiner{stop, readers};

    constexpr int kConnects = 400;
    constexpr std::array<std::uint16_t, 4> kPorts = {80, 443, 8080, 9000};
    std::vector<std::unique_ptr<OwnedFd>> socks;
    std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint16_t, std::uint16_t>> opened;
    {
      testing::NetNs::Enter enter(*ns_);
      ASSERT_TRUE(enter.ok()) << enter.error();
      for (int i = 0; i < kConnects; ++i) {
        auto s = std::make_unique<OwnedFd>(
            ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        ASSERT_GE(s->fd, 0) << std::strerror(errno);
        if (i % 5 != 0) {
          sockaddr_in from{};
          from.sin_family = AF_INET;
          from.sin_addr.s_addr = htonl(kMoreSources[i % kMoreSources.size()]);
          ASSERT_EQ(::bind(s->fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)), 0)
              << std::strerror(errno);
        }
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(kPorts[i % kPorts.size()]);
        to.sin_addr.s_addr = htonl(kOurIp);
        ASSERT_NE(::connect(s->fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
        ASSERT_EQ(errno, EINPROGRESS) << std::strerror(errno);
        sockaddr_in local{};
        socklen_t len = sizeof(local);
        ASSERT_EQ(::getsockname(s->fd, reinterpret_cast<sockaddr*>(&local), &len), 0);
        opened.insert({ntohl(local.sin_addr.s_addr), kOurIp, ntohs(local.sin_port),
                       kPorts[i % kPorts.size()]});
        socks.push_back(std::move(s));
      }
    }
    ASSERT_EQ(opened.size(), static_cast<std::size_t>(kConnects));
    const auto deadline = Clock::now() + 5s;
    while (frames.load() < static_cast<std::size_t>(kConnects) && Clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    socks.clear();  // closing a SYN-SENT socket sends nothing: no more SYNs from here on
    std::this_thread::sleep_for(200ms);
    stop = true;
    for (auto& t : readers) t.join();
    readers.clear();

    const rss::Toeplitz hash(key);
    const rss::Reta reta = dev_->reta();
    ASSERT_EQ(reta.num_queues(), queues);
    ASSERT_EQ(reta.size(), 128u);
    EXPECT_EQ(dev_->rss_key(), key);
    std::size_t syns = 0;
    std::size_t misplaced = 0;
    std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint16_t, std::uint16_t>> seen;
    std::vector<std::size_t> syns_on(queues, 0);
    for (std::uint16_t q = 0; q < queues; ++q) {
      for (const Frame& f : per_queue[q]) {
        auto t = syn_tuple(f);
        ASSERT_TRUE(t) << "only SYNs expected, got a " << f.size() << "-byte frame on queue " << q;
        ++syns;
        ++syns_on[q];
        seen.insert({t->src_addr, t->dst_addr, t->src_port, t->dst_port});
        const std::uint16_t want = reta.queue_of(hash.hash(*t));
        if (want != q && ++misplaced <= 5) {
          ADD_FAILURE() << "SYN from port " << t->src_port << " to " << t->dst_port
                        << " arrived on queue " << q << ", RSS says " << want;
        }
      }
    }
    EXPECT_EQ(misplaced, 0u);
    EXPECT_EQ(seen, opened) << "every connect's SYN arrives, and only those";
    for (std::uint16_t q = 0; q < queues; ++q) {
      EXPECT_GT(syns_on[q], 0u) << "queue " << q << " received no SYN";
      EXPECT_EQ(dev_->rx_stats(q).packets, syns_on[q]);
      EXPECT_EQ(dev_->rx_stats(q).errors + dev_->rx_stats(q).drops, 0u);
    }
    // What the kernel says it sent: connects plus retransmitted SYNs, and its interface counters.
    const std::uint64_t sent = snmp("Tcp", "ActiveOpens") + snmp("Tcp", "RetransSegs");
    EXPECT_EQ(snmp("Tcp", "ActiveOpens"), static_cast<std::uint64_t>(kConnects));
    EXPECT_EQ(syns, sent);
    EXPECT_EQ(if_stat("tx_packets"), syns);
    EXPECT_EQ(if_stat("tx_dropped"), 0u);
    std::ostringstream split;
    for (std::uint16_t q = 0; q < queues; ++q) split << (q ? " " : "") << syns_on[q];
    std::cout << queues << " queues: " << syns << " SYNs (" << sent - kConnects
              << " retransmitted) per queue: " << split.str() << "\n";
  }
};

TEST_P(TapMultiQueueTest, KernelSynsLandOnRssQueueOfTwo) {
  check_syn_steering(2, rss::kSymmetricKey);
}

TEST_P(TapMultiQueueTest, KernelSynsLandOnRssQueueOfFour) {
  check_syn_steering(4, rss::kSymmetricKey);
}

TEST_P(TapMultiQueueTest, KernelSynsLandOnRssQueueOfThreeWithMicrosoftKey) {
  check_syn_steering(3, rss::kMicrosoftKey);
}

TEST_P(TapMultiQueueTest, NonTcpFramesArriveOnQueueZero) {
  constexpr std::uint16_t kQueues = 4;
  ASSERT_NO_FATAL_FAILURE(open_multi(kQueues));
  const rss::Toeplitz hash(dev_->rss_key());
  const rss::Reta reta = dev_->reta();
  // UDP datagrams whose tuple would hash to every queue were they TCP.
  auto sock = kernel_udp(4000);
  std::set<std::uint16_t> would_be;
  constexpr int kDatagrams = 16;
  for (std::uint16_t port = 5000; port < 5000 + kDatagrams; ++port) {
    would_be.insert(reta.queue_of(hash.hash({kKernelIp, kOurIp, 4000, port})));
    ASSERT_TRUE(sock.send_to_us(port, tf::bytes_of("not tcp")));
  }
  ASSERT_EQ(would_be.size(), kQueues) << "pick ports that would spread over the queues";
  // An ICMP echo request from the kernel (a raw socket sends the ICMP part of a built frame).
  const auto echo =
      tf::build_icmp_echo(kOurMac, kOurMac, kKernelIp, kOurIp, 0x77, 1, tf::bytes_of("ping"));
  {
    testing::NetNs::Enter enter(*ns_);
    ASSERT_TRUE(enter.ok()) << enter.error();
    OwnedFd raw(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP));
    ASSERT_GE(raw.fd, 0) << std::strerror(errno);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(kOurIp);
    const std::size_t icmp_at = 14 + 20;
    ASSERT_EQ(::sendto(raw.fd, echo.data() + icmp_at, echo.size() - icmp_at, 0,
                       reinterpret_cast<sockaddr*>(&to), sizeof(to)),
              static_cast<ssize_t>(echo.size() - icmp_at))
        << std::strerror(errno);
  }
  // An ARP request: a datagram to a neighbour the kernel does not know yet.
  {
    testing::NetNs::Enter enter(*ns_);
    ASSERT_TRUE(enter.ok()) << enter.error();
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    to.sin_addr.s_addr = htonl(tf::ipv4(198, 18, 0, 3));
    const char byte = 0;
    ASSERT_EQ(::sendto(sock.fd(), &byte, 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 1);
  }

  int udp = 0, icmp = 0, arp = 0;
  for (const Received& r : collect(500ms)) {
    EXPECT_EQ(r.queue, 0) << "a non-TCP frame of " << r.frame.size() << " bytes";
    if (auto d = tf::parse_udp(r.frame); d && d->dst_ip == kOurIp) ++udp;
    if (tf::parse_icmp_echo(r.frame)) ++icmp;
    if (auto a = tf::parse_arp(r.frame); a && a->opcode == tf::kArpRequest) ++arp;
  }
  EXPECT_EQ(udp, kDatagrams);
  EXPECT_EQ(icmp, 1);
  EXPECT_GE(arp, 1);
}

TEST_P(TapMultiQueueTest, TxOnEveryQueueReachesTheKernel) {
  constexpr std::uint16_t kQueues = 4;
  ASSERT_NO_FATAL_FAILURE(open_multi(kQueues));
  const MacAddress kmac = kernel_mac();
  const auto payload = tf::bytes_of("sent on one queue of four");
  for (std::uint16_t q = 0; q < kQueues; ++q) {
    Packet* p = dev_->pool(q).alloc();
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(p->append_bytes(tf::build_icmp_echo(kOurMac, kmac, kOurIp, kKernelIp, 0xbeef,
                                                    static_cast<std::uint16_t>(100 + q), payload)));
    Packet* pkts[] = {p};
    ASSERT_EQ(dev_->tx_burst(q, pkts), 1u);
  }
  std::set<std::uint16_t> answered;
  for (const Received& r : collect(500ms)) {
    auto reply = tf::parse_icmp_echo_reply(r.frame);
    if (!reply || reply->id != 0xbeef) continue;
    EXPECT_EQ(r.queue, 0) << "ICMP is not hashed";
    EXPECT_EQ(reply->payload, payload);
    answered.insert(static_cast<std::uint16_t>(reply->seq - 100));
  }
  EXPECT_EQ(answered, (std::set<std::uint16_t>{0, 1, 2, 3}));
  for (std::uint16_t q = 0; q < kQueues; ++q) {
    EXPECT_EQ(dev_->tx_stats(q).packets, 1u) << "queue " << q;
    EXPECT_EQ(dev_->tx_stats(q).errors + dev_->tx_stats(q).drops, 0u) << "queue " << q;
  }
}

TEST_P(TapMultiQueueTest, ReportsQueuesAndRss) {
  ASSERT_NO_FATAL_FAILURE(open_multi(2, rss::kMicrosoftKey));
  EXPECT_EQ(dev_->info().rx_queues, 2);
  EXPECT_EQ(dev_->info().tx_queues, 2);
  EXPECT_TRUE(dev_->info().offloads.rss);
  EXPECT_EQ(dev_->rss_key(), rss::kMicrosoftKey);
  EXPECT_EQ(dev_->reta().num_queues(), 2);
  EXPECT_NE(&dev_->pool(0), &dev_->pool(1)) << "one pool per queue";
  EXPECT_NE(dev_->pool(0).name(), dev_->pool(1).name());
  EXPECT_NE(dev_->rx_fd(0), dev_->rx_fd(1));
  EXPECT_EQ(exec(std::string("ls /sys/class/net/") + kIfName + "/queues | grep -c tx-"), "2\n")
      << "the kernel sees two queues";
}

TEST_P(TapMultiQueueTest, SingleQueueHasNoSteering) {
  ASSERT_NO_FATAL_FAILURE(open(config()));
  EXPECT_EQ(dev_->info().rx_queues, 1);
  EXPECT_FALSE(dev_->info().offloads.rss);
  EXPECT_EQ(dev_->reta().num_queues(), 1);
  EXPECT_EQ(dev_->reta().queue_of(0x12345678), 0);
}

TEST_P(TapMultiQueueTest, QueueIndexOutOfRangeIsHarmless) {
  ASSERT_NO_FATAL_FAILURE(open_multi(2));
  std::array<Packet*, 4> burst{};
  EXPECT_EQ(dev_->rx_burst(2, burst), 0u);
  Packet* p = dev_->pool(1).alloc();
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->append_bytes(tf::build_arp_request(kOurMac, kOurIp, kKernelIp)));
  Packet* pkts[] = {p};
  EXPECT_EQ(dev_->tx_burst(2, pkts), 0u) << "not taken: the caller keeps the packet";
  PacketPool::free(p);
  EXPECT_EQ(dev_->rx_stats(2).packets, 0u);
  EXPECT_EQ(dev_->tx_stats(65535).packets, 0u);
  EXPECT_EQ(dev_->rx_fd(2), -1);
  try {
    dev_->pool(2);
    ADD_FAILURE() << "pool(2) of a two-queue device did not throw";
  } catch (const std::out_of_range& e) {
    EXPECT_THAT(e.what(), HasSubstr("has 2 queues, asked for queue 2"));
  }
}

TEST_P(TapMultiQueueTest, SameNameReopensWithQueuesRightAfterClose) {
  ASSERT_NO_FATAL_FAILURE(open_multi(4));
  dev_.reset();
  TapConfig c = config();
  c.queues = 4;
  auto again = open_in_ns(c);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ((*again)->info().rx_queues, 4);
}

INSTANTIATE_TEST_SUITE_P(IoModes, TapMultiQueueTest,
                         ::testing::Values(IoMode::kReadv, IoMode::kUring), mode_name);

}  // namespace
}  // namespace coronet::nic::tap_test
