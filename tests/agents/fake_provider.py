#!/usr/bin/python3
"""A fake model provider for sbx's agent tests: Anthropic's Messages API and OpenAI's Responses API
over HTTPS on 127.0.0.1, answering every request with one fixed, recognisable text.

    fake_provider.py --pki DIR --name NAME [--name NAME ...] --record FILE [options]

Endpoints (any Host; the names only go into the certificate):
  POST /v1/messages          Anthropic Messages: JSON, or SSE when the body has "stream": true
                             (message_start, content_block_start, ping, content_block_delta x N,
                             content_block_stop, message_delta, message_stop)
  POST /v1/messages/count_tokens   {"input_tokens": N}
  POST /v1/responses         OpenAI Responses: JSON, or SSE when "stream": true (response.created,
                             response.in_progress, response.output_item.added,
                             response.content_part.added, response.output_text.delta x N,
                             response.output_text.done, response.content_part.done,
                             response.output_item.done, response.completed)
  GET  /v1/responses + Upgrade: websocket   the Responses API over WebSocket: each
                             {"type": "response.create", ...} text message is answered with the
                             same events as the SSE stream, one JSON text message each
  GET  /v1/models            a one-model list (both providers' shapes)
  anything else              404 with a provider-style error body

Every request appends one JSON line to --record before it is answered: method, path, the
x-api-key and Authorization headers exactly as received ("" when absent), whether it streamed,
whether it was a WebSocket, and the model asked for. With --require-key-file, a request whose
x-api-key (or Authorization: Bearer) is not that file's content gets a 401 authentication error,
so a client that was not given the real key fails visibly.

--pki DIR makes a test CA and a server certificate for the --name values and 127.0.0.1 with the
openssl CLI at start (DIR/ca.crt is what the egress proxy must trust: SBX_EGRESS_UPSTREAM_CA).
The first line on stdout is the port. --delay-ms spaces the streamed events so a test can tell
events that arrive as they are sent from a buffered body.
"""
import argparse, base64, hashlib, json, os, socket, ssl, struct, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
RECORD_LOCK = threading.Lock()
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def make_pki(d, names):
    os.makedirs(d, exist_ok=True)
    sans = ",".join(["DNS:" + n for n in names] + ["IP:127.0.0.1"])
    def run(*cmd):
        subprocess.run(cmd, cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=sbx fake provider test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=" + names[0])
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=" + sans + "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-out", "server.crt", "-extfile", "server.ext")
    return os.path.join(d, "server.crt"), os.path.join(d, "server.key")


def record(entry):
    with RECORD_LOCK, open(ARGS.record, "a") as f:
        f.write(json.dumps(entry) + "\n")


def chunks(text, n=4):
    """The answer cut into about n deltas (at word boundaries where it can)."""
    words = text.split(" ")
    per = max(1, (len(words) + n - 1) // n)
    parts = [" ".join(words[i:i + per]) for i in range(0, len(words), per)]
    return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts)]


def usage_tokens(body):
    return max(1, len(json.dumps(body)) // 4), max(1, len(ARGS.answer) // 4)


# ---- Anthropic Messages ------------------------------------------------------------------------

def anthropic_message(model, body):
    inp, out = usage_tokens(body)
    return {"id": "msg_sbxfake0001", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": ARGS.answer}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": inp, "output_tokens": out}}


def anthropic_events(model, body):
    inp, out = usage_tokens(body)
    start = anthropic_message(model, body)
    start.update({"content": [], "stop_reason": None, "usage": {"input_tokens": inp, "output_tokens": 1}})
    yield "message_start", {"type": "message_start", "message": start}
    yield "content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    yield "ping", {"type": "ping"}
    for part in chunks(ARGS.answer):
        yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield "message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                            "usage": {"output_tokens": out}}
    yield "message_stop", {"type": "message_stop"}


# ---- OpenAI Responses --------------------------------------------------------------------------

def openai_item(done):
    return {"type": "message", "id": "msg_sbxfake0001", "status": "completed" if done else "in_progress",
            "role": "assistant",
            "content": [{"type": "output_text", "text": ARGS.answer, "annotations": []}] if done else []}


