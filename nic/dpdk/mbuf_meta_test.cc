// Offload metadata both ways on hand-made mbufs (no EAL): rx ol_flags -> PacketMeta, PacketMeta
// -> tx ol_flags and header lengths, and the descriptor <-> mbuf arithmetic.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <new>

#include "nic/dpdk/internal/mbuf.h"

namespace coronet::nic::dpdk_internal {
namespace {

// An mbuf plus room for its private area, zeroed like rte_pktmbuf_init leaves it.
struct FakeMbuf {
  alignas(64) rte_mbuf m;
  alignas(8) unsigned char priv[kPrivSize];
  FakeMbuf() {
    std::memset(static_cast<void*>(&m), 0, sizeof(m));
    m.priv_size = kPrivSize;
    new (priv) Packet();  // as DpdkDevice does for every mbuf of its pools
  }
};

TEST(MbufMeta, RxRssHashAndGoodChecksums) {
  FakeMbuf f;
  f.m.ol_flags = RTE_MBUF_F_RX_RSS_HASH | RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  f.m.hash.rss = 0xdeadbeef;
  PacketMeta meta;
  fill_rx_meta(f.m, 3, meta);
  EXPECT_EQ(meta.flags, offload::kRssHashValid | offload::kRxIpv4CsumGood | offload::kRxL4CsumGood);
  EXPECT_EQ(meta.rss_hash, 0xdeadbeefu);
  EXPECT_EQ(meta.queue, 3);
}

TEST(MbufMeta, RxBadChecksums) {
  FakeMbuf f;
  f.m.ol_flags = RTE_MBUF_F_RX_IP_CKSUM_BAD | RTE_MBUF_F_RX_L4_CKSUM_BAD;
  PacketMeta meta;
  fill_rx_meta(f.m, 0, meta);
  EXPECT_EQ(meta.flags, offload::kRxIpv4CsumBad | offload::kRxL4CsumBad);
}

TEST(MbufMeta, RxUnknownAndNoneGiveNoVerdict) {
  // NONE sets both the GOOD and the BAD bit: it must not read as either.
  FakeMbuf f;
  f.m.ol_flags = RTE_MBUF_F_RX_IP_CKSUM_NONE | RTE_MBUF_F_RX_L4_CKSUM_NONE;
  PacketMeta meta;
  fill_rx_meta(f.m, 0, meta);
  EXPECT_EQ(meta.flags, 0u);
  f.m.ol_flags = 0;
  fill_rx_meta(f.m, 0, meta);
  EXPECT_EQ(meta.flags, 0u);
}

TEST(MbufMeta, RxLroCarriesSegmentSize) {
  FakeMbuf f;
  f.m.ol_flags = RTE_MBUF_F_RX_LRO;
  f.m.tso_segsz = 1448;
  PacketMeta meta;
  fill_rx_meta(f.m, 0, meta);
  EXPECT_EQ(meta.flags, offload::kRxLro);
  EXPECT_EQ(meta.tso_mss, 1448);
}

TEST(MbufMeta, TxChecksumRequests) {
  FakeMbuf f;
  f.m.ol_flags = RTE_MBUF_F_RX_RSS_HASH;  // left over from rx: must not survive
  PacketMeta meta;
  meta.flags = offload::kTxIpv4Csum | offload::kTxTcpCsum;
  meta.l2_len = 14;
  meta.l3_len = 20;
  meta.l4_len = 32;
  EXPECT_TRUE(set_tx_offload(f.m, meta));
  EXPECT_EQ(f.m.ol_flags, RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4);
  EXPECT_EQ(f.m.l2_len, 14u);
  EXPECT_EQ(f.m.l3_len, 20u);
  EXPECT_EQ(f.m.l4_len, 32u);

  meta.flags = offload::kTxUdpCsum;
  EXPECT_TRUE(set_tx_offload(f.m, meta));
  EXPECT_EQ(f.m.ol_flags, RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_IPV4);
}

TEST(MbufMeta, TxTsoSetsSegmentSize) {
  FakeMbuf f;
  PacketMeta meta;
  meta.flags = offload::kTxIpv4Csum | offload::kTxTso | offload::kTxTcpCsum;
  meta.tso_mss = 1460;
  meta.l2_len = 14;
  meta.l3_len = 20;
  meta.l4_len = 20;
  EXPECT_TRUE(set_tx_offload(f.m, meta));
  EXPECT_EQ(f.m.ol_flags, RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4);
  EXPECT_EQ(f.m.tso_segsz, 1460u);
}

TEST(MbufMeta, TxWithoutRequestsClearsFlags) {
  FakeMbuf f;
  f.m.ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  f.m.l2_len = 14;
  PacketMeta meta;
  EXPECT_FALSE(set_tx_offload(f.m, meta));
  EXPECT_EQ(f.m.ol_flags, 0u);
  EXPECT_EQ(f.m.tx_offload, 0u);
}

TEST(MbufMeta, DescriptorLivesRightAfterTheMbuf) {
  FakeMbuf f;
  Packet* p = descriptor(&f.m);
  EXPECT_EQ(reinterpret_cast<unsigned char*>(p), f.priv);
  // A native packet (no backend cookie) is not an mbuf descriptor.
  Packet native;
  EXPECT_FALSE(is_mbuf_packet(&native));
}

}  // namespace
}  // namespace coronet::nic::dpdk_internal
