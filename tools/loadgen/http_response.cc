#include "tools/loadgen/http_response.h"

#include <algorithm>
#include <charconv>
#include <string_view>

namespace coronet::loadgen {
namespace {

// ASCII case-insensitive equality (header names and tokens, RFC 9110 §5.1).
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Without leading and trailing spaces and tabs (optional whitespace, RFC 9110 §5.6.3).
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(token) for each comma-separated, trimmed, non-empty element of a list field.
template <typename Fn>
void for_each_token(std::string_view list, Fn fn) {
  while (!list.empty()) {
    const std::size_t comma = std::min(list.find(','), list.size());
    const std::string_view token = trim(list.substr(0, comma));
    if (!token.empty()) fn(token);
    list.remove_prefix(std::min(comma + 1, list.size()));
  }
}

}  // namespace

HttpResponseParser::HttpResponseParser() { line_.reserve(kMaxLine + 1); }

void HttpResponseParser::clear_message() {
  line_.clear();
  status_ = 0;
  http10_ = false;
  keep_alive_ = true;
  chunked_ = false;
  has_length_ = false;
  transfer_encoding_ = false;
  remaining_ = 0;
}

void HttpResponseParser::reset() {
  clear_message();
  state_ = State::kStatusLine;
  started_ = false;
  error_ = "";
}

HttpResponseParser::Status HttpResponseParser::fail(const char* why) {
  error_ = why;
  state_ = State::kFailed;
  return Status::kError;
}

bool HttpResponseParser::take_line(std::span<const char> in, std::size_t& i) {
  const char* begin = in.data() + i;
  const char* end = in.data() + in.size();
  const char* nl = std::find(begin, end, '\n');
  // Never hold more than kMaxLine (+1 to notice the excess): the caller fails such a line.
  const std::size_t room = kMaxLine + 1 - std::min(line_.size(), kMaxLine + 1);
  line_.append(begin, std::min(static_cast<std::size_t>(nl - begin), room));
  if (nl == end) {
    i = in.size();
    return false;
  }
  i = static_cast<std::size_t>(nl - in.data()) + 1;
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();  // CRLF; a bare LF is tolerated
  return true;
}

// RFC 9112 §4: HTTP-version SP 3DIGIT SP [reason-phrase].
bool HttpResponseParser::on_status_line() {
  const std::string_view l = line_;
  if (l.size() < 12 || !l.starts_with("HTTP/1.") || l[7] < '0' || l[7] > '9' || l[8] != ' ') {
    return false;
  }
  http10_ = l[7] == '0';
  keep_alive_ = !http10_;  // RFC 9112 §9.3: 1.1 persists by default, 1.0 only with keep-alive
  int code = 0;
  for (std::size_t k = 9; k < 12; ++k) {
    if (l[k] < '0' || l[k] > '9') return false;
    code = code * 10 + (l[k] - '0');
  }
  if (l.size() > 12 && l[12] != ' ') return false;
  status_ = code;
  return code >= 100;
}

// The fields that frame the message (RFC 9112 §6.1-6.3) and decide persistence (§9.3).
bool HttpResponseParser::on_header_line() {
  const std::string_view l = line_;
  const std::size_t colon = l.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  const std::string_view name = l.substr(0, colon);
  if (name.find_first_of(" \t") != std::string_view::npos) return false;  // RFC 9112 §5.1
  const std::string_view value = trim(l.substr(colon + 1));
  if (iequals(name, "content-length")) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size()) return false;
    if (has_length_ && n != remaining_) return false;  // RFC 9112 §6.3 item 5: conflicting
    has_length_ = true;
    remaining_ = n;
  } else if (iequals(name, "transfer-encoding")) {
    transfer_encoding_ = true;
    chunked_ = false;
    for_each_token(value, [this](std::string_view t) { chunked_ = iequals(t, "chunked"); });
  } else if (iequals(name, "connection")) {
    for_each_token(value, [this](std::string_view t) {
      if (iequals(t, "close")) keep_alive_ = false;
      if (iequals(t, "keep-alive") && http10_) keep_alive_ = true;
    });
  }
  return true;
}