def openai_response(model, body, done):
    inp, out = usage_tokens(body)
    r = {"id": "resp_sbxfake0001", "object": "response", "created_at": int(time.time()),
         "status": "completed" if done else "in_progress", "model": model, "error": None,
         "incomplete_details": None, "output": [openai_item(True)] if done else [], "usage": None}
    if done:
        r["usage"] = {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": out,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": inp + out}
    return r


def openai_events(model, body):
    seq = iter(range(1 << 30))
    ids = {"item_id": "msg_sbxfake0001", "output_index": 0, "content_index": 0}
    yield "response.created", {"type": "response.created", "sequence_number": next(seq), "response": openai_response(model, body, False)}
    yield "response.in_progress", {"type": "response.in_progress", "sequence_number": next(seq), "response": openai_response(model, body, False)}
    yield "response.output_item.added", {"type": "response.output_item.added", "sequence_number": next(seq),
                                         "output_index": 0, "item": openai_item(False)}
    yield "response.content_part.added", dict(ids, type="response.content_part.added", sequence_number=next(seq),
                                              part={"type": "output_text", "text": "", "annotations": []})
    for part in chunks(ARGS.answer):
        yield "response.output_text.delta", dict(ids, type="response.output_text.delta", sequence_number=next(seq),
                                                 delta=part, logprobs=[])
    yield "response.output_text.done", dict(ids, type="response.output_text.done", sequence_number=next(seq),
                                            text=ARGS.answer, logprobs=[])
    yield "response.content_part.done", dict(ids, type="response.content_part.done", sequence_number=next(seq),
                                             part={"type": "output_text", "text": ARGS.answer, "annotations": []})
    yield "response.output_item.done", {"type": "response.output_item.done", "sequence_number": next(seq),
                                        "output_index": 0, "item": openai_item(True)}
    yield "response.completed", {"type": "response.completed", "sequence_number": next(seq),
                                 "response": openai_response(model, body, True)}


# ---- WebSocket (RFC 6455, just what a Responses client needs) -----------------------------------

def ws_send(wfile, opcode, payload):
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    wfile.write(head + payload)
    wfile.flush()


