#!/usr/bin/env python3
"""Redirecting front servers on loopback for the registry tests.

    registry_redirector.py WORKDIR REGISTRY_BASE

"front" (Basic auth user "bob", password "builder") answers /v2/... like a registry that keeps its
blobs elsewhere: everything under /v2/test/ is redirected to "storage" (another port), which
records whether an Authorization header reached it and redirects on to the real registry.
/v2/evil/... redirects to file:///etc/passwd, /v2/loop/... redirects to itself, and
/v2/flaky/X/... is /v2/test/X/... on the registry, except that each blob fails once with 503.
Prints one JSON line with both ports; on stdin "seen" prints what storage saw; EOF stops it.
"""
import base64
import http.server
import json
import sys
import threading

seen = []
flaky = set()


def handler(kind, registry_base, storage_port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, headers=None, body=b""):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            if kind == "storage":
                seen.append({"path": self.path, "authorization": self.headers.get("Authorization") is not None})
                return self.reply(307, {"Location": registry_base + self.path})
            expected = "Basic " + base64.b64encode(b"bob:builder").decode()
            if self.headers.get("Authorization") != expected:
                return self.reply(401, {"WWW-Authenticate": 'Basic realm="front"'})
            if self.path.startswith("/v2/evil/"):
                return self.reply(302, {"Location": "file:///etc/passwd"})
            if self.path.startswith("/v2/flaky/"):
                # Each blob fails once with 503 (a registry under load), then is served.
                if "/blobs/" in self.path and self.path not in flaky:
                    flaky.add(self.path)
                    return self.reply(503, {"Content-Type": "application/json"},
                                      b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
                return self.reply(307, {"Location": registry_base + self.path.replace("/v2/flaky/", "/v2/test/", 1)})
            if self.path.startswith("/v2/loop/"):
                return self.reply(302, {"Location": self.path})
            if self.path.startswith("/v2/test/"):
                return self.reply(307, {"Location": f"http://127.0.0.1:{storage_port}{self.path}"})
            return self.reply(404, {"Content-Type": "application/json"},
                              b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such repository"}]}')

        do_HEAD = do_GET

    return Handler


def main():
    registry_base = sys.argv[2]
    storage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler("storage", registry_base, 0))
    front = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            handler("front", registry_base, storage.server_address[1]))
    for s in (storage, front):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(json.dumps({"port": front.server_address[1], "storage_port": storage.server_address[1]}), flush=True)
    for line in sys.stdin:
        if line.strip() == "seen":
            print(json.dumps(seen), flush=True)
        if line.strip() == "flaky":
            print(json.dumps(sorted(flaky)), flush=True)
    front.shutdown()
    storage.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
