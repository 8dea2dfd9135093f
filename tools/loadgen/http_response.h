// HttpResponseParser: finds where each HTTP/1.1 response on a connection ends (RFC 9112 §6.3),
// incrementally, so a load generator can count pipelined responses as their last bytes arrive.
// It reads the status line, the few header fields that decide framing (Content-Length,
// Transfer-Encoding: chunked, Connection) and skips the body without keeping it. Interim 1xx
// responses are skipped. Header and chunk-size lines are limited to kMaxLine bytes; the line
// buffer is reserved once, so steady-state parsing does not allocate.
//
//   std::size_t used = 0;
//   switch (parser.feed(bytes, used)) {        // consumes at most one response's bytes
//     case kNeedMore: read more;
//     case kComplete: parser.status(), parser.keep_alive(); parser.reset(); feed the rest;
//     case kError:    parser.error() says why; the connection is unusable
//   }
//   At end of stream: finish() completes a body delimited by the close, or is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace coronet::loadgen {

class HttpResponseParser {
 public:
  enum class Status : unsigned char { kNeedMore, kComplete, kError };
  static constexpr std::size_t kMaxLine = 8192;

  // Reserves the line buffer once.
  HttpResponseParser();

  // Parses from `in`; `used` is set to the bytes consumed (all of `in` for kNeedMore, up to the
  // response's last byte for kComplete). After kComplete, call reset() before feeding more.
  Status feed(std::span<const char> in, std::size_t& used);
  // The peer closed the connection: completes a response whose body runs until the close
  // (kComplete), kNeedMore when no byte of a response had arrived, else kError (truncated).
  Status finish();
  // Ready for the next response on the same connection.
  void reset();

  // The status code of the completed response (after kComplete).
  int status() const { return status_; }
  // False when the response asked to close the connection (Connection: close, or HTTP/1.0
  // without keep-alive), or its body ran until the close.
  bool keep_alive() const { return keep_alive_; }
  // Whether any byte of the current response has been consumed.
  bool started() const { return started_; }
  // Why feed()/finish() said kError.
  const char* error() const { return error_; }

 private:
  enum class State : unsigned char {
    kStatusLine,
    kHeaders,
    kBody,  // Content-Length bytes left in remaining_
    kChunkSize,
    kChunkData,     // remaining_ bytes of chunk data
    kChunkDataEnd,  // the CRLF after chunk data
    kTrailers,
    kUntilClose,
    kDone,
    kFailed,
  };
  // Collects one line (without CR LF) into line_ from in[i...]; true once it is complete.
  bool take_line(std::span<const char> in, std::size_t& i);
  // Forgets the current message's fields (kept: whether the response started).
  void clear_message();
  bool on_status_line();
  bool on_header_line();
  // After the empty line ending the header section: choose how the body is framed.
  void start_body();
  bool on_chunk_size_line();
  // Records `why` and refuses everything after it.
  Status fail(const char* why);

  State state_ = State::kStatusLine;
  std::string line_;
  int status_ = 0;
  bool http10_ = false;
  bool keep_alive_ = true;
  bool chunked_ = false;
  bool has_length_ = false;
  bool transfer_encoding_ = false;
  bool started_ = false;
  std::uint64_t remaining_ = 0;
  const char* error_ = "";
};

}  // namespace coronet::loadgen