// RFC 9112 §6.3, in its order, for a response to a GET.
void HttpResponseParser::start_body() {
  if (status_ == 204 || status_ == 304) {
    state_ = State::kDone;
  } else if (transfer_encoding_) {
    // Item 4: chunked last means chunked; any other coding runs until the close.
    state_ = chunked_ ? State::kChunkSize : State::kUntilClose;
    if (!chunked_) keep_alive_ = false;
  } else if (has_length_) {
    state_ = remaining_ == 0 ? State::kDone : State::kBody;
  } else {
    state_ = State::kUntilClose;  // item 8
    keep_alive_ = false;
  }
}

// RFC 9112 §7.1: chunk-size in hex, optional extensions after ';'.
bool HttpResponseParser::on_chunk_size_line() {
  std::string_view l = trim(line_);
  l = trim(l.substr(0, std::min(l.find(';'), l.size())));
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(l.data(), l.data() + l.size(), n, 16);
  if (l.empty() || ec != std::errc() || end != l.data() + l.size()) return false;
  remaining_ = n;
  state_ = n == 0 ? State::kTrailers : State::kChunkData;
  return true;
}

HttpResponseParser::Status HttpResponseParser::feed(std::span<const char> in, std::size_t& used) {
  used = 0;
  if (state_ == State::kFailed) return Status::kError;
  if (state_ == State::kDone) return Status::kComplete;
  if (!in.empty()) started_ = true;
  std::size_t i = 0;
  while (i < in.size()) {
    switch (state_) {
      case State::kStatusLine:
      case State::kHeaders:
      case State::kChunkSize:
      case State::kChunkDataEnd:
      case State::kTrailers: {
        if (!take_line(in, i)) {
          if (line_.size() > kMaxLine) return fail("line longer than 8192 bytes");
          break;
        }
        if (line_.size() > kMaxLine) return fail("line longer than 8192 bytes");
        if (state_ == State::kStatusLine) {
          if (!on_status_line()) return fail("malformed status line");
          state_ = State::kHeaders;
        } else if (state_ == State::kHeaders) {
          if (!line_.empty()) {
            if (!on_header_line()) return fail("malformed header field");
          } else if (status_ == 101) {
            return fail("101 Switching Protocols: the connection is no longer HTTP");
          } else if (status_ < 200) {
            clear_message();  // interim response (RFC 9110 §15.2): the final one follows
            state_ = State::kStatusLine;
          } else {
            start_body();
          }
        } else if (state_ == State::kChunkSize) {
          if (!on_chunk_size_line()) return fail("malformed chunk size");
        } else if (state_ == State::kChunkDataEnd) {
          if (!line_.empty()) return fail("chunk data longer than its size");
          state_ = State::kChunkSize;
        } else if (line_.empty()) {  // kTrailers: the empty line ends the message
          state_ = State::kDone;
        }
        line_.clear();
        break;
      }
      case State::kBody:
      case State::kChunkData: {
        const std::uint64_t n = std::min<std::uint64_t>(remaining_, in.size() - i);
        i += static_cast<std::size_t>(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = state_ == State::kBody ? State::kDone : State::kChunkDataEnd;
        break;
      }
      case State::kUntilClose:
        i = in.size();
        break;
      case State::kDone:
      case State::kFailed:
        break;
    }
    if (state_ == State::kDone) {
      used = i;
      return Status::kComplete;
    }
  }
  used = i;
  return Status::kNeedMore;
}

HttpResponseParser::Status HttpResponseParser::finish() {
  if (state_ == State::kUntilClose) {
    state_ = State::kDone;
    keep_alive_ = false;
    return Status::kComplete;
  }
  if (state_ == State::kDone) return Status::kComplete;
  if (state_ == State::kStatusLine && !started_) return Status::kNeedMore;
  return fail("connection closed before the response ended");
}

}  // namespace coronet::loadgen
