#!/usr/bin/env python3
"""A scripted memcached text-protocol client for kv_test.sh: checks every reply byte for byte.

Usage: kv_client.py HOST PORT. Exits non-zero with a message on the first mismatch."""
import socket
import sys
import threading


class Client:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=10)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed; have %r" % self.buf[:200])
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until(self, end):
        while end not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed; have %r" % self.buf[:200])
            self.buf += chunk
        i = self.buf.index(end) + len(end)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def expect(self, request, reply):
        """Sends `request` and checks that exactly `reply` comes back."""
        self.send(request)
        got = self.read_exact(len(reply))
        if got != reply:
            raise RuntimeError("request %r: expected %r, got %r" % (request[:80], reply[:200], got[:200]))


def value(key, data, flags=0):
    return b"VALUE %s %d %d\r\n%s\r\n" % (key, flags, len(data), data)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    c = Client(host, port)
    keys = [b"key-%d" % i for i in range(200)]
    data = {k: (b"v" * (i % 50)) + k for i, k in enumerate(keys)}
    for i, k in enumerate(keys):
        c.expect(b"set %s %d 0 %d\r\n%s\r\n" % (k, i, len(data[k]), data[k]), b"STORED\r\n")
    for i, k in enumerate(keys):
        c.expect(b"get %s\r\n" % k, value(k, data[k], i) + b"END\r\n")
    # Multi-get across both cores' keys, 50 at a time, in request order.
    for start in range(0, 200, 50):
        batch = keys[start:start + 50]
        reply = b"".join(value(k, data[k], start + j) for j, k in enumerate(batch)) + b"END\r\n"
        c.expect(b"get " + b" ".join(batch) + b" missing\r\n", reply)
    # Sharding: both cores hold keys, and their counts add up.
    c.send(b"stats\r\n")
    stats = c.read_until(b"END\r\n").decode()
    counts = {l.split()[1]: int(l.split()[2]) for l in stats.splitlines() if l.startswith("STAT")}
    print("stats:", counts)
    if counts["curr_items"] != 200 or counts["core0_items"] == 0 or counts["core1_items"] == 0:
        raise RuntimeError("keys not spread over two cores: %r" % counts)
    if counts["core0_items"] + counts["core1_items"] != 200:
        raise RuntimeError("per-core counts do not add up: %r" % counts)
    # Other connections (accepted on either core) see the same data and each other's writes.
    errors = []

    def worker(n):
        try:
            w = Client(host, port)
            for i, k in enumerate(keys[n::8]):
                idx = keys.index(k)
                w.expect(b"get %s\r\n" % k, value(k, data[k], idx) + b"END\r\n")
                nk = b"w%d-%d" % (n, i)
                w.expect(b"add %s 0 0 2\r\nok\r\n" % nk, b"STORED\r\n")
                w.expect(b"add %s 0 0 2\r\nno\r\n" % nk, b"NOT_STORED\r\n")
            w.expect(b"version\r\n", b"VERSION coronet-kv 1.0\r\n")
        except Exception as e:  # reported below
            errors.append("worker %d: %s" % (n, e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors))
    for k in keys[::2]:
        c.expect(b"delete %s\r\n" % k, b"DELETED\r\n")
    for i, k in enumerate(keys):
        c.expect(b"get %s\r\n" % k, (b"" if i % 2 == 0 else value(k, data[k], i)) + b"END\r\n")
    c.expect(b"set big 0 0 2000000\r\n" + b"x" * 2000000 + b"\r\nversion\r\n",
             b"SERVER_ERROR object too large for cache\r\nVERSION coronet-kv 1.0\r\n")
    print("PASS: 200 keys over 2 cores, multi-get, 8 concurrent clients, delete, refusal")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print("FAIL:", e)
        sys.exit(1)
