#!/usr/bin/python3
"""WebSocket test client (Python's websockets) through an HTTP proxy: opens a CONNECT tunnel to
HOST:PORT at the proxy on 127.0.0.1:PROXY_PORT, speaks TLS inside it trusting CA_FILE, and runs
the handshake with "Authorization: Bearer PLACEHOLDER" (what a guest holds instead of the key).
argv: PROXY_PORT HOST PORT CA_FILE MODE. MODE "echo": reads the greeting, sends a text and a
4 MiB binary message, checks the echoes, closes (client first). MODE "server-close": asks the
server to close. Prints one line per step; exit 0 when every step went as expected."""
import asyncio, os, socket, ssl, sys

import websockets


def tunnel(proxy_port, host, port):
    s = socket.create_connection(("127.0.0.1", proxy_port))
    s.sendall(("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host, port, host, port)).encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        d = s.recv(4096)
        if not d:
            break
        reply += d
    if not reply.startswith(b"HTTP/1.1 200"):
        print("connect refused:", reply.split(b"\r\n")[0].decode("latin-1"))
        sys.exit(1)
    return s


async def main():
    proxy_port, host, port, ca, mode = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    ctx = ssl.create_default_context(cafile=ca)
    sock = tunnel(proxy_port, host, port)
    async with websockets.connect("wss://%s:%d/agent/ws" % (host, port), sock=sock, ssl=ctx, server_hostname=host,
                                  extra_headers={"Authorization": "Bearer PLACEHOLDER"}, max_size=16 << 20,
                                  open_timeout=10, close_timeout=10) as ws:
        print("greeting:", await ws.recv(), flush=True)
        if mode == "server-close":
            await ws.send("close-please")
            try:
                await ws.recv()
            except websockets.exceptions.ConnectionClosedOK as e:
                print("closed by server:", e.rcvd.code, e.rcvd.reason, flush=True)
                return 0
            return 1
        await ws.send("ping 1")
        print("text:", await ws.recv(), flush=True)
        big = os.urandom(4 << 20)  # 4 MiB that permessage-deflate cannot shrink: many times any relay buffer
        await ws.send(big)
        back = await ws.recv()
        print("binary:", len(back), back == b"echo:" + big, flush=True)
        await ws.close(1000, "done")
        print("closed by client:", ws.close_code, flush=True)
    return 0


sys.exit(asyncio.run(main()))
