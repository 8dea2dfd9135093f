// ARP through the engine: frames in, frames out (RFC 826, RFC 1122 §2.3.2, RFC 5227).
#include "stack/arp/arp_cache.h"

#include <gtest/gtest.h>

#include "stack/testing/engine_fixture.h"

namespace coronet::stack::arp {
namespace {

using namespace std::chrono_literals;
using testing::arp;
using testing::ArpView;
using testing::Bytes;
using testing::EngineFixture;
using testing::eth;
using testing::kEthArp;
using testing::kGatewayIp;
using testing::kOtherMac;
using testing::kOurIp;
using testing::kOurMac;
using testing::kPeerIp;
using testing::kPeerMac;
using State = ArpCache::State;

const Ipv4Address kThirdIp(10, 0, 0, 3);

Bytes request(const nic::MacAddress& from_mac, Ipv4Address from_ip, Ipv4Address target,
              nic::MacAddress eth_dst = nic::MacAddress::broadcast()) {
  return eth(eth_dst, from_mac, kEthArp, arp(1, from_mac, from_ip, nic::MacAddress(), target));
}
Bytes reply(const nic::MacAddress& from_mac, Ipv4Address from_ip) {
  return eth(kOurMac, from_mac, kEthArp, arp(2, from_mac, from_ip, kOurMac, kOurIp));
}

// Sends one small IPv4 datagram (ICMP echo) to `dst` through the engine.
void send_ip(EngineFixture& f, Ipv4Address dst) {
  ASSERT_TRUE(f.engine.icmp().send_echo_request(dst, 1, 1, testing::bytes({1, 2, 3, 4})));
}

ArpView only_arp(const std::vector<testing::FakeDevice::Sent>& sent) {
  if (sent.size() != 1) return {};
  auto e = testing::parse_eth(sent[0].bytes);
  if (!e.ok || e.type != kEthArp) return {};
  return testing::parse_arp(e.payload);
}

TEST(Arp, AnswersARequestForOurAddress) {
  EngineFixture f;
  f.rx(request(kPeerMac, kPeerIp, kOurIp));
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  auto e = testing::parse_eth(sent[0].bytes);
  EXPECT_EQ(e.dst, kPeerMac);  // RFC 826: unicast back to the requester
  EXPECT_EQ(e.src, kOurMac);
  ArpView a = testing::parse_arp(e.payload);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.op, 2);
  EXPECT_EQ(a.sha, kOurMac);
  EXPECT_EQ(a.spa, kOurIp);
  EXPECT_EQ(a.tha, kPeerMac);
  EXPECT_EQ(a.tpa, kPeerIp);
  EXPECT_EQ(f.engine.arp().stats().tx_replies, 1u);
}

TEST(Arp, ReplyReusesTheRequestBufferAndDropsPadding) {
  EngineFixture f;
  Bytes req = request(kPeerMac, kPeerIp, kOurIp);
  req.resize(60);  // Ethernet minimum: 18 bytes of padding
  const auto allocs = f.dev.pool(0).stats().allocs;
  f.rx(req);
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].bytes.size(), 14u + 28u);
  EXPECT_EQ(f.dev.pool(0).stats().allocs, allocs + 1);  // only the injected frame
}

TEST(Arp, IgnoresARequestForAnotherAddressAndLearnsNothing) {
  EngineFixture f;
  f.rx(request(kPeerMac, kPeerIp, kThirdIp));
  EXPECT_TRUE(f.sent().empty());
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kNone);
}

TEST(Arp, LearnsTheSenderOfARequestAimedAtUs) {
  EngineFixture f;
  f.rx(request(kPeerMac, kPeerIp, kOurIp));
  (void)f.sent();
  ASSERT_NE(f.engine.arp().lookup(kPeerIp), nullptr);
  EXPECT_EQ(*f.engine.arp().lookup(kPeerIp), kPeerMac);
  send_ip(f, kPeerIp);  // goes straight out: no request
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  auto e = testing::parse_eth(sent[0].bytes);
  EXPECT_EQ(e.type, testing::kEthIpv4);
  EXPECT_EQ(e.dst, kPeerMac);
}