def ws_read(rfile):
    """One whole message: (opcode, payload); (None, b"") at EOF. Control frames are returned as they come."""
    message, first = b"", None
    while True:
        h = rfile.read(2)
        if len(h) < 2:
            return None, b""
        fin, opcode, masked, n = h[0] & 0x80, h[0] & 0x0F, h[1] & 0x80, h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", rfile.read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", rfile.read(8))[0]
        if n > 16 << 20 or not masked:  # clients must mask; bound what one message may hold
            return None, b""
        mask = rfile.read(4)
        data = bytearray(rfile.read(n))
        for i in range(len(data)):
            data[i] ^= mask[i % 4]
        if opcode >= 0x8:
            return opcode, bytes(data)
        if first is None:
            first = opcode
        message += bytes(data)
        if len(message) > 16 << 20:
            return None, b""
        if fin:
            return first, message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sbx-fake-provider/1"

    def log_message(self, *args):
        pass

    def key_ok(self):
        if not ARGS.require_key:
            return True
        bearer = self.headers.get("Authorization", "")
        return self.headers.get("x-api-key", "") == ARGS.require_key or bearer == "Bearer " + ARGS.require_key

    def entry(self, **more):
        e = {"method": self.command, "path": self.path, "host": self.headers.get("Host", ""),
             "x-api-key": self.headers.get("x-api-key", ""), "authorization": self.headers.get("Authorization", "")}
        e.update(more)
        return e

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_sbxfake")
        self.end_headers()
        self.wfile.write(data)

    def send_error_body(self, status, kind, message):
        if self.path.startswith("/v1/responses") or self.path.startswith("/v1/chat"):
            self.send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": kind}})
        else:
            self.send_json(status, {"type": "error", "error": {"type": kind, "message": message}})

    def send_sse(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, (name, data) in enumerate(events):
            if i and ARGS.delay_ms:
                time.sleep(ARGS.delay_ms / 1000)
            chunk = ("event: " + name + "\ndata: " + json.dumps(data) + "\n\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 64 << 20:
            raise ValueError("body too large")
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                raw += self.rfile.read(size)
                self.rfile.readline()
        if self.headers.get("Content-Encoding", "").lower() == "zstd":
            raise ValueError("zstd request bodies are not supported by the fake provider")
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            import gzip
            raw = gzip.decompress(raw)
        return json.loads(raw) if raw else {}

    def do_POST(self):
        path = self.path.split("?")[0]
        try:
            body = self.read_body()
        except (ValueError, json.JSONDecodeError) as e:
            record(self.entry(error=str(e)))
            return self.send_error_body(400, "invalid_request_error", str(e))
        stream = bool(body.get("stream")) if isinstance(body, dict) else False
        model = body.get("model", "fake-model") if isinstance(body, dict) else "fake-model"
        record(self.entry(stream=stream, websocket=False, model=model))
        if not self.key_ok():
            return self.send_error_body(401, "authentication_error", "invalid x-api-key / bearer token (fake provider)")
        if path == "/v1/messages":
            return self.send_sse(anthropic_events(model, body)) if stream else self.send_json(200, anthropic_message(model, body))
        if path == "/v1/messages/count_tokens":
            return self.send_json(200, {"input_tokens": usage_tokens(body)[0]})
        if path == "/v1/responses":
            return self.send_sse(openai_events(model, body)) if stream else self.send_json(200, openai_response(model, body, True))
        self.send_error_body(404, "not_found_error", "no such endpoint in the fake provider: " + path)

    def do_GET(self):
        path = self.path.split("?")[0]
        upgrade = self.headers.get("Upgrade", "").lower() == "websocket"
        record(self.entry(stream=False, websocket=upgrade))
        if not self.key_ok():
            return self.send_error_body(401, "authentication_error", "invalid x-api-key / bearer token (fake provider)")
        if path == "/v1/responses" and upgrade:
            return self.websocket()
        if path == "/v1/models":
            return self.send_json(200, {"object": "list", "data": [
                {"id": "fake-model", "object": "model", "type": "model", "created": 0, "owned_by": "sbx",
                 "display_name": "sbx fake model", "created_at": "2026-01-01T00:00:00Z"}],
                "has_more": False, "first_id": "fake-model", "last_id": "fake-model"})
        self.send_error_body(404, "not_found_error", "no such endpoint in the fake provider: " + path)

    def do_HEAD(self):
        record(self.entry(stream=False, websocket=False))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            opcode, data = ws_read(self.rfile)
            if opcode is None or opcode == 0x8:
                if opcode == 0x8:
                    ws_send(self.wfile, 0x8, data[:2])
                return
            if opcode == 0x9:
                ws_send(self.wfile, 0xA, data)
                continue
            if opcode != 0x1:
                continue
            try:
                msg = json.loads(data)
            except json.JSONDecodeError:
                msg = {}
            model = msg.get("model") or msg.get("response", {}).get("model") or "fake-model"
            record(self.entry(stream=True, websocket=True, model=model, message_type=msg.get("type", "")))
            for i, (_, event) in enumerate(openai_events(model, msg)):
                if i and ARGS.delay_ms:
                    time.sleep(ARGS.delay_ms / 1000)
                ws_send(self.wfile, 0x1, json.dumps(event).encode())


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pki", required=True, help="directory for the test CA (ca.crt) and the server certificate")
    p.add_argument("--name", action="append", required=True, help="a DNS name for the certificate (repeatable)")
    p.add_argument("--record", required=True, help="append one JSON line per request here")
    p.add_argument("--answer", default="sbx fake provider says: the sandbox works")
    p.add_argument("--require-key-file", default="", help="401 unless the request carries this file's key")
    p.add_argument("--delay-ms", type=int, default=0, help="pause between streamed events")
    p.add_argument("--port", type=int, default=0)
    ARGS = p.parse_args()
    ARGS.require_key = open(ARGS.require_key_file).read().strip() if ARGS.require_key_file else ""
    cert, key = make_pki(ARGS.pki, ARGS.name)
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
