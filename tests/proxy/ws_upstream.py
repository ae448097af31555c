#!/usr/bin/python3
"""WebSocket test upstream for the proxy tests (Python's websockets, Debian's python3-websockets),
over TLS on 127.0.0.1. argv: certificate, key, record file. For each connection it appends one
JSON line to the record file with the handshake's path and headers, sends "hello from upstream",
then answers each message: "close-please" closes with code 1000 reason "asked"; anything else
comes back prefixed with "echo:" (text) or b"echo:" (binary). Prints its port."""
import asyncio, json, ssl, sys

import websockets


async def handler(ws, path=None):
    with open(sys.argv[3], "a") as f:
        f.write(json.dumps({"path": ws.path, "headers": [[k, v] for k, v in ws.request_headers.raw_items()]}) + "\n")
    await ws.send("hello from upstream")
    async for msg in ws:
        if msg == "close-please":
            await ws.close(1000, "asked")
            return
        await ws.send("echo:" + msg if isinstance(msg, str) else b"echo:" + msg)


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async with websockets.serve(handler, "127.0.0.1", 0, ssl=ctx, max_size=16 << 20) as srv:
        print(srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


asyncio.run(main())