TEST(Arp, MergeRuleUpdatesAKnownSenderEvenWhenNotAimedAtUs) {
  EngineFixture f;
  f.learn(kPeerIp, kPeerMac);
  // The peer moved to another NIC and announces itself (gratuitous ARP, target = itself).
  f.rx(request(kOtherMac, kPeerIp, kPeerIp));
  EXPECT_EQ(*f.engine.arp().lookup(kPeerIp), kOtherMac);
  EXPECT_EQ(f.engine.arp().stats().updated, 1u);
  EXPECT_TRUE(f.sent().empty());
}

TEST(Arp, UnknownSenderNotAimedAtUsCreatesNoEntry) {
  EngineFixture f;
  f.rx(request(kPeerMac, kPeerIp, kPeerIp));  // someone else's gratuitous ARP
  EXPECT_EQ(f.engine.arp().size(), 0u);
}

TEST(Arp, SendingToAnUnknownHostBroadcastsARequestAndQueues) {
  EngineFixture f;
  send_ip(f, kPeerIp);
  auto sent = f.sent();
  ArpView a = only_arp(sent);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(testing::parse_eth(sent[0].bytes).dst, nic::MacAddress::broadcast());
  EXPECT_EQ(a.op, 1);
  EXPECT_EQ(a.sha, kOurMac);
  EXPECT_EQ(a.spa, kOurIp);
  EXPECT_TRUE(a.tha.is_zero());
  EXPECT_EQ(a.tpa, kPeerIp);
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kIncomplete);
  EXPECT_EQ(f.engine.arp().pending(kPeerIp), 1u);
}

TEST(Arp, AReplyReleasesQueuedPacketsInOrder) {
  EngineFixture f;
  for (std::uint16_t seq = 1; seq <= 3; ++seq) {
    ASSERT_TRUE(f.engine.icmp().send_echo_request(kPeerIp, 7, seq, testing::bytes({0})));
  }
  (void)f.sent();
  f.rx(reply(kPeerMac, kPeerIp));
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 3u);
  for (std::uint16_t i = 0; i < 3; ++i) {
    auto ip = testing::parse_ip_frame(sent[i].bytes);
    ASSERT_TRUE(ip.ok);
    EXPECT_EQ(testing::parse_eth(sent[i].bytes).dst, kPeerMac);
    auto icmp = testing::parse_icmp(ip.payload);
    EXPECT_EQ(icmp.rest & 0xffff, i + 1u);  // sequence numbers in order
  }
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kReachable);
  EXPECT_EQ(f.engine.arp().stats().resolved, 1u);
}

TEST(Arp, ManyPacketsToOneHostSendOneRequestPerInterval) {
  EngineFixture f;
  for (int i = 0; i < 5; ++i) send_ip(f, kPeerIp);
  EXPECT_EQ(f.sent().size(), 1u);
  EXPECT_EQ(f.engine.arp().pending(kPeerIp), 5u);
}

TEST(Arp, RetriesAnUnansweredRequestEveryRetryInterval) {
  EngineFixture f;
  send_ip(f, kPeerIp);
  EXPECT_EQ(f.sent().size(), 1u);
  f.advance(999ms);
  EXPECT_TRUE(f.sent().empty());
  f.advance(1ms);
  EXPECT_TRUE(only_arp(f.sent()).ok);
  f.advance(1s);
  EXPECT_TRUE(only_arp(f.sent()).ok);
  EXPECT_EQ(f.engine.arp().stats().tx_requests, 3u);
}

TEST(Arp, GivesUpAfterMaxRetriesAndDropsTheQueueCounted) {
  EngineFixture f;
  send_ip(f, kPeerIp);
  send_ip(f, kPeerIp);
  f.advance(3s);  // requests at 0, 1, 2, 3 s (1 + max_retries)
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kIncomplete);
  f.advance(1s);
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kNone);
  const ArpStats& s = f.engine.arp().stats();
  EXPECT_EQ(s.tx_requests, 4u);
  EXPECT_EQ(s.resolution_failures, 1u);
  EXPECT_EQ(s.pending_dropped_unresolved, 2u);
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

