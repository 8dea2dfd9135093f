#include "coronet/options.h"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <thread>

#include "nic/dpdk/dpdk_device.h"
#include "nic/tap/tap_device.h"

namespace coronet {
namespace {

std::optional<std::string_view> value_of(std::string_view arg, std::string_view flag) {
  if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag && arg[flag.size()] == '=') {
    return arg.substr(flag.size() + 1);
  }
  return std::nullopt;
}

Error bad(std::string_view flag, std::string_view value, std::string_view expected) {
  return Error(Errc::kInvalidArgument, std::string(flag) + "=" + std::string(value) +
                                           ": expected " + std::string(expected));
}

}  // namespace

std::string options_usage() {
  return "  --stack=user|kernel  coronet's own TCP (default) or the kernel's via io_uring\n"
         "  --cores=N         engines, one per core (default 1)\n"
         "  --nic=tap:IFACE   TAP device for coronet's own TCP (default tap:cn0)\n"
         "  --nic=dpdk:PORT   a DPDK ethdev port by name (e.g. net_tap0), with --eal\n"
         "  --eal='ARGS'      DPDK EAL arguments, space-separated (e.g. '--no-huge -m 256\n"
         "                    --no-pci --vdev=net_tap0,iface=dtap0')\n"
         "  --addr=A.B.C.D/N  coronet's address/prefix (default 198.18.0.2/24)\n"
         "  --gateway=A.B.C.D default route\n"
         "  --mac=XX:..:XX    coronet's MAC (default 02:00:00:00:00:02)\n"
         "  --port=N          service port\n"
         "  --busy-poll       never sleep when idle\n"
         "  --metrics-port=N  serve every core's counters as Prometheus text on port N\n"
         "                    (user stack; GET /metrics on the same address)\n";
}

Result<Options> parse_options(int argc, char** argv, std::uint16_t default_port) {
  Options o;
  o.port = default_port;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (auto v = value_of(a, "--stack")) {
      auto k = parse_stack_kind(*v);
      if (!k) return bad("--stack", *v, "user or kernel");
      o.stack = *k;
    } else if (auto v = value_of(a, "--cores")) {
      unsigned n = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
      if (ec != std::errc() || end != v->data() + v->size() || n == 0 || n > cpus) {
        return bad("--cores", *v, "1-" + std::to_string(cpus) + " (this machine's CPUs)");
      }
      o.cores = n;
    } else if (auto v = value_of(a, "--nic")) {
      const bool tap = v->substr(0, 4) == "tap:" && v->size() > 4 && v->size() <= 4 + 15;
      const bool dpdk = v->substr(0, 5) == "dpdk:" && v->size() > 5;
      if (!tap && !dpdk) {
        return bad("--nic", *v,
                   "tap:IFACE (an interface name of 1-15 characters) or dpdk:PORT (a DPDK port "
                   "name)");
      }
      o.nic = std::string(*v);
    } else if (auto v = value_of(a, "--eal")) {
      o.eal.clear();
      std::size_t pos = 0;
      while (pos < v->size()) {
        const std::size_t end = std::min(v->find(' ', pos), v->size());
        if (end > pos) o.eal.emplace_back(v->substr(pos, end - pos));
        pos = end + 1;
      }
    } else if (auto v = value_of(a, "--addr")) {
      auto slash = v->find('/');
      auto ip = stack::Ipv4Address::parse(v->substr(0, slash));
      if (!ip) return bad("--addr", *v, "A.B.C.D/N");
      o.addr = *ip;
      if (slash != std::string_view::npos) {
        auto p = v->substr(slash + 1);
        unsigned n = 0;
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
        if (ec != std::errc() || end != p.data() + p.size() || n < 1 || n > 32) {
          return bad("--addr", *v, "a prefix length 1-32 after '/'");
        }
        o.prefix_len = n;
      }
    } else if (auto v = value_of(a, "--gateway")) {
      auto ip = stack::Ipv4Address::parse(*v);
      if (!ip) return bad("--gateway", *v, "A.B.C.D");
      o.gateway = *ip;
    } else if (auto v = value_of(a, "--mac")) {
      auto m = nic::MacAddress::parse(*v);
      if (!m || m->is_multicast()) return bad("--mac", *v, "a unicast XX:XX:XX:XX:XX:XX");
      o.mac = *m;
    } else if (auto v = value_of(a, "--port")) {
      unsigned n = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || end != v->data() + v->size() || n == 0 || n > 65535) {
        return bad("--port", *v, "1-65535");
      }
      o.port = static_cast<std::uint16_t>(n);
    } else if (auto v = value_of(a, "--metrics-port")) {
      unsigned n = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || end != v->data() + v->size() || n == 0 || n > 65535) {
        return bad("--metrics-port", *v, "1-65535");
      }
      o.metrics_port = static_cast<std::uint16_t>(n);
    } else if (a == "--busy-poll") {
      o.idle = coro::IdleMode::kBusyPoll;
    } else {
      o.rest.emplace_back(a);
    }
  }
  if (o.nic.starts_with("dpdk:") && o.eal.empty()) {
    return Error(Errc::kInvalidArgument,
                 "--nic=" + o.nic + " needs --eal='...': DPDK's EAL arguments (at least the "
                 "device, e.g. --vdev=net_tap0,iface=dtap0, and --no-huge -m 256 without "
                 "hugepages)");
  }
  if (o.metrics_port != 0 && o.stack == StackKind::kKernel) {
    return Error(Errc::kInvalidArgument,
                 "--metrics-port is for the user stack (the kernel's counters: ss, nstat)");
  }
  if (o.metrics_port != 0 && o.metrics_port == o.port) {
    return Error(Errc::kInvalidArgument, "--metrics-port must differ from --port");
  }
  if (!o.eal.empty() && !o.nic.starts_with("dpdk:")) {
    return Error(Errc::kInvalidArgument, "--eal is for --nic=dpdk:PORT (the NIC is " + o.nic + ")");
  }
  return o;
}

