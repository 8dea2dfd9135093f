#include "stack/ether/link.h"

#include <gtest/gtest.h>

#include "stack/testing/fake_device.h"

namespace coronet::stack::ether {
namespace {

using testing::FakeDevice;
using testing::FakeDeviceConfig;

FakeDeviceConfig config(std::uint32_t buffers = 256) {
  FakeDeviceConfig c;
  c.mac = nic::MacAddress({2, 0, 0, 0, 0, 1});
  c.pool.count = buffers;
  return c;
}

nic::Packet* frame(Link& link) {
  nic::Packet* p = link.alloc(14);
  p->append(60);
  return p;
}

TEST(Link, FlushHandsTheWholeBatchToTheDeviceInOneBurst) {
  FakeDevice dev(config());
  Link link(dev, 0);
  for (int i = 0; i < 5; ++i) link.send(frame(link));
  EXPECT_EQ(dev.tx_bursts(), 0u);
  EXPECT_EQ(link.flush(), 5u);
  EXPECT_EQ(dev.tx_bursts(), 1u);
  EXPECT_EQ(dev.take_sent().size(), 5u);
  EXPECT_EQ(link.stats().tx_frames, 5u);
}

TEST(Link, FlushWithNothingQueuedCallsNoDevice) {
  FakeDevice dev(config());
  Link link(dev, 0);
  EXPECT_EQ(link.flush(), 0u);
  EXPECT_EQ(dev.tx_bursts(), 0u);
}

TEST(Link, FramesTheDeviceRefusesAreFreedAndCounted) {
  FakeDevice dev(config());
  dev.set_tx_limit(1);
  Link link(dev, 0);
  for (int i = 0; i < 3; ++i) link.send(frame(link));
  EXPECT_EQ(link.flush(), 1u);
  EXPECT_EQ(link.stats().tx_device_full, 2u);
  EXPECT_EQ(dev.pool(0).stats().in_use, 0u);
}

TEST(Link, AFullBatchIsFlushedBeforeTheNextFrame) {
  FakeDevice dev(config());
  Link link(dev, 0);
  for (std::size_t i = 0; i < Link::kTxBatch + 1; ++i) link.send(frame(link));
  EXPECT_EQ(dev.tx_bursts(), 1u);
  EXPECT_EQ(link.pending(), 1u);
}

TEST(Link, AllocGuaranteesTheRequestedHeadroom) {
  FakeDevice dev(config());
  Link link(dev, 0);
  nic::Packet* p = link.alloc(200);
  ASSERT_NE(p, nullptr);
  EXPECT_GE(p->headroom(), 200u);
  nic::PacketPool::free(p);
}

TEST(Link, AllocCountsAnExhaustedPool) {
  FakeDevice dev(config(1));
  Link link(dev, 0);
  nic::Packet* p = link.alloc(14);
  EXPECT_EQ(link.alloc(14), nullptr);
  EXPECT_EQ(link.stats().tx_no_buffer, 1u);
  nic::PacketPool::free(p);
}

TEST(Link, DestructionFreesFramesNeverFlushed) {
  FakeDevice dev(config());
  {
    Link link(dev, 0);
    link.send(frame(link));
  }
  EXPECT_EQ(dev.pool(0).stats().in_use, 0u);
}

}  // namespace
}  // namespace coronet::stack::ether
