// httpd end to end on coronet's own TCP over the in-memory wire (virtual time): the server's
// connection handling (keep-alive, pipelining, bodies, errors, timeouts) checked on raw bytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "coro/timeout.h"
#include "coronet/socket.h"
#include "examples/httpd/httpd.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::http {
namespace {

using namespace std::chrono_literals;
using testing::SimPair;

struct HttpWire {
  explicit HttpWire(ServerConfig cfg = {}, Router r = Router::with_defaults())
      : config(cfg), router(std::move(r)) {
    server = Stack::user(s.b->tcp);
    client = Stack::user(s.a->tcp);
    s.v.reactor.spawn(serve(*server, 8080, router, config));
  }
  Connection connect() {
    auto c = s.v.reactor.block_on(client->connect({SimPair::kAddrB, 8080}));
    EXPECT_TRUE(c.has_value()) << c.error().message();
    return c ? std::move(*c) : Connection{};
  }
  void send(Connection& c, const std::string& data) {
    s.v.reactor.block_on([&]() -> coro::Task<void> {
      EXPECT_TRUE(co_await c.write(std::as_bytes(std::span(data))));
    }());
  }
  // Everything the server sends until it closes the connection or `quiet` passes without data.
  std::string receive(Connection& c, coro::Duration quiet = 2s, bool* closed = nullptr) {
    return s.v.reactor.block_on([&]() -> coro::Task<std::string> {
      std::string got;
      std::array<std::byte, 65536> buf;
      for (;;) {
        auto n = co_await coro::with_timeout(c.read(buf), quiet);
        if (!n || *n == 0) {
          if (closed != nullptr) *closed = n.has_value();
          co_return got;
        }
        got.append(reinterpret_cast<const char*>(buf.data()), *n);
      }
    }());
  }
  // Sends `request` on a fresh connection and returns everything received.
  std::string exchange(const std::string& request, bool* closed = nullptr) {
    Connection c = connect();
    send(c, request);
    return receive(c, 2s, closed);
  }

