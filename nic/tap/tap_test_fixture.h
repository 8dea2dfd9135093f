// Shared fixture for TapDevice tests against the kernel: a test-made network namespace with one TAP
// interface in it (coronet's side 198.18.0.2 / 02:00:00:00:00:02, the kernel's 198.18.0.1), run
// once per IoMode. IPv6 is disabled in the namespace so the kernel sends nothing unprompted and
// frame counts are exact.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nic/ether_addr.h"
#include "nic/tap/tap_device.h"
#include "nic/tap/test_frames.h"
#include "tests/netns/netns.h"

namespace coronet::nic {
// Names the mode in gtest's failure messages (found by ADL).
inline void PrintTo(IoMode mode, std::ostream* os) { *os << io_mode_name(mode); }
}  // namespace coronet::nic

namespace coronet::nic::tap_test {

namespace tf = test_frames;
using Frame = std::vector<std::byte>;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline constexpr char kIfName[] = "ctap0";
inline const MacAddress kOurMac({0x02, 0x00, 0x00, 0x00, 0x00, 0x02});
inline constexpr std::uint32_t kOurIp = tf::ipv4(198, 18, 0, 2);
inline constexpr std::uint32_t kKernelIp = tf::ipv4(198, 18, 0, 1);

class TapTest : public ::testing::TestWithParam<IoMode> {
 protected:
  void SetUp() override {
    auto ns = testing::NetNs::create("tap");
    ASSERT_TRUE(ns) << ns.error().message();
    ns_.emplace(std::move(*ns));
    // Before the interface exists, so it is born without IPv6 (no router solicitations, no MLD).
    exec(
        "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && "
        "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6");
  }

  // Tears the device down before the namespace (member order alone would do; this is explicit).
  void TearDown() override { dev_.reset(); }

  TapConfig config() const {
    TapConfig c;
    c.ifname = kIfName;
    c.mac = kOurMac;
    c.mtu = 1500;
    c.pool.count = 256;
    c.io = GetParam();  // io_uring depths: the defaults
    return c;
  }

  // Opens the TAP inside the namespace (the calling thread visits it for the open only).
  void open(const TapConfig& c) {
    Result<std::unique_ptr<TapDevice>> d = open_in_ns(c);
    ASSERT_TRUE(d) << d.error().message();
    dev_ = std::move(*d);
  }
  Result<std::unique_ptr<TapDevice>> open_in_ns(const TapConfig& c) const {
    testing::NetNs::Enter enter(*ns_);
    if (!enter.ok()) return Error(Errc::kInvalidArgument, enter.error());
    return TapDevice::open(c);
  }

  // The usual start: device open, kernel side addressed and up.
  void open_and_configure() {
    ASSERT_NO_FATAL_FAILURE(open(config()));
    exec(std::string("ip addr add 198.18.0.1/24 dev ") + kIfName + " && ip link set " + kIfName +
         " up");
  }

  // Runs `cmd` in the namespace; fails the test (non-fatally) and returns "" on error.
  std::string exec(const std::string& cmd) const {
    auto r = ns_->exec(cmd);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : std::string();
  }

  MacAddress kernel_mac() const {
    std::string text = exec(std::string("cat /sys/class/net/") + kIfName + "/address");
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    auto mac = MacAddress::parse(text);
    EXPECT_TRUE(mac) << "unparsable MAC: " << text;
    return mac.value_or(MacAddress());
  }

