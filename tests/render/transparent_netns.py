#!/usr/bin/python3
"""The rendered sidecar for real: in a network namespace this test creates, run the rendered
redirect init container's iptables script and the rendered `sbx proxy` command (with the rendered
ConfigMap as its Sandboxfile), then let curl, as the agent's uid and with no proxy variables, reach
servers on the namespace's loopback. Allowed names pass over TLS and plain HTTP; a denied name,
an address without a name, and the agent's UDP are refused; a header secret from the mounted
Secret is added on the wire; the egress log records each.

usage: transparent_netns.py SBX     (root; needs unshare, iptables, curl, openssl, python3-yaml)
Exit 77 (skipped) when the machine cannot create the namespace or lacks a tool.
"""
import http.server
import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
sbx = os.path.abspath(sys.argv[1])

if os.environ.get("SBX_NETNS_CHILD") != "1":
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "iptables", "curl", "openssl", "setpriv")):
        print("skipped: needs root, unshare, iptables, curl, openssl and setpriv")
        sys.exit(SKIP)
    try:
        import yaml  # noqa: F401
    except ImportError:
        print("skipped: needs python3-yaml")
        sys.exit(SKIP)
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        print(f"skipped: unshare -n: {probe.stderr.decode().strip()}")
        sys.exit(SKIP)
    os.execvpe("unshare", ["unshare", "-n", sys.executable, *sys.argv], {**os.environ, "SBX_NETNS_CHILD": "1"})

import yaml  # noqa: E402

AGENT_UID = 1000
SERVER_IP = "192.0.2.10"  # documentation range, behind a veth: nothing answers there but the redirect
BODY = b"hello from the namespace's server\n"


def sh(*argv, **kw):
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, **kw)


tmp = pathlib.Path(tempfile.mkdtemp(prefix="sbx-netns-"))
tmp.chmod(0o755)  # the agent's uid reads the server certificate here
procs = []


def fail(msg):
    for p in procs:
        p.kill()
    log = tmp / "egress.jsonl"
    sys.exit(f"FAIL: {msg}\negress log:\n{log.read_text() if log.exists() else '(none)'}")


# The namespace: loopback up, a veth pair with a documentation address so the route exists.
sh("ip", "link", "set", "lo", "up")
sh("ip", "link", "add", "sbx0", "type", "veth", "peer", "name", "sbx1")
sh("ip", "addr", "add", "192.0.2.1/24", "dev", "sbx0")
sh("ip", "link", "set", "sbx0", "up")
sh("ip", "link", "set", "sbx1", "up")

# Servers on loopback: TLS on 443 (a certificate for both names), plain HTTP on 80.
sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
   "-subj", "/CN=allowed.example", "-addext", "subjectAltName=DNS:allowed.example,DNS:denied.example,DNS:secret.example",
   "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = BODY + f"authorization: {self.headers.get('Authorization')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


plain = http.server.ThreadingHTTPServer(("127.0.0.1", 80), Handler)
tls = http.server.ThreadingHTTPServer(("127.0.0.1", 443), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
for srv in (plain, tls):
    threading.Thread(target=srv.serve_forever, daemon=True).start()

# Render. The CIDR rule lets the proxy reach the servers the test names resolve to (loopback).
project = tmp / "project"
project.mkdir()
(project / "Sandboxfile").write_text(f"""version = 1
name = "netns"
[agent]
user = "{AGENT_UID}:{AGENT_UID}"
[image]
ref = "registry.example.com/team/agent:1"
[egress]
allow = ["allowed.example", "secret.example", "127.0.0.1/32"]
deny = ["denied.example"]
[[secret]]
name = "api.token"
hosts = ["secret.example"]
header = "Authorization"
template = "Bearer {{}}"
""")
r = subprocess.run([sbx, "render", "kubernetes", "--plain", str(project)], capture_output=True, text=True)
if r.returncode != 0:
    fail(f"render: {r.stderr}")
docs = list(yaml.safe_load_all(r.stdout))
config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["Sandboxfile"]
pod = next(d for d in docs if d["kind"] == "Pod")["spec"]
init = {c["name"]: c for c in pod["initContainers"]}
(tmp / "egress").mkdir()
(tmp / "egress" / "Sandboxfile").write_text(config)

# The init container's script, as rendered.
redirect = init["sbx-egress-redirect"]["command"]
subprocess.run(redirect, check=True)

# The sidecar's command, as rendered, with this machine's paths and the test's name table.
cmd = list(init["sbx-proxy"]["command"])
# The Secret volume and the shared CA volume, as the kubelet would lay them out.
(tmp / "secrets").mkdir()
(tmp / "secrets" / "api.token").write_text("s3cret-value\n")
(tmp / "ca").mkdir()
(tmp / "ca").chmod(0o755)
swap = {"/etc/sbx/egress/Sandboxfile": str(tmp / "egress" / "Sandboxfile"), "/var/run/sbx/state": str(tmp / "state"),
        "/dev/stdout": str(tmp / "egress.jsonl"), "/var/run/sbx/secrets": str(tmp / "secrets"),
        "/var/run/sbx/ca/ca-bundle.crt": str(tmp / "ca" / "ca-bundle.crt")}
if "--secrets-dir" not in cmd or "--ca-bundle-out" not in cmd:
    fail(f"the rendered sidecar takes no secrets: {cmd}")
cmd = [sbx if i == 0 else swap.get(a, a) for i, a in enumerate(cmd)]
cmd += ["--resolve", "allowed.example=127.0.0.1", "--resolve", "denied.example=127.0.0.1", "--resolve",
        "secret.example=127.0.0.1", "--upstream-ca", str(tmp / "cert.pem")]
proxy = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "SBX_PROXY_TEST_RESOLVE": "1", "SBX_LOG": "debug"})
procs.append(proxy)
lines = []
deadline = time.monotonic() + 30
while len(lines) < 2 and time.monotonic() < deadline:
    line = proxy.stdout.readline()
    if not line:
        fail(f"sbx proxy exited: {proxy.stderr.read()}")
    lines.append(line.strip())
