#!/usr/bin/env python3
"""A real OCI registry on loopback for the registry tests.

Starts Debian's docker-registry (distribution 2.8) on 127.0.0.1 with a throw-away config and
storage directory, optionally behind token auth served by a small JWT token service in this
process, pushes test images through the distribution push API (blob upload + manifest PUT),
prints one JSON line describing them, and stops everything when stdin closes.

    registry_fixture.py WORKDIR [--token] [--busybox]
"""
import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

SERVICE = "sbx-test-registry"
ISSUER = "sbx-test-issuer"
USER, PASSWORD = "alice", "wonderland-" + secrets.token_hex(4)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """RS256 JWTs with a libtrust key id, which is how distribution finds the trusted key."""

    def __init__(self, workdir):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID
        import datetime

        self._padding, self._hashes = padding, hashes
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sbx test token signer")])
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .sign(self.key, hashes.SHA256()))
        self.cert_path = os.path.join(workdir, "token-signer.pem")
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
        self.kid = ":".join(b32[i:i + 4] for i in range(0, 48, 4))

    def token(self, subject, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 600, "nbf": now - 30,
                  "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        sig = self.key.sign(signing_input, self._padding.PKCS1v15(), self._hashes.SHA256())
        return signing_input.decode() + "." + b64url(sig)


def token_server(signer, port, log):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(url.query)
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            got = self.headers.get("Authorization")
            log.append({"path": url.path, "service": q.get("service", [""])[0], "scope": q.get("scope", []),
                        "basic": got is not None})
            if url.path != "/token" or got != expected:
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            access = []
            for scope in q.get("scope", []):
                parts = scope.split(":")
                if len(parts) == 3 and parts[0] == "repository":
                    access.append({"type": "repository", "name": parts[1], "actions": ["pull"]})
            body = json.dumps({"token": signer.token(USER, access), "expires_in": 600}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def layer(files, symlinks=None, executables=()):
    """A gzip'd tar of {path: bytes} (and {path: target} symlinks), deterministic."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), 0
            info.mode = 0o755 if path in executables else 0o644
            tar.addfile(info, io.BytesIO(data))
        for path, target in (symlinks or {}).items():
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
            tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def busybox_layers():
    """A bootable userland for end-to-end tests: the host's static busybox and its applets."""
    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    applets = ["sh", "cat", "echo", "ls", "id", "uname", "hostname", "env", "pwd", "true", "false", "sleep", "mkdir"]
    base = layer({"bin/busybox": busybox}, {f"bin/{a}": "busybox" for a in applets}, executables=("bin/busybox",))
    marker = layer({"etc/registry-marker": b"pulled from a registry on loopback\n"})
    return [base, marker]


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Pusher:
    def __init__(self, base, signer):
        self.base, self.signer = base, signer

    def _request(self, method, url, data=None, headers=None, name=None):
        headers = dict(headers or {})
        if self.signer and name:
            tok = self.signer.token("pusher", [{"type": "repository", "name": name, "actions": ["pull", "push"]}])
            headers["Authorization"] = "Bearer " + tok
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, dict(r.headers), r.read()

    def blob(self, name, data):
        _, headers, _ = self._request("POST", f"{self.base}/v2/{name}/blobs/uploads/", b"", name=name)
        location = urllib.parse.urljoin(self.base + "/", headers["Location"])
        sep = "&" if "?" in location else "?"
        self._request("PUT", f"{location}{sep}digest={digest(data)}", data,
                      {"Content-Type": "application/octet-stream"}, name=name)
        return {"digest": digest(data), "size": len(data)}

    def manifest(self, name, reference, media_type, body):
        self._request("PUT", f"{self.base}/v2/{name}/manifests/{reference}", body, {"Content-Type": media_type}, name=name)
        return digest(body)

    def image(self, name, tag, layers, arch="amd64", docker=False):
        config = json.dumps({"architecture": arch, "os": "linux",
                             "config": {"Env": ["PATH=/usr/bin:/bin", f"SBX_TEST_IMAGE={name}"], "WorkingDir": "/"},
                             "rootfs": {"type": "layers", "diff_ids": [
                                 digest(gzip.decompress(l)) for l in layers]}}).encode()
        cfg = self.blob(name, config)
        cfg["mediaType"] = DOCKER_CONFIG if docker else OCI_CONFIG
        descs = []
        for l in layers:
            d = self.blob(name, l)
            d["mediaType"] = DOCKER_LAYER if docker else OCI_LAYER
            descs.append(d)
        mt = DOCKER_MANIFEST if docker else OCI_MANIFEST
        body = json.dumps({"schemaVersion": 2, "mediaType": mt, "config": cfg, "layers": descs}, indent=1).encode()
        d = self.manifest(name, tag, mt, body)
        return {"manifest": d, "size": len(body), "config": cfg["digest"], "layers": [x["digest"] for x in descs],
                "media_type": mt}


def main():
    workdir = sys.argv[1]
    use_token = "--token" in sys.argv[2:]
    os.makedirs(workdir, exist_ok=True)
    storage = os.path.join(workdir, "storage")
    port = free_port()
    signer = Signer(workdir) if use_token else None
    token_log = []
    config = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog: {disabled: true}",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    tserver = None
    tport = free_port()
    if use_token:
        config += ["auth:", "  token:", f"    realm: http://127.0.0.1:{tport}/token",
                   f"    service: {SERVICE}", f"    issuer: {ISSUER}", f"    rootcertbundle: {signer.cert_path}"]
    cfg_path = os.path.join(workdir, "config.yml")
    with open(cfg_path, "w") as f:
        f.write("\n".join(config) + "\n")
    log = open(os.path.join(workdir, "registry.log"), "wb")
    # Started before any thread exists (preexec_fn), and it dies with this process however it ends.
    registry = subprocess.Popen(["docker-registry", "serve", cfg_path], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
    if use_token:
        tserver = token_server(signer, tport, token_log)

    def stop(*_):
        if registry.poll() is None:
            registry.terminate()
            try:
                registry.wait(5)
            except subprocess.TimeoutExpired:
                registry.kill()
        if tserver:
            tserver.shutdown()

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(base + "/v2/", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # 401: up, with auth
        except Exception:
            if time.monotonic() > deadline or registry.poll() is not None:
                stop()
                print(json.dumps({"error": "docker-registry did not start; see " + log.name}), flush=True)
                return 1
            time.sleep(0.05)

    p = Pusher(base, signer)
    images = {}
    images["app:1"] = p.image("test/app", "1", [layer({"etc/hello": b"hello from layer one\n"}),
                                                layer({"etc/second": b"second layer " + secrets.token_bytes(4096)})])
    images["docker:1"] = p.image("test/docker", "1", [layer({"etc/docker": b"docker media types\n"})], docker=True)
    if "--busybox" in sys.argv[2:]:
        images["busybox:1"] = p.image("test/busybox", "1", busybox_layers())
    images["arm:1"] = p.image("test/arm", "1", [layer({"etc/arch": b"arm64 only\n"})], arch="arm64")
    images["corrupt:1"] = p.image("test/corrupt", "1", [layer({"etc/victim": secrets.token_bytes(2048)}),
                                                        layer({"etc/fine": b"unique " + secrets.token_bytes(64)})])
    arm = p.image("test/multi", "arm64-only", [layer({"etc/arch": b"arm64\n"})], arch="arm64")
    amd = p.image("test/multi", "amd64-only", [layer({"etc/arch": b"amd64\n"})], arch="amd64")
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": arm["manifest"], "size": arm["size"],
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": OCI_MANIFEST, "digest": amd["manifest"], "size": amd["size"],
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    images["multi:1"] = {"manifest": p.manifest("test/multi", "1", OCI_INDEX, index), "amd64": amd, "arm64": arm}

    print(json.dumps({"port": port, "base": base, "storage": os.path.join(storage, "docker", "registry", "v2"),
                      "user": USER, "password": PASSWORD, "images": images}), flush=True)
    try:
        for line in sys.stdin:  # commands: "tokens" prints what the token service saw
            if line.strip() == "tokens":
                print(json.dumps(token_log), flush=True)
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
