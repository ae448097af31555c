#!/usr/bin/python3
"""Scripted raw HTTP upstream for the response-framing tests, on 127.0.0.1. argv[1]: a JSON list of
steps, used in order across all connections, one step per request received:
  {"send": "<raw bytes, latin-1>", "delay": seconds before sending (optional), "close": true to close
   the connection after sending (optional)}.
argv[2]: a log file; one line per accepted connection ("conn N"), per request ("N METHOD PATH") and
per close a step asked for ("close N").
argv[3] (optional): a file that gets every request head as received, each followed by a line "--".
argv[4], argv[5] (optional): certificate and key: serve HTTPS instead.
Prints its port. Requests are read by their head (and Content-Length body), so pipelined requests
are answered one by one, in order."""
import json, socket, ssl, sys, threading, time

steps = json.loads(sys.argv[1])
log = open(sys.argv[2], "a", buffering=1)
heads = open(sys.argv[3], "a", buffering=1) if len(sys.argv) > 3 and sys.argv[3] else None
lock = threading.Lock()
conns = [0]


def next_step():
    with lock:
        return steps.pop(0) if steps else None


def serve(c, n):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = 0
            for l in lines[1:]:
                k, _, v = l.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            while len(buf) < length:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            buf = buf[length:]
            if heads:
                heads.write(head.decode("latin-1") + "\r\n--\n")
            log.write("%d %s %s\n" % (n, method, path))
            step = next_step()
            if step is None:
                return
            time.sleep(step.get("delay", 0))
            c.sendall(step["send"].encode("latin-1"))
            if step.get("close"):
                c.close()
                log.write("close %d\n" % n)
                return
    finally:
        c.close()


def main():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    print(s.getsockname()[1], flush=True)
    ctx = None
    if len(sys.argv) > 5:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    while True:
        c, _ = s.accept()
        if ctx:
            try:
                c = ctx.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError):
                c.close()
                continue
        with lock:
            conns[0] += 1
            n = conns[0]
        log.write("conn %d\n" % n)
        threading.Thread(target=serve, args=(c, n), daemon=True).start()


main()
