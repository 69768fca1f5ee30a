#!/usr/bin/env python3
"""Evasion attempts for the end-to-end tests, from a client namespace.

  rawclient.py split HOST PORT [T]  a request whose method is split over
                                    two TCP segments ("PO" + "ST ...");
                                    prints the status line, or "timeout"
  rawclient.py proxy HOST PORT CLIENT [T]
                                    a request behind a PROXY v1 header that
                                    names CLIENT; prints the status line
  rawclient.py frag SRC DST PORT    one IPv4 first fragment (MF set) of a
                                    TCP segment carrying a request start
  rawclient.py spoof SRC DST PORT N N request starts from SRC (not ours:
                                    a blind spoofer's), each from its own
                                    source port with a guessed ack, no
                                    handshake
"""
import random
import socket
import struct
import sys
import time


def split(host, port, timeout=1.5):
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        s.sendall(b"PO")
        time.sleep(0.05)  # two segments, not one
        s.sendall(b"ST /split HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n"
                  b"Connection: close\r\n\r\n{}")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        print(data.split(b"\r\n", 1)[0].decode() if data else "closed")
    except socket.timeout:
        print("timeout")
    finally:
        s.close()


def proxy(host, port, client, timeout=1.5):
    fam = "TCP6" if ":" in client else "TCP4"
    s = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        s.sendall(("PROXY %s %s %s 40000 %s\r\n" % (fam, client, host, port)).encode()
                  + b"GET /proxied HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        data = s.recv(256)
        print(data.split(b"\r\n", 1)[0].decode() if data else "closed")
    except socket.timeout:
        print("timeout")
    finally:
        s.close()


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frag(src, dst, port):
    payload = b"GET /frag HTTP/1.1\r\nHost: gw\r\n\r\n" + b"x" * 64
    tcp = struct.pack("!HHIIBBHHH", 40999, int(port), 1000, 0, 5 << 4, 0x18,
                      65535, 0, 0)
    seg = tcp + payload[:40 - len(tcp) + 16]  # 8-byte aligned first fragment
    seg = seg[: len(seg) - len(seg) % 8]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 4242,
                     0x2000,  # MF, offset 0
                     64, socket.IPPROTO_TCP, 0, socket.inet_aton(src),
                     socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.sendto(ip + seg, (dst, 0))
    s.close()
    print("sent")


def spoof(src, dst, port, n):
    payload = b"GET /spoofed HTTP/1.1\r\nHost: gw\r\n\r\n"
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    for i in range(int(n)):
        sport = 20000 + i
        tcp = struct.pack("!HHIIBBHHH", sport, int(port), random.getrandbits(32),
                          random.getrandbits(32), 5 << 4, 0x18, 65535, 0, 0)
        pseudo = struct.pack("!4s4sBBH", socket.inet_aton(src), socket.inet_aton(dst), 0,
                             socket.IPPROTO_TCP, len(tcp) + len(payload))
        csum = checksum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 4000 + i,
                         0, 64, socket.IPPROTO_TCP, 0, socket.inet_aton(src),
                         socket.inet_aton(dst))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        s.sendto(ip + tcp + payload, (dst, 0))
    s.close()
    print("sent")


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "split":
        split(sys.argv[2], sys.argv[3], *(float(t) for t in sys.argv[4:]))
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "proxy":
        proxy(sys.argv[2], sys.argv[3], sys.argv[4], *(float(t) for t in sys.argv[5:]))
    elif len(sys.argv) == 5 and sys.argv[1] == "frag":
        frag(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 6 and sys.argv[1] == "spoof":
        spoof(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        sys.exit(__doc__)
