#include "examples/httpd/httpd.h"

#include <fmt/format.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>

#include "coro/log.h"
#include "coro/reactor.h"
#include "coro/runtime.h"
#include "coro/timeout.h"
#include "coronet/stats.h"

namespace coronet::http {

// One core's counters: written only by that core (plain load+store, no read-modify-write), read
// by any core for /metrics.
struct alignas(64) HttpCounters {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> responses_2xx{0};
  std::atomic<std::uint64_t> responses_3xx{0};
  std::atomic<std::uint64_t> responses_4xx{0};
  std::atomic<std::uint64_t> responses_5xx{0};
  std::atomic<std::uint64_t> parse_errors{0};
  std::atomic<std::uint64_t> timeouts{0};
};

namespace {

constexpr unsigned kMaxCores = 64;
std::array<HttpCounters, kMaxCores> g_counters;

HttpCounters& mine() {
  const int c = coro::Runtime::current_core();
  return g_counters[c < 0 ? 0 : static_cast<unsigned>(c) % kMaxCores];
}
void bump(std::atomic<std::uint64_t>& v) {
  v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
void count_status(int status) {
  HttpCounters& c = mine();
  if (status < 300) bump(c.responses_2xx);
  else if (status < 400) bump(c.responses_3xx);
  else if (status < 500) bump(c.responses_4xx);
  else bump(c.responses_5xx);
}

bool is_get(Method m) { return m == Method::kGet || m == Method::kHead; }
bool is_post(Method m) { return m == Method::kPost || m == Method::kPut; }

// The body of /bytes/N: a fixed pattern, streamed from this block.
const std::array<char, 16384>& pattern_block() {
  static const std::array<char, 16384> block = [] {
    std::array<char, 16384> b{};
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>('a' + i % 26);
    return b;
  }();
  return block;
}

std::string_view content_type_for(std::string_view path) {
  const auto dot = path.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : path.substr(dot + 1);
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "css") return "text/css";
  if (ext == "js") return "text/javascript";
  if (ext == "json") return "application/json";
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "svg") return "image/svg+xml";
  return "application/octet-stream";
}

// A request path that may name a file under a directory: no "..", no NUL or backslash, no
// percent-encoding at all (so "%2e%2e" and "%2f" cannot sneak past the check).
bool safe_relative_path(std::string_view rel) {
  if (rel.empty()) return false;
  if (rel.find_first_of(std::string_view("\0\\%", 3)) != std::string_view::npos) return false;
  std::size_t i = 0;
  while (i <= rel.size()) {
    const std::size_t j = std::min(rel.find('/', i), rel.size());
    const std::string_view seg = rel.substr(i, j - i);
    if (seg == ".." || seg == ".") return false;
    i = j + 1;
  }
  return true;
}

void not_found(Reply& r) {
  r.status = 404;
  r.body = "not found\n";
}

// RFC 9112 §9.6: closing with unread input would make our TCP send a reset, and the reset can
// destroy the response before the client reads it. So: send our FIN, read and drop what the
// client still sends (bounded in time and bytes), then close.
coro::Task<void> lingering_close(Connection& conn) {
  (void)conn.shutdown();
  std::array<std::byte, 4096> sink;
  std::size_t drained = 0;
  while (drained < 256 * 1024) {
    auto n = co_await coro::with_timeout(conn.read(sink), std::chrono::seconds(1));
    if (!n || *n == 0) break;
    drained += *n;
  }
  (void)co_await conn.close();
}

}  // namespace

void append_metrics(std::string& out, const Stack* stack) {
  if (stack != nullptr && stack->stats() != nullptr) out += stack->stats()->prometheus("coronet");
  const unsigned cores = coro::Runtime::current() != nullptr ? coro::Runtime::current()->cores() : 1;
  struct Field {
    const char* name;
    const char* help;
    std::atomic<std::uint64_t> HttpCounters::*member;
  };
  static constexpr Field kFields[] = {
      {"connections_total", "Connections accepted.", &HttpCounters::connections},
      {"requests_total", "Requests parsed.", &HttpCounters::requests},
      {"responses_2xx_total", "2xx responses.", &HttpCounters::responses_2xx},
      {"responses_3xx_total", "3xx responses.", &HttpCounters::responses_3xx},
      {"responses_4xx_total", "4xx responses.", &HttpCounters::responses_4xx},
      {"responses_5xx_total", "5xx responses.", &HttpCounters::responses_5xx},
      {"parse_errors_total", "Requests refused by the parser.", &HttpCounters::parse_errors},
      {"timeouts_total", "Connections closed by a request timeout.", &HttpCounters::timeouts},
  };
  for (const Field& f : kFields) {
    fmt::format_to(std::back_inserter(out), "# HELP httpd_{} {}\n# TYPE httpd_{} counter\n", f.name,
                   f.help, f.name);
    for (unsigned c = 0; c < cores && c < kMaxCores; ++c) {
      fmt::format_to(std::back_inserter(out), "httpd_{}{{core=\"{}\"}} {}\n", f.name, c,
                     (g_counters[c].*f.member).load(std::memory_order_relaxed));
    }
  }
}

