// For tests: a copy of everything one Parser::parse call produced (the Result and, when a
// request is complete, every field of it), so results obtained from different buffers (whole,
// byte by byte, moved between reads) can be compared with ==.
#ifndef CORONET_EXAMPLES_HTTPD_HTTP_SNAPSHOT_H_
#define CORONET_EXAMPLES_HTTPD_HTTP_SNAPSHOT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "examples/httpd/http_parser.h"

namespace coronet::http {

struct Snapshot {
  ParseStatus status = ParseStatus::kNeedMore;
  std::size_t consumed = 0;
  int http_status = 0;
  std::string method_name, target, path, query, body;
  Method method = Method::kOther;
  Version version = Version::kHttp11;
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint64_t content_length = 0;
  bool chunked = false, keep_alive = false, expect_continue = false;

  bool operator==(const Snapshot&) const = default;
};

// Copies `r` and `req` into a Snapshot (request fields only when complete).
inline Snapshot snap(const Result& r, const Request& req) {
  Snapshot s;
  s.status = r.status;
  s.consumed = r.consumed;
  s.http_status = r.http_status;
  if (!r.complete()) return s;
  s.method_name = std::string(req.method_name);
  s.method = req.method;
  s.target = std::string(req.target);
  s.path = std::string(req.path);
  s.query = std::string(req.query);
  s.version = req.version;
  for (const Header& h : req.headers()) s.headers.emplace_back(h.name, h.value);
  s.content_length = req.content_length;
  s.chunked = req.chunked;
  s.keep_alive = req.keep_alive;
  s.expect_continue = req.expect_continue;
  s.body = std::string(req.body);
  return s;
}

}  // namespace coronet::http

#endif  // CORONET_EXAMPLES_HTTPD_HTTP_SNAPSHOT_H_
