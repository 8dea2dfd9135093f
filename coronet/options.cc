#include "coronet/options.h"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <thread>

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
         "  --addr=A.B.C.D/N  coronet's address/prefix (default 198.18.0.2/24)\n"
         "  --gateway=A.B.C.D default route\n"
         "  --mac=XX:..:XX    coronet's MAC (default 02:00:00:00:00:02)\n"
         "  --port=N          service port\n"
         "  --busy-poll       never sleep when idle\n";
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
      if (v->substr(0, 4) != "tap:" || v->size() <= 4 || v->size() > 4 + 15) {
        return bad("--nic", *v, "tap:IFACE with an interface name of 1-15 characters");
      }
      o.nic = std::string(*v);
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
    } else if (a == "--busy-poll") {
      o.idle = coro::IdleMode::kBusyPoll;
    } else {
      o.rest.emplace_back(a);
    }
  }
  return o;
}

Result<OpenedDevice> open_device(const Options& o) {
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

}  // namespace coronet
