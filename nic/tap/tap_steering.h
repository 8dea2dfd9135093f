// RSS steering for a multi-queue TAP: an eBPF program, generated here instruction by instruction
// (no libbpf, no BPF compiler), that the tun driver runs on every frame the kernel queues toward
// coronet (TUNSETSTEERINGEBPF) and whose return value, modulo the number of queues, picks the
// queue. It computes what coronet's software RSS predicts, so that each queue's engine receives
// exactly the flows it owns and active opens can pick their local port with rss::PortSelector:
//  - an IPv4 (Ethernet type 0x0800) TCP (protocol 6) frame that is not a fragment (MF clear,
//    fragment offset 0) and holds its ports: queue = Reta::round_robin(queues, 128).queue_of(
//    Toeplitz(key).hash({src addr, dst addr, src port, dst port})), the ports found after the IHL
//    the header states, the frame at least 38 bytes long (Ethernet + 20-byte IPv4 + ports);
//  - everything else (ARP, ICMP, UDP, fragments, short frames): queue 0.
//
// How the program computes the hash. Toeplitz is linear over XOR: every set bit of the 96-bit input
// (addresses and ports as they sit on the wire) adds a 32-bit window of the key. The program loads
// the three input words with LD_ABS/LD_IND (which read from the Ethernet header on tun's transmit
// path, and make the program return 0 when a load runs past the end of the frame, which is the
// short-frame rule), inverts each word, and for each bit emits "if the inverted bit is set (the
// input bit is clear) skip the next instruction; hash ^= window": 2 instructions per bit, ~215 in
// all, far below the 4096 a socket filter may have. The windows are constants computed here from
// the key (rss::Toeplitz::byte_table), so a different key is a different program.
//
// The program is a BPF_PROG_TYPE_SOCKET_FILTER loaded with the raw bpf(2) syscall: it needs
// CAP_BPF or root (kernel.unprivileged_bpf_disabled is usually set). tun keeps its own reference
// to the program, so nothing stays open here once it is installed.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "coro/result.h"
#include "nic/rss/toeplitz.h"

namespace coronet::nic {

// The steering program for `queues` queues (1..128, the RETA size) and `key`.
std::vector<bpf_insn> rss_steering_program(const rss::Key& key, std::uint16_t queues);

// Loads `insns` as a BPF_PROG_TYPE_SOCKET_FILTER program named `name` (at most 15 characters)
// and returns its fd, which the caller closes. On failure the error carries strerror's text and
// the first lines of the verifier's log.
Result<int> load_socket_filter(std::span<const bpf_insn> insns, const std::string& name);

// Builds and loads the steering program and attaches it to the TAP interface `ifname` through
// `tun_fd`, any of its queue fds (TUNSETSTEERINGEBPF).
Result<void> install_rss_steering(int tun_fd, const std::string& ifname, const rss::Key& key,
                                  std::uint16_t queues);

}  // namespace coronet::nic
