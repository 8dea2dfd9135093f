#include "coro/result.h"

#include <cerrno>

namespace coronet {

std::string_view errc_message(Errc code) {
  switch (code) {
    case Errc::kCancelled:
      return "operation cancelled";
    case Errc::kTimedOut:
      return "operation timed out";
    case Errc::kAlreadyCancelled:
      return "cancellation was already requested";
    case Errc::kInvalidArgument:
      return "invalid argument";
    case Errc::kNoSuchCore:
      return "no such core";
    case Errc::kNotOnReactor:
      return "not called from a reactor thread";
    case Errc::kShuttingDown:
      return "runtime is shutting down";
    case Errc::kResourceExhausted:
      return "resource exhausted";
    case Errc::kConnectionRefused:
      return "connection refused";
    case Errc::kConnectionReset:
      return "connection reset by peer";
    case Errc::kConnectionAborted:
      return "connection aborted";
    case Errc::kHostUnreachable:
      return "host unreachable";
    case Errc::kAddressInUse:
      return "address already in use";
    case Errc::kNotConnected:
      return "not connected";
    case Errc::kBrokenPipe:
      return "broken pipe: the sending side is closed";
    case Errc::kMessageTooLong:
      return "message too long";
    case Errc::kNoBufferSpace:
      return "no packet buffer space";
    case Errc::kNotFound:
      return "not found";
    case Errc::kPermissionDenied:
      return "permission denied";
    case Errc::kBusy:
      return "device or resource busy";
    case Errc::kIoError:
      return "input/output error";
  }
  return "unknown error";
}

Errc errc_from_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return Errc::kNotFound;
    case EACCES:
    case EPERM:
      return Errc::kPermissionDenied;
    case EBUSY:
      return Errc::kBusy;
    case EADDRINUSE:
      return Errc::kAddressInUse;
    case EINVAL:
    case ENAMETOOLONG:
      return Errc::kInvalidArgument;
    case ETIMEDOUT:
      return Errc::kTimedOut;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case ENOMEM:
    case ENOBUFS:
    case EMFILE:
    case ENFILE:
      return Errc::kResourceExhausted;
    default:
      return Errc::kIoError;
  }
}

std::string Error::message() const {
  std::string m(errc_message(code_));
  if (!detail_.empty()) {
    m += ": ";
    m += detail_;
  }
  return m;
}

}  // namespace coronet
