// Result<T>: errors as values. Every I/O-style operation in coronet returns one; exceptions are
// reserved for programmer errors (misuse detected at run time, bad start-up configuration).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace coronet {

// Error codes shared by every layer. Each has a human-readable message (errc_message).
enum class Errc : std::uint16_t {
  kCancelled = 1,     // the operation's cancellation token was triggered
  kTimedOut,          // with_timeout() expired before the operation finished
  kAlreadyCancelled,  // cancel() on a source that was already cancelled
  kInvalidArgument,   // caller passed a value outside the documented domain
  kNoSuchCore,        // submit_to()/sharded access with a core index the runtime does not have
  kNotOnReactor,      // an operation that needs a running reactor was called from elsewhere
  kShuttingDown,      // the runtime is stopping and accepts no new work
  kResourceExhausted,  // a bounded pool or queue is full
  // Networking (stack/ and the kernel backend).
  kConnectionRefused,  // the peer answered the SYN with a reset
  kConnectionReset,    // the peer reset an established connection
  kConnectionAborted,  // this side aborted the connection
  kHostUnreachable,    // no ARP answer / ICMP unreachable / no route
  kAddressInUse,       // port already bound or listened on
  kNotConnected,       // operation needs an established connection
  kBrokenPipe,         // write after shutdown() or after the connection closed
  kMessageTooLong,     // datagram larger than the path allows
  kNoBufferSpace,      // a packet buffer could not be allocated
  // Operating-system errors (see errc_from_errno); the detail carries strerror's text.
  kNotFound,          // ENOENT, ENODEV, ENXIO
  kPermissionDenied,  // EACCES, EPERM
  kBusy,              // EBUSY
  kIoError,           // any other failed system call
};

// A short, stable description of `code`.
std::string_view errc_message(Errc code);

// The code for a failed system call's errno (kIoError when nothing more specific fits).
Errc errc_from_errno(int err);

// An error: a code plus optional detail text naming the operation or value involved.
class Error {
 public:
  explicit Error(Errc code, std::string detail = {}) : code_(code), detail_(std::move(detail)) {}
  Errc code() const { return code_; }
  const std::string& detail() const { return detail_; }
  // "<message>" or "<message>: <detail>".
  std::string message() const;
  friend bool operator==(const Error& e, Errc c) { return e.code_ == c; }

 private:
  Errc code_;
  std::string detail_;
};

// Thrown by Result::value() on an error: reading a value that is not there is a programmer error.
class BadResultAccess : public std::logic_error {
 public:
  explicit BadResultAccess(const Error& e)
      : std::logic_error("Result::value() called on an error: " + e.message()) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  template <typename U = T,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, Error> &&
                                        !std::is_same_v<std::decay_t<U>, Result>>>
  Result(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}       // NOLINT
  Result(Errc c) : v_(std::in_place_index<1>, Error(c)) {}            // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !has_value(). Accessing error() of a value is a programmer error.
  const Error& error() const {
    if (has_value()) throw std::logic_error("Result::error() called on a value");
    return std::get<1>(v_);
  }
  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check() const {
    if (!has_value()) throw BadResultAccess(std::get<1>(v_));
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;
  Result() = default;
  Result(Error e) : err_(std::move(e)), failed_(true) {}  // NOLINT
  Result(Errc c) : err_(c), failed_(true) {}             // NOLINT

  bool has_value() const { return !failed_; }
  explicit operator bool() const { return has_value(); }
  void value() const {
    if (failed_) throw BadResultAccess(err_);
  }
  const Error& error() const {
    if (!failed_) throw std::logic_error("Result::error() called on a value");
    return err_;
  }

 private:
  Error err_{Errc::kCancelled};
  bool failed_ = false;
};

template <typename T>
struct is_result : std::false_type {};
template <typename T>
struct is_result<Result<T>> : std::true_type {};
template <typename T>
inline constexpr bool is_result_v = is_result<T>::value;

}  // namespace coronet
