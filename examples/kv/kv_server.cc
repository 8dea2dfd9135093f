// kv_server: a memcached-protocol key-value server (get/gets/set/add/delete/stats/version/quit)
// on coronet's own TCP or the kernel's, keys sharded over --cores by hash:
//   sudo ip netns exec NS kv_server --nic=tap:cn0 --addr=198.18.0.2/24 --cores=2   (user stack)
//   kv_server --stack=kernel --cores=2 --port=11211                                 (kernel)
// Then any memcached client works, e.g. `printf 'set k 0 0 1\r\nv\r\nget k\r\n' | nc HOST 11211`.
#include <cstdio>

#include "coronet/run.h"
#include "examples/kv/kv.h"

int main(int argc, char** argv) {
  using namespace coronet;
  auto opts = parse_options(argc, argv, 11211);
  if (!opts || !opts->rest.empty()) {
    std::fprintf(stderr, "kv_server: %s\nusage: kv_server [options]\n%s",
                 opts ? ("unknown argument " + opts->rest.front()).c_str()
                      : opts.error().message().c_str(),
                 options_usage().c_str());
    return 2;
  }
  kv::KvService kv(kv::KvConfig{});
  const std::uint16_t port = opts->port;
  return run(*opts, [&kv, port](Stack& stack) { return kv.serve(stack, port); });
}