Router Router::with_defaults() {
  Router r;
  r.get("/", [](const Request&, Reply& rep) {
    rep.body = "coronet httpd: try /hello, /echo (POST), /bytes/N, /metrics\n";
  });
  r.get("/hello", [](const Request&, Reply& rep) { rep.body = "Hello, World!\n"; });
  r.post("/echo", [](const Request& req, Reply& rep) {
    rep.content_type = "application/octet-stream";
    rep.body = req.body;
  });
  r.get_prefix("/bytes/", [](const Request& req, Reply& rep) {
    const std::string_view n = req.path.substr(std::strlen("/bytes/"));
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
    if (n.empty() || ec != std::errc() || end != n.data() + n.size() || v > (1ull << 30)) {
      rep.status = 400;
      rep.body = "bytes: a count of 0 to 1073741824\n";
      return;
    }
    rep.content_type = "application/octet-stream";
    rep.generated = v;
  });
  r.get("/metrics", [](const Request&, Reply& rep) {
    rep.buffer.clear();
    append_metrics(rep.buffer, rep.stack);
    rep.content_type = "text/plain; version=0.0.4";
    rep.body = rep.buffer;
  });
  return r;
}

void Router::get(std::string path, Handler h) {
  routes_.push_back(Route{std::move(path), false, true, std::move(h)});
}
void Router::post(std::string path, Handler h) {
  routes_.push_back(Route{std::move(path), false, false, std::move(h)});
}
void Router::get_prefix(std::string prefix, Handler h) {
  routes_.push_back(Route{std::move(prefix), true, true, std::move(h)});
}

void Router::static_dir(std::string prefix, std::string directory) {
  char resolved[PATH_MAX];
  std::string root = realpath(directory.c_str(), resolved) != nullptr ? resolved : directory;
  get_prefix(prefix, [prefix, root](const Request& req, Reply& rep) {
    const std::string_view rel = req.path.substr(prefix.size());
    if (!safe_relative_path(rel)) return not_found(rep);
    const std::string path = root + "/" + std::string(rel);
    char real[PATH_MAX];
    // The file, with every link resolved, must still be inside the directory.
    if (realpath(path.c_str(), real) == nullptr ||
        std::string_view(real).substr(0, root.size() + 1) != root + "/") {
      return not_found(rep);
    }
    std::ifstream f(real, std::ios::binary | std::ios::ate);
    if (!f) return not_found(rep);
    const std::streamoff size = f.tellg();
    if (size < 0 || size > (16 << 20)) {
      rep.status = 403;
      rep.body = "file too large\n";
      return;
    }
    rep.buffer.resize(static_cast<std::size_t>(size));
    f.seekg(0);
    if (!f.read(rep.buffer.data(), size)) return not_found(rep);
    rep.content_type = content_type_for(real);
    rep.body = rep.buffer;
  });
}

void Router::dispatch(const Request& req, Reply& reply) const {
  bool path_known = false;
  bool allow_get = false, allow_post = false;
  for (const Route& r : routes_) {
    const bool match = r.prefix ? req.path.starts_with(r.path) : req.path == r.path;
    if (!match) continue;
    path_known = true;
    (r.for_get ? allow_get : allow_post) = true;
    if (r.for_get ? is_get(req.method) : is_post(req.method)) {
      r.handler(req, reply);
      return;
    }
  }
  if (!path_known) return not_found(reply);
  // RFC 9110 §15.5.6: 405 with the methods the target supports.
  reply.status = 405;
  reply.body = "method not allowed\n";
  reply.headers.push_back(Header{"Allow", allow_get && allow_post ? "GET, HEAD, POST, PUT"
                                          : allow_get            ? "GET, HEAD"
                                                                 : "POST, PUT"});
}

coro::Task<void> serve(Stack& stack, std::uint16_t port, const Router& router,
                       const ServerConfig& config) {
  auto listener = stack.listen(port, ListenOptions{.backlog = config.backlog});
  if (!listener) {
    log::error("httpd: listen on port {}: {}", port, listener.error().message());
    co_return;
  }
  for (;;) {
    auto conn = co_await listener->accept();
    if (!conn) {
      log::warn("httpd: accept: {}", conn.error().message());
      continue;
    }
    (void)conn->set_no_delay(true);
    coro::spawn(serve_connection(std::move(*conn), router, config, &stack));
  }
}