if lines != ["listening 127.0.0.1:3128", "transparent 127.0.0.1:15001"]:
    fail(f"sbx proxy printed {lines}")


def curl(*args, env=None, cacert=None):
    argv = ["setpriv", f"--reuid={AGENT_UID}", f"--regid={AGENT_UID}", "--clear-groups", "curl", "-sS", "--max-time", "20",
            "--cacert", cacert or str(tmp / "cert.pem"), "-o", "-", "-w", "\n%{http_code}", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env or {"PATH": "/usr/bin:/bin"})


def expect_body(what, res):
    if res.returncode != 0 or not res.stdout.startswith(BODY.decode()) or not res.stdout.endswith("200"):
        fail(f"{what}: curl exited {res.returncode}: {res.stdout!r} {res.stderr!r}")
    print(f"ok: {what}")


def expect_refused(what, res, status=None):
    if status is not None:
        if not res.stdout.endswith(status):
            fail(f"{what}: expected HTTP {status}, got {res.stdout!r} {res.stderr!r}")
    elif res.returncode == 0:
        fail(f"{what}: curl succeeded: {res.stdout!r}")
    print(f"ok: {what} (curl {res.returncode}, {res.stdout.splitlines()[-1] if res.stdout else res.stderr.strip()})")


expect_body("an allowed name over TLS, redirected", curl("--resolve", f"allowed.example:443:{SERVER_IP}", "https://allowed.example/"))
expect_body("an allowed name over plain HTTP, redirected", curl("--resolve", f"allowed.example:80:{SERVER_IP}", "http://allowed.example/"))
expect_body("an allowed name through HTTPS_PROXY (loopback is not redirected)",
            curl("https://allowed.example/", env={"PATH": "/usr/bin:/bin", "HTTPS_PROXY": "http://127.0.0.1:3128"}))
expect_refused("a denied name over TLS", curl("--resolve", f"denied.example:443:{SERVER_IP}", "https://denied.example/"))
refused_http = curl("--resolve", f"denied.example:80:{SERVER_IP}", "http://denied.example/")
expect_refused("a denied name over plain HTTP gets the proxy's 403", refused_http, status="403")
if "denied.example" not in refused_http.stdout:
    fail(f"the 403 does not name the host: {refused_http.stdout!r}")
expect_refused("an address with no name (no SNI)", curl("-k", f"https://{SERVER_IP}/"))

# A header secret: the agent trusts the bundle the sidecar wrote (the rendered CURL_CA_BUNDLE
# names it), the proxy adds the header, the agent's environment holds no value.
agent = pod["containers"][0]
agent_env = {e["name"]: e["value"] for e in agent["env"]}
bundle = agent_env["CURL_CA_BUNDLE"].replace("/var/run/sbx/ca", str(tmp / "ca"))
if not pathlib.Path(bundle).exists():
    fail("the sidecar wrote no CA bundle")
secret = curl("--resolve", f"secret.example:443:{SERVER_IP}", "https://secret.example/", cacert=bundle)
expect_body("a secret host, intercepted, through the redirect", secret)
if "authorization: Bearer s3cret-value\n" not in secret.stdout:
    fail(f"the proxy did not add the header: {secret.stdout!r}")
if any("s3cret" in v for v in agent_env.values()) or "s3cret" in r.stdout:
    fail("the secret value is in the rendered manifests")
for c in pod["containers"] + [c for c in pod["initContainers"] if c["name"] != "sbx-proxy"]:
    if any(m["name"] == "sbx-secrets" for m in c.get("volumeMounts", [])):
        fail(f"{c['name']} mounts the Secret")
print("ok: the header secret is added on the wire, and only the sidecar mounts it")

# Not redirected traffic of the agent's uid is refused outright (UDP off loopback, but DNS).
udp = subprocess.run(["setpriv", f"--reuid={AGENT_UID}", f"--regid={AGENT_UID}", "--clear-groups", sys.executable, "-c",
                      f"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('{SERVER_IP}', 443))"],
                     capture_output=True, text=True)
if udp.returncode == 0:
    fail("the agent's uid sent UDP off loopback")
print("ok: the agent's UDP off loopback is refused")

proxy.terminate()
proxy.wait(timeout=10)
decisions = [json.loads(l) for l in (tmp / "egress.jsonl").read_text().splitlines() if l.strip()]
seen = {(d.get("host"), d.get("port"), d.get("decision")) for d in decisions}
for want in [("allowed.example", 443, "allow"), ("allowed.example", 80, "allow"), ("denied.example", 443, "deny"),
             ("denied.example", 80, "deny"), (SERVER_IP, 443, "deny"), ("secret.example", 443, "allow")]:
    if want not in seen:
        fail(f"egress log lacks {want}: {sorted(map(str, seen))}")
print(f"ok: the egress log has every decision ({len(decisions)} lines)")
shutil.rmtree(tmp)