  // Copies `frame` into a pool packet (optionally split into a chain at `split`) and sends it.
  std::size_t send(std::span<const std::byte> frame, std::size_t split = 0) {
    PacketPool& pool = dev_->pool(0);
    Packet* head = pool.alloc();
    if (head == nullptr) return 0;
    if (split == 0 || split >= frame.size()) {
      EXPECT_TRUE(head->append_bytes(frame));
    } else {
      Packet* tail = pool.alloc();
      EXPECT_NE(tail, nullptr);
      if (tail == nullptr) {
        PacketPool::free(head);
        return 0;
      }
      EXPECT_TRUE(head->append_bytes(frame.first(split)));
      EXPECT_TRUE(tail->append_bytes(frame.subspan(split)));
      head->set_next(tail);
    }
    Packet* pkts[] = {head};
    std::size_t n = dev_->tx_burst(0, pkts);
    if (n == 0) PacketPool::free(head);
    return n;
  }

  // Drains whatever is receivable now, waiting on rx_fd() up to `wait` for the first frame.
  std::vector<Frame> poll_frames(std::chrono::milliseconds wait) {
    pollfd pfd{dev_->rx_fd(0), POLLIN, 0};
    (void)::poll(&pfd, 1, static_cast<int>(wait.count()));
    std::vector<Frame> frames;
    std::array<Packet*, 32> burst;
    std::size_t n;
    do {
      n = dev_->rx_burst(0, burst);
      for (std::size_t i = 0; i < n; ++i) {
        frames.emplace_back(burst[i]->bytes().begin(), burst[i]->bytes().end());
        PacketPool::free(burst[i]);
      }
    } while (n == burst.size());
    return frames;
  }

  // Polls until a frame satisfies `match` or `timeout` passes; answers the kernel's ARP requests
  // for our address on the way (so it can reach us), and skips every other frame.
  std::optional<Frame> receive(const std::function<bool(const Frame&)>& match,
                               std::chrono::milliseconds timeout = 2000ms) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      for (Frame& f : poll_frames(20ms)) {
        if (match(f)) return std::move(f);
        auto arp = tf::parse_arp(f);
        if (arp && arp->opcode == tf::kArpRequest && arp->target_ip == kOurIp) {
          send(tf::build_arp_reply(kOurMac, kOurIp, arp->sender_mac, arp->sender_ip));
        }
        ++skipped_;
      }
    }
    return std::nullopt;
  }

  // Polls until `done()` holds or `timeout` passes, handing every frame to `sink`.
  bool receive_until(const std::function<bool()>& done, const std::function<void(Frame)>& sink,
                     std::chrono::milliseconds timeout = 2000ms) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      for (Frame& f : poll_frames(10ms)) sink(std::move(f));
    }
    return true;
  }

  // A kernel UDP socket in the namespace bound to 198.18.0.1:port (receives with a 2 s timeout).
  class KernelUdp {
   public:
    explicit KernelUdp(int fd) : fd_(fd) {}
    KernelUdp(KernelUdp&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    ~KernelUdp() {
      if (fd_ >= 0) ::close(fd_);
    }
    int fd() const { return fd_; }
    bool send_to_us(std::uint16_t port, std::span<const std::byte> payload) const {
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(port);
      to.sin_addr.s_addr = htonl(kOurIp);
      return ::sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
                      sizeof(to)) == static_cast<ssize_t>(payload.size());
    }
    std::optional<Frame> recv() const {
      Frame buf(65536);
      ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) return std::nullopt;
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }

   private:
    int fd_;
  };
  KernelUdp kernel_udp(std::uint16_t port) const {
    testing::NetNs::Enter enter(*ns_);
    EXPECT_TRUE(enter.ok()) << enter.error();
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(kKernelIp);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << std::strerror(errno);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return KernelUdp(fd);
  }
  // Lets the kernel send to us without asking ARP first.
  void add_static_neighbour() {
    exec(std::string("ip neigh replace 198.18.0.2 lladdr 02:00:00:00:00:02 dev ") + kIfName);
  }

  std::optional<testing::NetNs> ns_;
  std::unique_ptr<TapDevice> dev_;
  int skipped_ = 0;
};

inline std::string mode_name(const ::testing::TestParamInfo<IoMode>& info) {
  return io_mode_name(info.param);
}

}  // namespace coronet::nic::tap_test