  SimPair s;
  ServerConfig config;
  Router router;
  std::optional<Stack> server, client;
};

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(HttpdWire, KeepAliveServesManyRequestsOnOneConnection) {
  HttpWire w;
  Connection c = w.connect();
  for (int i = 0; i < 5; ++i) {
    w.send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(w.receive(c, 100ms),
              "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain; "
              "charset=utf-8\r\n\r\nHello, World!\n");
  }
}

TEST(HttpdWire, PipelinedRequestsGetTheirResponsesInOrder) {
  HttpWire w;
  const std::string req =
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
      "HEAD /bytes/7 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  bool closed = false;
  const std::string got = w.exchange(req, &closed);
  EXPECT_TRUE(closed);  // Connection: close on the last one
  const std::size_t hello = got.find("Hello, World!\n");
  const std::size_t echo = got.find("\r\n\r\nabcde");
  const std::size_t head = got.find("Content-Length: 7\r\n");
  const std::size_t nf = got.find("HTTP/1.1 404 Not Found");
  ASSERT_NE(hello, std::string::npos) << got;
  ASSERT_NE(echo, std::string::npos) << got;
  ASSERT_NE(head, std::string::npos) << got;
  ASSERT_NE(nf, std::string::npos) << got;
  EXPECT_LT(hello, echo);
  EXPECT_LT(echo, head);
  EXPECT_LT(head, nf);
  EXPECT_EQ(got.find("abcde", head), std::string::npos);  // HEAD: no body
  EXPECT_EQ(count(got, "HTTP/1.1 "), 4);
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
}

TEST(HttpdWire, LargeGeneratedBodyArrivesWhole) {
  HttpWire w;
  const std::string got = w.exchange("GET /bytes/1048576 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::size_t body = got.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_NE(got.find("Content-Length: 1048576"), std::string::npos);
  ASSERT_EQ(got.size() - body - 4, 1048576u);
  for (std::size_t i = 0; i < 1048576; i += 4099) {
    ASSERT_EQ(got[body + 4 + i], static_cast<char>('a' + (i % 16384) % 26)) << i;
  }
}

TEST(HttpdWire, ErrorsCarryTheirStatusAndCloseTheConnection) {
  HttpWire w;
  struct Case {
    std::string request;
    const char* status;
  };
  const std::string huge_header = "GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(9000, 'h') + "\r\n\r\n";
  for (const Case& k : {Case{"GARBAGE\r\n\r\n", "400"}, Case{"GET / HTTP/1.1\r\n\r\n", "400"},
                        Case{"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"},
                        Case{"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", "413"},
                        Case{huge_header, "431"},
                        Case{"GET /bytes/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "400"},
                        Case{"DELETE /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "405"}}) {
    bool closed = false;
    const std::string got = w.exchange(k.request, &closed);
    EXPECT_EQ(got.substr(0, 12), std::string("HTTP/1.1 ") + k.status) << k.request.substr(0, 40) << got;
    EXPECT_TRUE(closed) << k.request.substr(0, 40);
  }
  EXPECT_NE(w.exchange("DELETE /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("Allow: GET, HEAD"),
            std::string::npos);
}

TEST(HttpdWire, SlowHeadersAreCutByTheRequestTimeout) {
  ServerConfig cfg;
  cfg.request_timeout = 3s;
  HttpWire w(cfg);
  Connection c = w.connect();
  // A slowloris: a header byte every second, never finishing.
  const std::string slow = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaa";
  std::string got;
  bool closed = false;
  for (char ch : slow) {
    w.send(c, std::string(1, ch));
    got += w.receive(c, 1s, &closed);
    if (closed) break;
  }
  EXPECT_TRUE(closed);
  EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 408") << got;
}

TEST(HttpdWire, IdleConnectionsCloseAfterTheIdleTimeout) {
  ServerConfig cfg;
  cfg.idle_timeout = 5s;
  HttpWire w(cfg);
  Connection c = w.connect();
  w.send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(w.receive(c, 1s).find("Hello"), std::string::npos);
  bool closed = false;
  const std::string rest = w.receive(c, 10s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(rest, "");  // closed quietly: no response owed
}

TEST(HttpdWire, ExpectContinueGetsA100BeforeTheBody) {
  HttpWire w;
  Connection c = w.connect();
  w.send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(w.receive(c, 100ms), "HTTP/1.1 100 Continue\r\n\r\n");
  w.send(c, "wxyz");
  const std::string got = w.receive(c, 100ms);
  EXPECT_EQ(got.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(got.substr(got.size() - 4), "wxyz");
}

TEST(HttpdWire, HttpTenClosesUnlessKeepAliveIsAsked) {
  HttpWire w;
  bool closed = false;
  std::string got = w.exchange("GET /hello HTTP/1.0\r\n\r\n", &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(got.substr(0, 15), "HTTP/1.1 200 OK");
  Connection c = w.connect();
  w.send(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  got = w.receive(c, 100ms, &closed);
  EXPECT_FALSE(closed);
  EXPECT_NE(got.find("Connection: keep-alive"), std::string::npos) << got;
}

TEST(HttpdWire, StaticFilesAreServedAndTraversalIsRefused) {
  char tmpl[] = "/tmp/coronet-httpd-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::ofstream(dir + "/index.html") << "<h1>hi</h1>";
  std::ofstream(dir + "/../coronet-httpd-secret-" + std::to_string(getpid())) << "secret";
  Router r = Router::with_defaults();
  r.static_dir("/static/", dir);
  HttpWire w({}, std::move(r));
  std::string got = w.exchange("GET /static/index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(got.find("Content-Type: text/html"), std::string::npos) << got;
  EXPECT_EQ(got.substr(got.size() - 11), "<h1>hi</h1>");
  const std::string secret = "coronet-httpd-secret-" + std::to_string(getpid());
  for (const std::string& path : {"/static/../" + secret, "/static/%2e%2e/" + secret,
                                  std::string("/static/./index.html"), std::string("/static/")}) {
    got = w.exchange("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 404") << path;
    EXPECT_EQ(got.find("secret"), std::string::npos) << path;
  }
  std::remove((dir + "/index.html").c_str());
  std::remove((dir + "/../" + secret).c_str());
  rmdir(dir.c_str());
}

TEST(HttpdWire, MetricsCountRequestsAndResponses) {
  HttpWire w;
  (void)w.exchange("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  (void)w.exchange("GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string got = w.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(got.find("# TYPE httpd_requests_total counter"), std::string::npos) << got;
  EXPECT_NE(got.find("httpd_responses_4xx_total{core=\"0\"}"), std::string::npos);
}

}  // namespace
}  // namespace coronet::http