// Engines sharing one multi-queue interface: the engine that receives ARP tells the others
// (learn hook), and a translation learned elsewhere releases what waited for it here.
TEST(Arp, TheLearnHookReportsEveryTranslationAReceivedPacketConfirms) {
  EngineFixture f;
  struct Seen {
    std::vector<std::pair<Ipv4Address, nic::MacAddress>> items;
  } seen;
  f.engine.arp().set_learn_hook(
      [](void* ctx, Ipv4Address ip, const nic::MacAddress& mac) {
        static_cast<Seen*>(ctx)->items.emplace_back(ip, mac);
      },
      &seen);
  f.rx(request(kPeerMac, kPeerIp, kOurIp));     // aimed at us: learned
  f.rx(request(kOtherMac, kThirdIp, kPeerIp));  // neither known nor aimed at us: nothing
  f.rx(request(kOtherMac, kPeerIp, kThirdIp));  // known sender, not aimed at us: merged (moved)
  ASSERT_EQ(seen.items.size(), 2u);
  EXPECT_EQ(seen.items[0].first, kPeerIp);
  EXPECT_EQ(seen.items[0].second, kPeerMac);
  EXPECT_EQ(seen.items[1].first, kPeerIp);
  EXPECT_EQ(seen.items[1].second, kOtherMac);
}

TEST(Arp, ATranslationLearnedElsewhereReleasesTheQueue) {
  EngineFixture f;
  send_ip(f, kPeerIp);
  send_ip(f, kPeerIp);
  (void)f.sent();  // the request
  f.engine.arp().learn(kPeerIp, kPeerMac);
  f.engine.flush_tx();
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 2u);
  for (const auto& frame : sent) EXPECT_EQ(testing::parse_eth(frame.bytes).dst, kPeerMac);
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kReachable);
  EXPECT_EQ(f.engine.arp().stats().shared_in, 1u);
  // Nonsense is ignored: our own address, broadcast, a group MAC.
  f.engine.arp().learn(kOurIp, kOtherMac);
  f.engine.arp().learn(Ipv4Address(255, 255, 255, 255), kOtherMac);
  f.engine.arp().learn(kThirdIp, nic::MacAddress::broadcast());
  EXPECT_EQ(f.engine.arp().state(kThirdIp), State::kNone);
  EXPECT_EQ(f.engine.arp().stats().shared_in, 1u);
}

TEST(Arp, AReplyAfterGivingUpIsLearnedButReleasesNothing) {
  EngineFixture f;
  send_ip(f, kPeerIp);
  f.advance(10s);
  (void)f.sent();
  f.rx(reply(kPeerMac, kPeerIp));  // aimed at us: learned as a new entry (merge rule)
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kReachable);
  EXPECT_TRUE(f.sent().empty());  // nothing was left waiting
}

TEST(Arp, QueueOverflowIsDroppedAndCounted) {
  auto c = testing::test_config();
  c.arp.max_pending_per_entry = 2;
  EngineFixture f(c);
  for (int i = 0; i < 4; ++i) send_ip(f, kPeerIp);
  EXPECT_EQ(f.engine.arp().pending(kPeerIp), 2u);
  EXPECT_EQ(f.engine.arp().stats().pending_dropped_overflow, 2u);
  f.rx(reply(kPeerMac, kPeerIp));
  EXPECT_EQ(f.sent().size(), 1u + 2u);  // the request, then the two that waited
  EXPECT_EQ(f.buffers_in_use(), 0u);
}

TEST(Arp, EntriesExpireAfterTheirTtl) {
  auto c = testing::test_config();
  c.arp.entry_ttl = 30s;
  EngineFixture f(c);
  f.learn(kPeerIp, kPeerMac);
  f.advance(29s);
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kReachable);
  f.advance(1s);
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kNone);
  EXPECT_EQ(f.engine.arp().stats().expired, 1u);
  send_ip(f, kPeerIp);  // must resolve again
  EXPECT_TRUE(only_arp(f.sent()).ok);
}

TEST(Arp, ConfirmationRestartsTheTtl) {
  auto c = testing::test_config();
  c.arp.entry_ttl = 30s;
  EngineFixture f(c);
  f.learn(kPeerIp, kPeerMac);
  f.advance(20s);
  f.rx(reply(kPeerMac, kPeerIp));
  f.advance(20s);
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kReachable);
}

