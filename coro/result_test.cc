// Result/Error: values, errors with messages, misuse, errno classification.
#include "coro/result.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace coronet {
namespace {

TEST(Result, HoldsAValueOrAnErrorWithAMessage) {
  Result<int> ok = 5;
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, 5);
  Result<int> bad = Error(Errc::kConnectionRefused, "198.18.0.2:80");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "connection refused: 198.18.0.2:80");
  EXPECT_EQ(bad.value_or(7), 7);
}

TEST(Result, ReadingTheWrongSideIsAProgrammerError) {
  Result<int> bad = Errc::kTimedOut;
  EXPECT_THROW((void)bad.value(), BadResultAccess);
  Result<void> fine;
  EXPECT_THROW((void)fine.error(), std::logic_error);
}

TEST(Errc, EveryCodeHasAMessage) {
  for (int c = 1; c <= static_cast<int>(Errc::kIoError); ++c) {
    EXPECT_NE(errc_message(static_cast<Errc>(c)), "unknown error") << c;
  }
}

TEST(Errc, ErrnoIsClassified) {
  EXPECT_EQ(errc_from_errno(ENOENT), Errc::kNotFound);
  EXPECT_EQ(errc_from_errno(EACCES), Errc::kPermissionDenied);
  EXPECT_EQ(errc_from_errno(EBUSY), Errc::kBusy);
  EXPECT_EQ(errc_from_errno(ENOSPC), Errc::kResourceExhausted);
  EXPECT_EQ(errc_from_errno(EADDRINUSE), Errc::kAddressInUse);
  EXPECT_EQ(errc_from_errno(EIO), Errc::kIoError);
}

}  // namespace
}  // namespace coronet
