// Links liburing from Debian and round-trips one NOP through a real ring.
#include <gtest/gtest.h>
#include <liburing.h>

#include <cstring>

TEST(UringSmoke, NopRoundTrip) {
  io_uring ring;
  int rc = io_uring_queue_init(8, &ring, 0);
  ASSERT_EQ(rc, 0) << "io_uring_queue_init: " << std::strerror(-rc);
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  ASSERT_NE(sqe, nullptr);
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, 0xC0FFEE);
  ASSERT_EQ(io_uring_submit(&ring), 1);
  io_uring_cqe* cqe = nullptr;
  ASSERT_EQ(io_uring_wait_cqe(&ring, &cqe), 0);
  EXPECT_EQ(io_uring_cqe_get_data64(cqe), 0xC0FFEEu);
  EXPECT_EQ(cqe->res, 0);
  io_uring_cqe_seen(&ring, cqe);
  io_uring_queue_exit(&ring);
}
