#!/usr/bin/env python3
"""Writes the seed corpora of frame_fuzz and tcp_sequence_fuzz (tests/fuzz/corpus/...).

The seeds are committed; rerun this after changing an input format. Frames use the fix-up bits
of frame_fuzz.cc, so their addresses, ports, sequence numbers and checksums need not be right.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = ["listen", "syn_sent", "syn_received", "established", "established_busy",
             "fin_wait_1", "fin_wait_2", "close_wait", "closing", "last_ack", "time_wait"]
ALL_FIXES = 0x3f
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ether(payload, ethertype=0x0800):
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + struct.pack("!H", ethertype) + payload


def ipv4(payload, proto=6, flags_frag=0x4000, ttl=64):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, flags_frag, ttl, proto, 0,
                       bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])) + payload


def tcp(flags, seq=0, ack=0, window=65535, options=b"", payload=b""):
    while len(options) % 4:
        options += b"\x01"
    off = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", 40000, 80, seq & 0xffffffff, ack & 0xffffffff, off << 4,
                       flags, window, 0, 0) + options + payload


def ts(val, ecr):
    return b"\x01\x01\x08\x0a" + struct.pack("!II", val, ecr)


def sack(*blocks):
    return b"\x01\x01\x05" + bytes([2 + 8 * len(blocks)]) + b"".join(
        struct.pack("!II", l & 0xffffffff, r & 0xffffffff) for l, r in blocks)


def stream(offset, n):
    return bytes(((i * 131 + (i >> 8) * 7 + 17) & 0xff) for i in range(offset, offset + n))


def frames():
    f = {}
    f["ack"] = ether(ipv4(tcp(ACK, options=ts(200, 0))))
    f["data_in_order"] = ether(ipv4(tcp(ACK | PSH, options=ts(200, 0), payload=stream(0, 100))))
    f["data_ahead"] = ether(ipv4(tcp(ACK, seq=300, options=ts(200, 0), payload=stream(300, 50))))
    f["data_behind"] = ether(ipv4(tcp(ACK, seq=-20, options=ts(200, 0), payload=stream(0, 40))))
    f["fin"] = ether(ipv4(tcp(ACK | FIN, options=ts(200, 0))))
    f["rst_exact"] = ether(ipv4(tcp(RST)))
    f["rst_in_window"] = ether(ipv4(tcp(RST | ACK, seq=1000)))
    f["syn"] = ether(ipv4(tcp(SYN, seq=5000, ack=0, options=b"\x02\x04\x05\xb4\x04\x02\x03\x03\x07"
                                                         + ts(300, 0))))
    f["syn_ack"] = ether(ipv4(tcp(SYN | ACK, seq=9000, ack=0,
                                  options=b"\x02\x04\x05\xb4\x04\x02" + ts(300, 0))))
    f["ack_sack"] = ether(ipv4(tcp(ACK, ack=-5000, options=ts(200, 0) + sack((-3000, -1540)))))
    f["ack_unsent"] = ether(ipv4(tcp(ACK, ack=1000, options=ts(200, 0))))
    f["zero_window"] = ether(ipv4(tcp(ACK, window=0, options=ts(200, 0))))
    f["bad_options"] = ether(ipv4(tcp(ACK, options=b"\x05\x00\x08\x01\x03\x0f\xff\xff")))
    # ICMP destination unreachable, fragmentation needed (RFC 1191), quoting our segment at
    # our highest sequence number - 1; and port unreachable; and an echo request.
    quoted = ipv4(tcp(ACK, seq=-1)[:8])[:28]
    f["icmp_frag_needed"] = ether(ipv4(struct.pack("!BBHHH", 3, 4, 0, 0, 576) + quoted, proto=1))
    f["icmp_port_unreach"] = ether(ipv4(struct.pack("!BBHI", 3, 3, 0, 0) + quoted, proto=1))
    f["icmp_echo"] = ether(ipv4(struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"ping" * 8, proto=1))
    f["udp"] = ether(ipv4(struct.pack("!HHHH", 5353, 9, 8 + 5, 0) + b"hello", proto=17))
    f["ip_fragment"] = ether(ipv4(tcp(ACK, payload=stream(0, 64)), flags_frag=0x2000))
    f["arp_request"] = ether(struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + b"\x02\0\0\0\0\x01" +
                             bytes([198, 18, 0, 1]) + b"\0" * 6 + bytes([198, 18, 0, 2]), 0x0806)
    return f


def sequences():
    # [scenario] then steps: op bytes as decoded by tcp_sequence_fuzz.cc.
    s = {}
    s["echo"] = [3, 1, 20, 4, 2, 3, 0x40, 5, 0, 10, 3, 0x40, 9, 5, 7, 3, 0x40, 0, 50]
    s["out_of_order_fill"] = [3, 2, 0, 200, 50, 0xff, 2, 0, 100, 40, 0xff, 1, 17, 5, 3, 0x40]
    s["sack_recovery"] = [4, 3, 0x04, 0x10, 0x00, 30, 0, 3, 0x08, 0x10, 0x00, 30, 0, 30, 0,
                          0, 40, 3, 0x40]
    s["zero_window_probe"] = [3, 4, 40, 3, 0x00, 0, 0, 0, 200, 0, 200, 3, 0x40]
    s["rst_near"] = [3, 10, 3, 0, 1, 20, 10, 0, 0, 5]
    s["syn_in_established"] = [3, 11, 1, 11, 0, 1, 2, 3, 4, 1, 20, 5]
    s["stale_timestamps"] = [3, 13, 1, 30, 5, 13, 1, 30, 5]
    s["close_both"] = [3, 6, 9, 3, 0x40, 5, 0, 100]
    s["abort_mid_transfer"] = [4, 4, 100, 1, 50, 8, 3, 0x40]
    s["fin_wait_data"] = [5, 1, 60, 5, 9, 0, 200]
    s["close_wait_write"] = [7, 4, 20, 3, 0x40, 7, 3, 0x40]
    s["syn_sent_anything"] = [1, 12, SYN | ACK, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 255, 255]
    s["listen_syn"] = [0, 11, 0, 1, 2, 3, 4, 0, 50]
    s["time_wait_games"] = [10, 9, 11, 1, 10, 0, 0, 12]
    s["random_flags"] = [3, 12, 0xff, 0, 0, 0, 5, 0, 0, 0, 0, 3, 1, 0, 12, 0x3f, 0xff, 0xff,
                         0xff, 0, 0, 0, 0, 0, 0, 0, 0]
    return s


def write(dirname, name, data):
    d = os.path.join(HERE, "corpus", dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as out:
        out.write(bytes(data))


def main():
    for name, frame in frames().items():
        for i, sc in enumerate(SCENARIOS):
            # Vary the time byte: some seeds read, some let timers run.
            time = (0x80 | 4) if i % 2 else 40
            write("frame_fuzz", f"{sc}-{name}", bytes([i, ALL_FIXES, time]) + frame)
    for name, steps in sequences().items():
        write("tcp_sequence_fuzz", name, steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
