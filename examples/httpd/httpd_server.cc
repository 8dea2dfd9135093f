// httpd_server: the HTTP/1.1 example on coronet's own TCP or the kernel's, one engine per core:
//   sudo ip netns exec NS httpd_server --nic=tap:cn0 --addr=198.18.0.2/24 --cores=2
//   httpd_server --stack=kernel --cores=2 --port=8080 --static=/srv/www
// Routes: / /hello /echo (POST) /bytes/N /metrics, and --static=DIR under /static/.
#include <cstdio>
#include <string>

#include "coronet/run.h"
#include "examples/httpd/httpd.h"

int main(int argc, char** argv) {
  using namespace coronet;
  auto opts = parse_options(argc, argv, 8080);
  std::string static_dir;
  std::string bad;
  if (opts) {
    for (const std::string& a : opts->rest) {
      if (a.starts_with("--static=") && a.size() > 9) {
        static_dir = a.substr(9);
      } else {
        bad = "unknown argument " + a;
      }
    }
  }
  if (!opts || !bad.empty()) {
    std::fprintf(stderr, "httpd_server: %s\nusage: httpd_server [options] [--static=DIR]\n%s",
                 opts ? bad.c_str() : opts.error().message().c_str(), options_usage().c_str());
    return 2;
  }
  http::Router router = http::Router::with_defaults();
  if (!static_dir.empty()) router.static_dir("/static/", static_dir);
  const http::ServerConfig config;
  const std::uint16_t port = opts->port;
  return run(*opts, [&](Stack& stack) { return http::serve(stack, port, router, config); });
}
