#include "tests/netns/netns.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace coronet::testing {

Result<std::string> shell(const std::string& command) {
  std::string full = command + " 2>&1";
  FILE* f = popen(full.c_str(), "r");
  if (f == nullptr) return Error(Errc::kInvalidArgument, "popen failed: " + command);
  std::string out;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
  int status = pclose(f);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Error(Errc::kInvalidArgument,
                 "`" + command + "` failed (status " + std::to_string(status) + "): " + out);
  }
  return out;
}

Result<NetNs> NetNs::create(const std::string& tag) {
  std::string name = "coronet-" + tag + "-" + std::to_string(getpid());
  (void)shell("ip netns del " + name);  // leftovers of a crashed run with the same pid
  if (auto r = shell("ip netns add " + name); !r) return r.error();
  NetNs ns(name);
  if (auto r = ns.exec("ip link set lo up"); !r) return r.error();
  return Result<NetNs>(std::move(ns));
}

NetNs::NetNs(NetNs&& o) noexcept : name_(std::move(o.name_)) { o.name_.clear(); }

NetNs::~NetNs() {
  if (!name_.empty()) (void)shell("ip netns del " + name_);
}

Result<std::string> NetNs::exec(const std::string& command) const {
  return shell("ip netns exec " + name_ + " sh -c '" + command + "'");
}

NetNs::Enter::Enter(const NetNs& ns) {
  saved_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  std::string path = "/run/netns/" + ns.name();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (saved_fd_ < 0 || fd < 0) {
    error_ = "open " + path + ": " + std::strerror(errno);
  } else if (setns(fd, CLONE_NEWNET) != 0) {
    error_ = "setns " + path + ": " + std::strerror(errno);
  } else {
    ok_ = true;
  }
  if (fd >= 0) close(fd);
}

NetNs::Enter::~Enter() {
  if (ok_) (void)setns(saved_fd_, CLONE_NEWNET);
  if (saved_fd_ >= 0) close(saved_fd_);
}

}  // namespace coronet::testing
