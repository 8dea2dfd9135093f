#include "tests/stack/kernel_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "tests/stack/sim_hosts.h"

namespace coronet::testing {

sockaddr_in to_sockaddr(stack::Endpoint e) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(e.port);
  a.sin_addr.s_addr = htonl(e.addr.raw());
  return a;
}

namespace {


void set_timeouts(int fd) {
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

int kernel_connect(stack::Endpoint to) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  set_timeouts(fd);
  sockaddr_in a = to_sockaddr(to);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int kernel_listen(stack::Endpoint at) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = to_sockaddr(at);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int kernel_accept(int lfd) {
  set_timeouts(lfd);
  int fd = accept(lfd, nullptr, nullptr);
  if (fd >= 0) set_timeouts(fd);
  return fd;
}

bool kernel_send_pattern(int fd, std::uint64_t seed, std::uint64_t total) {
  std::vector<std::byte> buf(65536);
  std::uint64_t sent = 0;
  while (sent < total) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - sent));
    for (std::size_t i = 0; i < n; ++i) buf[i] = pattern(seed, sent + i);
    std::size_t off = 0;
    while (off < n) {
      ssize_t w = ::send(fd, buf.data() + off, n - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        std::fprintf(stderr, "kernel peer: send failed after %llu bytes: %s\n",
                     static_cast<unsigned long long>(sent + off), std::strerror(errno));
        return false;
      }
      off += static_cast<std::size_t>(w);
    }
    sent += n;
  }
  return true;
}

// Reads to EOF; returns the byte count, or -1 on an error or a mismatch.
std::int64_t kernel_receive_pattern(int fd, std::uint64_t seed) {
  std::vector<std::byte> buf(65536);
  std::uint64_t got = 0;
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::fprintf(stderr, "kernel peer: recv failed after %llu bytes: %s\n",
                   static_cast<unsigned long long>(got), std::strerror(errno));
      return -1;
    }
    if (n == 0) return static_cast<std::int64_t>(got);
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[static_cast<std::size_t>(i)] != pattern(seed, got + static_cast<std::uint64_t>(i))) {
        return -1;
      }
    }
    got += static_cast<std::uint64_t>(n);
  }
}

namespace {
// Starts `body(listen_fd)` on a namespace thread and returns after listen().
template <typename R, typename F>
std::future<R> serve(const NetNs& ns, stack::Endpoint at, F body) {
  auto listening = std::make_shared<std::promise<void>>();
  auto ready = listening->get_future();
  auto result = std::async(std::launch::async, [&ns, at, listening, body]() -> R {
    NetNs::Enter in(ns);
    int lfd = kernel_listen(at);
    listening->set_value();
    if (lfd < 0) return R{};
    int fd = kernel_accept(lfd);
    close(lfd);
    if (fd < 0) return R{};
    return body(fd);
  });
  ready.wait();
  return result;
}
}  // namespace

std::future<std::int64_t> kernel_serve_once(const NetNs& ns, stack::Endpoint at,
                                            std::uint64_t seed_in, std::uint64_t seed_out,
                                            std::uint64_t bytes_out) {
  return serve<std::int64_t>(ns, at, [=](int fd) -> std::int64_t {
    std::int64_t got = kernel_receive_pattern(fd, seed_in);
    bool ok = kernel_send_pattern(fd, seed_out, bytes_out);
    close(fd);
    return ok ? got : -1;
  });
}

std::future<bool> kernel_reset_once(const NetNs& ns, stack::Endpoint at) {
  return serve<bool>(ns, at, [](int fd) {
    linger l{1, 0};  // close with RST
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
    return true;
  });
}

}  // namespace coronet::testing
