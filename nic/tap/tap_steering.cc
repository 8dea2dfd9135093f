#include "nic/tap/tap_steering.h"

#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "nic/rss/reta.h"

namespace coronet::nic {
namespace {

// Registers (the eBPF calling convention): r0 result, r1 the context on entry, r1-r5 clobbered by
// every LD_ABS/LD_IND, r6-r9 preserved.
constexpr std::uint8_t kR0 = 0;
constexpr std::uint8_t kR1 = 1;
constexpr std::uint8_t kCtx = 6;   // LD_ABS/LD_IND take the skb from r6
constexpr std::uint8_t kIhl = 7;   // IPv4 header length in bytes
constexpr std::uint8_t kHash = 8;  // the Toeplitz hash being accumulated

// Frame offsets (Ethernet header first, no VLAN tag).
constexpr std::int32_t kEtherType = 12;
constexpr std::int32_t kIpVersionIhl = 14;
constexpr std::int32_t kIpFragment = 20;  // flags (3 bits) and fragment offset (13 bits)
constexpr std::int32_t kIpProtocol = 23;
constexpr std::int32_t kIpSrc = 26;
constexpr std::int32_t kIpDst = 30;
constexpr std::int32_t kIpStart = 14;
// The last byte of the shortest frame that is hashed: Ethernet, a 20-byte IPv4 header, the ports.
constexpr std::int32_t kMinHashedLast = 14 + 20 + 4 - 1;
constexpr std::int32_t kMoreFragmentsAndOffset = 0x3fff;

// Assembles a program; forward jumps to the common "return 0" are patched at the end.
class Assembler {
 public:
  // Appends one raw instruction.
  void emit(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
            std::int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    insns_.push_back(i);
  }
  // dst = src (64-bit move).
  void mov_reg(std::uint8_t dst, std::uint8_t src) {
    emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
  }
  // dst = imm (64-bit move).
  void mov_imm(std::uint8_t dst, std::int32_t imm) {
    emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
  }
  // r0 = the big-endian value of `size` bytes at frame offset `off` (returns 0 if out of range).
  void ld_abs(std::uint8_t size, std::int32_t off) { emit(BPF_LD | BPF_ABS | size, 0, 0, 0, off); }
  // r0 = the big-endian value of `size` bytes at frame offset src + off.
  void ld_ind(std::uint8_t size, std::uint8_t src, std::int32_t off) {
    emit(BPF_LD | BPF_IND | size, 0, src, 0, off);
  }
  // A 32-bit ALU operation with an immediate (the upper half of dst becomes zero).
  void alu32_imm(std::uint8_t op, std::uint8_t dst, std::int32_t imm) {
    emit(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
  }
  // A 64-bit ALU operation with an immediate.
  void alu64_imm(std::uint8_t op, std::uint8_t dst, std::int32_t imm) {
    emit(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
  }
  // if (dst <op> imm) return 0: a forward jump to the common exit, patched by finish().
  void jump_to_return0(std::uint8_t op, std::uint8_t dst, std::int32_t imm) {
    to_return0_.push_back(insns_.size());
    emit(BPF_JMP | op | BPF_K, dst, 0, 0, imm);
  }
  // if (low 32 bits of dst & mask) skip `skip` instructions.
  void jset32_skip(std::uint8_t dst, std::int32_t mask, std::int16_t skip) {
    emit(BPF_JMP32 | BPF_JSET | BPF_K, dst, 0, skip, mask);
  }
  // return r0.
  void exit() { emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

  // Appends "return 0" and points every jump_to_return0() at it.
  std::vector<bpf_insn> finish() && {
    const std::size_t target = insns_.size();
    mov_imm(kR0, 0);
    exit();
    for (std::size_t at : to_return0_) {
      insns_[at].off = static_cast<std::int16_t>(target - (at + 1));
    }
    return std::move(insns_);
  }

 private:
  std::vector<bpf_insn> insns_;
  std::vector<std::size_t> to_return0_;
};

// Emits "hash ^= window(bit)" for every set bit of the 32-bit word in r0, which sits at byte
// `position` of the 12-byte Toeplitz input. r0 is destroyed.
void emit_word_hash(Assembler& a, const rss::Toeplitz& toeplitz, std::size_t position) {
  // Inverted, a set bit means "input bit clear": JSET then skips the XOR. The 32-bit XOR also
  // clears r0's upper half, so the 32-bit JSET sees only the word.
  a.alu32_imm(BPF_XOR, kR0, -1);
  for (int bit = 31; bit >= 0; --bit) {
    // The contribution of this one bit: its byte's table at the value with only that bit set.
    const std::size_t byte = position + static_cast<std::size_t>(3 - bit / 8);
    const std::uint32_t window = toeplitz.byte_table(byte)[1u << (bit % 8)];
    if (window == 0) continue;  // a key with a run of zeros: the bit adds nothing
    a.jset32_skip(kR0, static_cast<std::int32_t>(std::uint32_t{1} << bit), 1);
    a.alu32_imm(BPF_XOR, kHash, static_cast<std::int32_t>(window));
  }
}

// The first `max_lines` non-empty lines of `log`, each on a new indented line, and how many more
// there were.
std::string head_lines(const std::string& log, std::size_t max_lines) {
  std::string out;
  std::size_t lines = 0;
  for (std::size_t pos = 0; pos < log.size();) {
    std::size_t end = log.find('\n', pos);
    if (end == std::string::npos) end = log.size();
    if (end > pos) {
      if (lines < max_lines) out += "\n  " + log.substr(pos, end - pos);
      ++lines;
    }
    pos = end + 1;
  }
  if (lines > max_lines) out += "\n  ... (" + std::to_string(lines - max_lines) + " more lines)";
  return out;
}

// One BPF_PROG_LOAD; `log` may be empty (no log asked for). Returns the fd or -errno.
int prog_load(std::span<const bpf_insn> insns, const std::string& name, std::vector<char>& log) {
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insn_cnt = static_cast<std::uint32_t>(insns.size());
  attr.insns = reinterpret_cast<std::uintptr_t>(insns.data());
  // The program calls no helpers, so the license string decides nothing; it names ours.
  static constexpr char kLicense[] = "Dual MIT/GPL";
  attr.license = reinterpret_cast<std::uintptr_t>(kLicense);
  if (!log.empty()) {
    attr.log_level = 1;
    attr.log_buf = reinterpret_cast<std::uintptr_t>(log.data());
    attr.log_size = static_cast<std::uint32_t>(log.size());
  }
  std::strncpy(attr.prog_name, name.c_str(), sizeof(attr.prog_name) - 1);
  const long fd = ::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace

std::vector<bpf_insn> rss_steering_program(const rss::Key& key, std::uint16_t queues) {
  if (queues == 0 || queues > rss::Reta::kDefaultSize) {
    throw std::invalid_argument("rss_steering_program: " + std::to_string(queues) +
                                " queues cannot share a RETA of 128 entries");
  }
  const rss::Toeplitz toeplitz(key);
  Assembler a;
  a.mov_reg(kCtx, kR1);
  // Which frames are hashed; any other returns 0, and so does any load past the frame's end.
  a.ld_abs(BPF_H, kEtherType);
  a.jump_to_return0(BPF_JNE, kR0, 0x0800);
  a.ld_abs(BPF_B, kIpProtocol);
  a.jump_to_return0(BPF_JNE, kR0, 6);
  a.ld_abs(BPF_H, kIpFragment);
  a.jump_to_return0(BPF_JSET, kR0, kMoreFragmentsAndOffset);
  a.ld_abs(BPF_B, kMinHashedLast);  // the value is unused: the load checks the length
  a.ld_abs(BPF_B, kIpVersionIhl);
  a.alu64_imm(BPF_AND, kR0, 0xf);
  a.alu64_imm(BPF_LSH, kR0, 2);
  a.mov_reg(kIhl, kR0);
  a.mov_imm(kHash, 0);
  // The Toeplitz input: source address, destination address, then the word holding both ports.
  a.ld_abs(BPF_W, kIpSrc);
  emit_word_hash(a, toeplitz, 0);
  a.ld_abs(BPF_W, kIpDst);
  emit_word_hash(a, toeplitz, 4);
  a.ld_ind(BPF_W, kIhl, kIpStart);
  emit_word_hash(a, toeplitz, 8);
  // The RETA: entry = hash & (size - 1), entry i names queue i % queues.
  a.mov_reg(kR0, kHash);
  a.alu32_imm(BPF_AND, kR0, static_cast<std::int32_t>(rss::Reta::kDefaultSize - 1));
  a.alu32_imm(BPF_MOD, kR0, queues);
  a.exit();
  return std::move(a).finish();
}

Result<int> load_socket_filter(std::span<const bpf_insn> insns, const std::string& name) {
  std::vector<char> no_log;
  const int fd = prog_load(insns, name, no_log);
  if (fd >= 0) return fd;
  const int err = -fd;
  // Load again with the verifier's log only now: logging slows verification, and a successful
  // load has nothing to say.
  std::vector<char> log(1 << 20, '\0');
  const int again = prog_load(insns, name, log);
  if (again >= 0) ::close(again);
  log.back() = '\0';
  std::string detail = "loading eBPF program " + name + " (" + std::to_string(insns.size()) +
                       " instructions, BPF_PROG_LOAD): " + std::strerror(err);
  if (err == EPERM) detail += " (needs CAP_BPF and CAP_NET_ADMIN: run as root)";
  const std::string text(log.data());
  detail += text.empty() ? std::string("; the verifier gave no log")
                         : "; verifier log:" + head_lines(text, 12);
  return Error(errc_from_errno(err), std::move(detail));
}

Result<void> install_rss_steering(int tun_fd, const std::string& ifname, const rss::Key& key,
                                  std::uint16_t queues) {
  const std::vector<bpf_insn> program = rss_steering_program(key, queues);
  Result<int> fd = load_socket_filter(program, "coronet_rss");
  if (!fd) {
    return Error(fd.error().code(), "RSS steering for TAP " + ifname + ": " + fd.error().detail());
  }
  int prog_fd = *fd;
  const int r = ::ioctl(tun_fd, TUNSETSTEERINGEBPF, &prog_fd);
  const int err = errno;
  ::close(prog_fd);  // tun holds its own reference now (or failed and holds none)
  if (r != 0) {
    return Error(errc_from_errno(err), "installing RSS steering on TAP " + ifname +
                                           " (TUNSETSTEERINGEBPF): " + std::strerror(err));
  }
  return {};
}

}  // namespace coronet::nic
