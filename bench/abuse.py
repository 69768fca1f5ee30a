#!/usr/bin/env python3
"""One round of the detect-to-delivery benchmark, run inside the client's
network namespace: from source address SRC, one request that its quota
admits, then the first abusive request. Prints the wall-clock time (Unix
seconds) at which the abusive request was sent; the host shares the clock.

  abuse.py SRC DST PORT
"""
import socket
import sys
import time

REQ = b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"


def request(src, dst, port, wait):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    s.bind((src, 0))
    s.connect((dst, port))
    t = time.time()
    s.sendall(REQ)
    if wait:
        try:
            while s.recv(4096):
                pass
        except socket.timeout:
            pass
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    return t


def main():
    src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    request(src, dst, port, True)       # within the burst
    t = request(src, dst, port, False)  # beyond it: the kernel drops it
    print("%.6f" % t)


if __name__ == "__main__":
    main()