TEST(Arp, AFullTableEvictsTheLeastRecentlyConfirmedEntry) {
  auto c = testing::test_config();
  c.arp.max_entries = 2;
  EngineFixture f(c);
  f.learn(kPeerIp, kPeerMac);
  f.learn(kThirdIp, kOtherMac);
  f.learn(kGatewayIp, testing::kGatewayMac);
  EXPECT_EQ(f.engine.arp().size(), 2u);
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kNone);
  EXPECT_EQ(f.engine.arp().state(kThirdIp), State::kReachable);
  EXPECT_EQ(f.engine.arp().state(kGatewayIp), State::kReachable);
  EXPECT_EQ(f.engine.arp().stats().evicted, 1u);
}

TEST(Arp, EvictingAnIncompleteEntryDropsItsQueueCounted) {
  auto c = testing::test_config();
  c.arp.max_entries = 1;
  EngineFixture f(c);
  send_ip(f, kPeerIp);
  send_ip(f, kThirdIp);
  EXPECT_EQ(f.engine.arp().state(kPeerIp), State::kNone);
  EXPECT_EQ(f.engine.arp().stats().pending_dropped_evicted, 1u);
  (void)f.sent();
  EXPECT_EQ(f.buffers_in_use(), 1u);  // the one waiting for kThirdIp
}

TEST(Arp, MalformedPacketsAreCounted) {
  EngineFixture f;
  Bytes shortp = request(kPeerMac, kPeerIp, kOurIp);
  shortp.resize(14 + 20);
  f.rx(shortp);
  Bytes rarp = eth(nic::MacAddress::broadcast(), kPeerMac, kEthArp,
                   arp(3, kPeerMac, kPeerIp, nic::MacAddress(), kOurIp));
  f.rx(rarp);
  EXPECT_EQ(f.engine.arp().stats().rx_malformed, 2u);
  EXPECT_TRUE(f.sent().empty());
}

TEST(Arp, SomeoneClaimingOurAddressIsIgnoredAndCounted) {
  EngineFixture f;
  f.rx(request(kPeerMac, kOurIp, kOurIp));
  EXPECT_EQ(f.engine.arp().stats().rx_conflicts, 1u);
  EXPECT_EQ(f.engine.arp().size(), 0u);
  EXPECT_TRUE(f.sent().empty());
}

TEST(Arp, OurOwnAnnouncementReflectedBackIsNotAConflict) {
  EngineFixture f;
  f.rx(request(kOurMac, kOurIp, kOurIp));
  EXPECT_EQ(f.engine.arp().stats().rx_own, 1u);
  EXPECT_EQ(f.engine.arp().stats().rx_conflicts, 0u);
}

TEST(Arp, AProbeForOurAddressIsAnsweredButNotLearned) {
  EngineFixture f;
  f.rx(request(kPeerMac, Ipv4Address::any(), kOurIp));  // RFC 5227 §2.1.1 probe
  auto sent = f.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(testing::parse_arp(testing::parse_eth(sent[0].bytes).payload).tpa, Ipv4Address::any());
  EXPECT_EQ(f.engine.arp().size(), 0u);
}

TEST(Arp, MulticastSenderHardwareAddressIsIgnored) {
  EngineFixture f;
  const nic::MacAddress group({0x01, 0, 0x5e, 0, 0, 1});
  f.rx(eth(nic::MacAddress::broadcast(), kPeerMac, kEthArp,
           arp(1, group, kPeerIp, nic::MacAddress(), kOurIp)));
  EXPECT_EQ(f.engine.arp().stats().rx_bad_sender, 1u);
  EXPECT_TRUE(f.sent().empty());
}

TEST(Arp, GratuitousAnnouncementNamesUsAsSenderAndTarget) {
  EngineFixture f;
  ASSERT_TRUE(f.engine.send_gratuitous_arp());
  auto sent = f.sent();
  ArpView a = only_arp(sent);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(testing::parse_eth(sent[0].bytes).dst, nic::MacAddress::broadcast());
  EXPECT_EQ(a.op, 1);
  EXPECT_EQ(a.spa, kOurIp);
  EXPECT_EQ(a.tpa, kOurIp);
  EXPECT_EQ(a.sha, kOurMac);
}

TEST(Arp, TheEngineAnnouncesItselfOnStart) {
  auto c = testing::test_config();
  c.announce_on_start = true;
  EngineFixture f(c);
  f.engine.poll();
  ArpView a = only_arp(f.dev.take_sent());
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.spa, kOurIp);
  EXPECT_EQ(a.tpa, kOurIp);
}

}  // namespace
}  // namespace coronet::stack::arp