namespace {

Result<OpenedDevice> open_tap(const Options& o) {
  nic::TapConfig cfg;
  cfg.ifname = o.nic.substr(4);
  cfg.mac = o.mac;
  cfg.pool = nic::PacketPoolConfig{.name = cfg.ifname, .count = 8192};
  cfg.queues = static_cast<std::uint16_t>(o.cores);
  auto tap = nic::TapDevice::open(cfg);
  if (!tap) return tap.error();
  if (auto r = (*tap)->bring_up(); !r) return r.error();
  OpenedDevice d;
  if (o.cores > 1) d.steering = OpenedDevice::Steering{(*tap)->rss_key(), (*tap)->reta()};
  d.device = std::move(*tap);
  return d;
}

Result<OpenedDevice> open_dpdk(const Options& o) {
  nic::DpdkConfig cfg;
  cfg.eal_args = o.eal;
  cfg.port_name = o.nic.substr(5);
  cfg.rx_queues = cfg.tx_queues = static_cast<std::uint16_t>(o.cores);
  cfg.mbufs_per_queue = 8191;
  if (o.cores > 1) {
    // One engine per queue: the port must steer by the symmetric key through a known RETA.
    cfg.rss.hash_types = nic::rss::kTcpIpv4 | nic::rss::kIpv4;
    cfg.rss.key.assign(nic::rss::kSymmetricKey.begin(), nic::rss::kSymmetricKey.end());
    cfg.rss.required = true;
  }
  auto dev = nic::DpdkDevice::create(cfg);
  if (!dev) return dev.error();
  OpenedDevice d;
  if (o.cores > 1) {
    auto key = (*dev)->rss_key();
    auto reta = (*dev)->reta();
    if (!key || !reta) {
      return Error(Errc::kInvalidArgument,
                   "DPDK port " + cfg.port_name + " (" + (*dev)->applied().driver +
                       ") cannot tell which queue a flow lands on (no programmable RSS key and "
                       "redirection table), so it cannot serve --cores=" +
                       std::to_string(o.cores) + "; use --cores=1");
    }
    d.steering = OpenedDevice::Steering{*key, *reta};
  }
  d.device = std::move(*dev);
  return d;
}

}  // namespace

Result<OpenedDevice> open_device(const Options& o) {
  return o.nic.starts_with("dpdk:") ? open_dpdk(o) : open_tap(o);
}

}  // namespace coronet