coro::Task<void> serve_connection(Connection conn, const Router& router, const ServerConfig& config,
                                  const Stack* stack) {
  HttpCounters& counters = mine();
  bump(counters.connections);
  const Limits& lim = config.limits;
  // Room for a whole request: its head (request line, fields), the body and chunk framing.
  const std::size_t max_in = lim.max_target + lim.max_header_bytes * 2 + lim.max_body + 4096;
  Parser parser(lim);
  Request req;
  std::vector<char> in(16 * 1024);
  std::size_t have = 0;
  std::vector<char> out(config.response_buffer);
  ResponseWriter w(out);
  std::string scratch;
  std::vector<Header> extra;
  bool continue_sent = false;
  bool close_after = false;
  coro::TimePoint request_start{};
  coro::Reactor& reactor = *coro::Reactor::current();

  // Sends what the writer holds.
  auto flush = [&]() -> coro::Task<bool> {
    if (w.size() == 0) co_return true;
    auto r = co_await conn.write(std::as_bytes(w.data()));
    w.clear();
    co_return r.has_value();
  };
  // Appends the response to `req`; bodies too large for the buffer go straight from their
  // storage (or the pattern block) after the head.
  auto respond = [&](const Reply& rep) -> coro::Task<bool> {
    count_status(rep.status);
    const bool head_only = req.method == Method::kHead;
    if (rep.generated == 0 && w.respond(req, rep.status, rep.body, rep.content_type, rep.headers)) {
      co_return true;
    }
    if (!co_await flush()) co_return false;
    if (rep.generated == 0 && w.respond(req, rep.status, rep.body, rep.content_type, rep.headers)) {
      co_return true;
    }
    const std::uint64_t length = rep.generated != 0 ? rep.generated : rep.body.size();
    const ResponseHead head{.status = rep.status,
                            .content_type = rep.content_type,
                            .headers = rep.headers,
                            .keep_alive = req.keep_alive,
                            .http10_peer = req.version == Version::kHttp10,
                            .head_request = head_only};
    if (!w.write_head(head, length) || !co_await flush()) co_return false;
    if (head_only) co_return true;
    if (rep.generated == 0) {
      co_return (co_await conn.write(std::as_bytes(std::span(rep.body)))).has_value();
    }
    const auto& block = pattern_block();
    for (std::uint64_t sent = 0; sent < length;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), length - sent));
      if (!co_await conn.write(std::as_bytes(std::span(block.data(), n)))) co_return false;
      sent += n;
    }
    co_return true;
  };

  for (;;) {
    // Answer every complete request already received (pipelining).
    std::size_t pos = 0;
    while (pos < have && !close_after) {
      const Result r = parser.parse(std::span<char>(in.data() + pos, have - pos), req);
      if (r.need_more()) {
        // RFC 9110 §10.1.1: the client waits for 100 before sending the body.
        if (parser.head_complete() && req.expect_continue && !continue_sent) {
          if (!w.write_continue()) {
            if (!co_await flush()) co_return;
            (void)w.write_continue();
          }
          continue_sent = true;
        }
        break;
      }
      if (r.error()) {
        bump(counters.parse_errors);
        count_status(r.http_status);
        if (!w.error(r.http_status, r.reason)) {
          if (!co_await flush()) co_return;
          (void)w.error(r.http_status, r.reason);
        }
        (void)co_await flush();
        co_await lingering_close(conn);
        co_return;
      }
      bump(counters.requests);
      continue_sent = false;
      extra.clear();
      Reply rep{.status = 200,
                .content_type = "text/plain; charset=utf-8",
                .body = {},
                .generated = 0,
                .buffer = scratch,
                .headers = extra,
                .stack = stack};
      router.dispatch(req, rep);
      if (!co_await respond(rep)) co_return;
      pos += r.consumed;
      close_after = !req.keep_alive;
    }
    if (!co_await flush()) co_return;
    if (close_after) {
      co_await lingering_close(conn);
      co_return;
    }
    // Keep the unanswered rest (the start of the next request) at the front.
    if (pos > 0) {
      std::memmove(in.data(), in.data() + pos, have - pos);
      have -= pos;
    }
    if (have == in.size()) {
      if (in.size() >= max_in) co_return;  // not reached: the parser's limits refuse first
      in.resize(std::min(in.size() * 2, max_in));
    }
    // A request's head has request_timeout from its first byte; an idle connection idle_timeout.
    const coro::Duration wait =
        have > 0 ? request_start + config.request_timeout - reactor.now() : config.idle_timeout;
    // (Not a conditional expression around co_await: GCC 12 then destroys the result in a frame
    // destroyed while suspended there, without having constructed it.)
    coronet::Result<std::size_t> n = Error(Errc::kTimedOut, "request timeout");
    if (wait.count() > 0) {
      n = co_await coro::with_timeout(
          conn.read(std::as_writable_bytes(std::span(in.data() + have, in.size() - have))), wait);
    }
    if (!n) {
      if (n.error().code() == Errc::kTimedOut && have > 0) {
        // RFC 9110 §15.5.9: 408, and the connection closes.
        bump(counters.timeouts);
        count_status(408);
        (void)w.error(408, "request timeout");
        (void)co_await flush();
        co_await lingering_close(conn);
      }
      co_return;  // idle timeout, reset or error: nothing owed
    }
    if (*n == 0) {
      (void)co_await conn.close();
      co_return;
    }
    if (have == 0) request_start = reactor.now();
    have += *n;
  }
}

}  // namespace coronet::http
