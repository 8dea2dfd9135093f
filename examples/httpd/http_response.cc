// Response formatting into a fixed buffer (RFC 9112 §4, §6), see http_parser.h.
#include <cstring>

#include "examples/httpd/http_parser.h"

namespace coronet::http {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kContentLength = "Content-Length: ";
constexpr std::string_view kContentType = "Content-Type: ";
constexpr std::string_view kConnectionClose = "Connection: close\r\n";
constexpr std::string_view kConnectionKeepAlive = "Connection: keep-alive\r\n";

// Number of decimal digits of `v`.
std::size_t decimal_digits(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

// Writes `v` in decimal as exactly `digits` characters at `p`; returns the end.
char* put_decimal(char* p, std::uint64_t v, std::size_t digits) {
  for (std::size_t i = digits; i > 0; --i) {
    p[i - 1] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return p + digits;
}

// Copies `s` to `p`; returns the end.
char* put(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

// Registered reason phrases; the switch compiles to a jump table.
std::string_view reason_phrase(int status) {
  switch (status) {
    // RFC 9110 §15.2 Informational
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    // §15.3 Successful
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    // §15.4 Redirection
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    // §15.5 Client Error
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    // RFC 6585 §3-§5
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    // RFC 9110 §15.6 Server Error
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return {};
  }
}

// Formats the head and, unless the response has no content, `body` in one pass after checking
// that everything fits.
bool ResponseWriter::append_head(const ResponseHead& head, std::uint64_t content_length,
                                 std::string_view body) {
  if (head.status < 100 || head.status > 999) return false;  // status-code = 3DIGIT (§4)
  // RFC 9110 §8.6: no Content-Length in 1xx or 204; RFC 9112 §6.3 item 1: 1xx, 204 and 304
  // responses end at the empty line (304's Content-Length is optional and omitted here).
  const bool no_content = head.status < 200 || head.status == 204 || head.status == 304;
  // RFC 9110 §9.3.2: HEAD gets the GET headers, Content-Length included, but no content.
  const bool send_body = !no_content && !head.head_request;
  const std::string_view reason = reason_phrase(head.status);
  const std::size_t cl_digits = decimal_digits(content_length);

  // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF. We always
  // answer as HTTP/1.1 (RFC 9110 §6.2: the highest minor version the server conforms to).
  std::size_t total = 13 + reason.size() + kCrlf.size();
  if (!no_content) total += kContentLength.size() + cl_digits + kCrlf.size();
  if (!head.content_type.empty()) {
    total += kContentType.size() + head.content_type.size() + kCrlf.size();
  }
  // RFC 9112 §9.6: "close" announces that the connection ends after this response; an HTTP/1.0
  // peer needs "keep-alive" to keep it (RFC 9112 Appendix C.2.2).
  if (!head.keep_alive) {
    total += kConnectionClose.size();
  } else if (head.http10_peer) {
    total += kConnectionKeepAlive.size();
  }
  for (const Header& h : head.headers) total += h.name.size() + 2 + h.value.size() + kCrlf.size();
  total += kCrlf.size();
  if (send_body) total += body.size();

  if (total > buf_.size() - size_) {
    needed_ = size_ + total;
    return false;
  }
  char* p = buf_.data() + size_;
  p = put(p, "HTTP/1.1 ");
  p = put_decimal(p, static_cast<std::uint64_t>(head.status), 3);
  *p++ = ' ';
  p = put(p, reason);
  p = put(p, kCrlf);
  if (!no_content) {
    p = put(p, kContentLength);
    p = put_decimal(p, content_length, cl_digits);
    p = put(p, kCrlf);
  }
  if (!head.content_type.empty()) {
    p = put(p, kContentType);
    p = put(p, head.content_type);
    p = put(p, kCrlf);
  }
  if (!head.keep_alive) {
    p = put(p, kConnectionClose);
  } else if (head.http10_peer) {
    p = put(p, kConnectionKeepAlive);
  }
  for (const Header& h : head.headers) {
    p = put(p, h.name);
    p = put(p, ": ");
    p = put(p, h.value);
    p = put(p, kCrlf);
  }
  p = put(p, kCrlf);
  if (send_body) p = put(p, body);
  size_ = static_cast<std::size_t>(p - buf_.data());
  needed_ = 0;
  return true;
}

// A complete response: head plus `body` (or only the head for HEAD).
bool ResponseWriter::write(const ResponseHead& head, std::string_view body) {
  return append_head(head, body.size(), body);
}

// The head alone; the caller streams `content_length` bytes after it.
bool ResponseWriter::write_head(const ResponseHead& head, std::uint64_t content_length) {
  ResponseHead h = head;
  h.head_request = true;  // same head, and no content from us
  return append_head(h, content_length, {});
}

// A response shaped by the request: persistence, HTTP/1.0 peer and HEAD come from `req`.
bool ResponseWriter::respond(const Request& req, int status, std::string_view body,
                             std::string_view content_type, std::span<const Header> headers) {
  ResponseHead head;
  head.status = status;
  head.content_type = content_type;
  head.headers = headers;
  head.keep_alive = req.keep_alive;
  head.http10_peer = req.version == Version::kHttp10;
  head.head_request = req.method == Method::kHead;
  return append_head(head, body.size(), body);
}

// The answer to a rejected request (Parser's kError): text body, connection closing.
bool ResponseWriter::error(int status, std::string_view reason) {
  ResponseHead head;
  head.status = status;
  head.content_type = "text/plain";
  head.keep_alive = false;  // after a framing error the rest of the stream is not trustworthy
  return append_head(head, reason.size(), reason);
}

// The interim "100 Continue" for a request that expects it before sending its body.
bool ResponseWriter::write_continue() {
  // RFC 9110 §15.2.1: an interim response, no fields, no content.
  constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  if (kContinue.size() > buf_.size() - size_) {
    needed_ = size_ + kContinue.size();
    return false;
  }
  put(buf_.data() + size_, kContinue);
  size_ += kContinue.size();
  needed_ = 0;
  return true;
}

}  // namespace coronet::http
