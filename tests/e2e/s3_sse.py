#!/usr/bin/env python3
"""End-to-end server-side encryption checks (SSE-S3, SSE-KMS, SSE-C, bucket default
encryption, auto-encryption, KES) with boto3 and aws-cli against the real `coffer` binary.

Usage: COFFER_BIN=target/debug/coffer python3 tests/e2e/s3_sse.py
Every server listens on 127.0.0.1 only, in temporary directories, with its own
XDG_CONFIG_HOME (where the development KMS key lives); everything started is killed by PID.
Prints `N passed, M failed` last; exits non-zero if anything failed.
Spec: ../shared/spec/sse.md (§3-§6, §9, §12 checks 16-28) and the KMS guide.
"""
import base64
import contextlib
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
import botocore
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.x509.oid import NameOID

BIN = os.path.abspath(os.environ.get("COFFER_BIN", "target/debug/coffer"))
USER, PASSWORD = "sse-admin", "sse-secret-password"
passed, failed = 0, 0
PROCS = []  # every process we started, killed by PID at the end

# SSE-C keys of ceph/s3-tests (sse.md §10.1, §12 check 15)
K1 = base64.b64decode("pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=")
K1_MD5 = "DWygnHRtgiJ77HCm+1rvHw=="
K2 = base64.b64decode("6b+WOZ1T3cqZMxgThRcXAQBrS5mXKdDUphvpxptl9/4=")
K2_MD5 = "arxBvwY2V4SiOne6yppVPQ=="
PHRASE = b"COFFER-SSE-PLAINTEXT-MARKER-0042"  # 32 bytes
assert len(PHRASE) == 32
MARKER = PHRASE * (1 << 15)  # 1 MiB
MIB = 1 << 20
PKG, EPKG = 65536, 65568
DEFAULT_KEY = "coffer-default"


# ---------------------------------------------------------------- helpers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(dir_, cert_name="public.crt", key_name="private.key"):
    """Self-signed P-256 certificate for 127.0.0.1; returns (cert path, key path)."""
    os.makedirs(dir_, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cp, kp = os.path.join(dir_, cert_name), os.path.join(dir_, key_name)
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.open(kp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cp, kp


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("MINIO_") or k.startswith("COFFER_") or k.startswith("KES_")
                   or k.startswith("AWS_") or k == "XDG_CONFIG_HOME")}
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def tail(path, n=2000):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


class Server:
    """`coffer server` on 127.0.0.1 (HTTPS when `cert` is given)."""

    def __init__(self, root, name, cert=None, env=None, args=(), creds=None, data_dir=None, xdg=None,
                 access_log=False):
        self.name = name
        self.dir = data_dir or os.path.join(root, name + "-data")
        self.xdg = xdg or os.path.join(root, name + "-xdg")
        os.makedirs(self.xdg, exist_ok=True)
        self.port = free_port()
        self.cert = cert
        self.log = os.path.join(root, f"{name}-{self.port}.log")
        self.env = clean_env(XDG_CONFIG_HOME=self.xdg, **(creds or {"MINIO_ROOT_USER": USER,
                                                                     "MINIO_ROOT_PASSWORD": PASSWORD}))
        self.env.update(env or {})
        cmd = [BIN, "server", self.dir, "--address", f"127.0.0.1:{self.port}", *args]
        if not access_log:
            cmd.append("--quiet")
        if cert:
            cmd += ["--certs-dir", os.path.dirname(cert)]
        self.scheme = "https" if cert else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        with open(self.log, "wb") as logf:
            # With the access log on, its JSON lines go to the same log file (the secrets
            # check reads them).
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=logf if access_log else subprocess.DEVNULL,
                                         stderr=logf)
        PROCS.append(self.proc)
        ctx = ssl.create_default_context(cafile=cert) if cert else None
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/minio/health/live", timeout=1, context=ctx)
                return
            except Exception:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server {name} exited: {tail(self.log)}")
                time.sleep(0.1)
        raise RuntimeError(f"server {name} did not become ready: {tail(self.log)}")

    def client(self, user=USER, password=PASSWORD, **cfg):
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=user, aws_secret_access_key=password,
                            region_name="us-east-1", verify=self.cert if self.cert else None,
                            config=Config(retries={"max_attempts": 1}, **cfg))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def check(name, fn):
    global passed, failed
    t0 = time.time()
    try:
        fn()
        passed += 1
        if os.environ.get("SSE_VERBOSE"):
            print(f"ok   {name} ({time.time() - t0:.1f}s)", file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - report every failure, keep going
        failed += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}", file=sys.stderr)


def run_suite(prefix, body, table=None):
    """Runs `body(root)` in a fresh temporary directory and ends the process the way every
    suite ends: a setup failure counts as a failure, every process started is killed, the
    directory is removed (kept with COFFER_E2E_KEEP=1), `table` (a header line and rows) is
    printed, then `N passed, M failed`, and the exit status says whether anything failed."""
    global failed
    root = tempfile.mkdtemp(prefix=prefix)
    t0 = time.time()
    try:
        body(root)
    except Exception as e:  # noqa: BLE001 - a setup failure is a failure too
        failed += 1
        print(f"FAIL setup: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        if os.environ.get("COFFER_E2E_KEEP"):
            print(f"(kept {root})", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if table:
        header, rows = table
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(str(x) for x in row) + " |")
    print(f"(suite took {time.time() - t0:.0f}s)", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


def expect_error(fn, code, status=None, what=""):
    got, st = error_code(fn)
    assert (got, st) == (code, status if status is not None else st), \
        f"{what + ': ' if what else ''}want {code} HTTP {status}, got {got} HTTP {st}"


def body(n, seed=0):
    return hashlib.shake_256(f"sse-{seed}".encode()).digest(n) if n else b""


def md5hex(b):
    return hashlib.md5(b).hexdigest()


def hdr(resp, name):
    return resp["ResponseMetadata"]["HTTPHeaders"].get(name.lower())


def etag(resp):
    return resp["ETag"].strip('"')


def is_hex32(s):
    return re.fullmatch(r"[0-9a-f]{32}", s) is not None


@contextlib.contextmanager
def extra_headers(c, op, headers):
    """Adds raw (signed) request headers to one operation of client `c`."""
    def add(request, **_):
        for k, v in headers.items():
            request.headers[k] = v
    ev = f"before-sign.s3.{op}"
    c.meta.events.register(ev, add, unique_id="sse-extra-headers")
    try:
        yield
    finally:
        c.meta.events.unregister(ev, unique_id="sse-extra-headers")


def signed(srv, method, path, user=USER, password=PASSWORD, body_=b""):
    """A SigV4-signed raw request (for the KMS admin API); returns (status, parsed JSON or text)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method=method, url=srv.url + path, data=body_)
    S3SigV4Auth(Credentials(user, password), "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(srv.url + path, data=body_ if method in ("POST", "PUT") else None, method=method,
                               headers=dict(req.headers.items()))
    ctx = ssl.create_default_context(cafile=srv.cert) if srv.cert else None
    try:
        resp = urllib.request.urlopen(r, context=ctx, timeout=10)
        status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def encrypted_size(n):
    return (n // PKG) * EPKG + (n % PKG + 32 if n % PKG else 0)


def ssec(key=K1):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def ssec_copy(key=K1):
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


MODES = ("plain", "sse-s3", "sse-kms", "sse-c")


def put_args(mode, key=K1):
    return {"plain": {}, "sse-s3": {"ServerSideEncryption": "AES256"},
            "sse-kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": DEFAULT_KEY},
            "sse-c": ssec(key)}[mode]


def read_args(mode, key=K1):
    return ssec(key) if mode == "sse-c" else {}


def assert_mode(r, mode, key_md5=K1_MD5, kms_key=DEFAULT_KEY):
    sse, alg = r.get("ServerSideEncryption"), r.get("SSECustomerAlgorithm")
    if mode == "plain":
        assert sse is None and alg is None, f"plain object shows SSE headers {sse!r} {alg!r}"
    elif mode == "sse-s3":
        assert sse == "AES256" and alg is None, f"want AES256, got {sse!r} {alg!r}"
    elif mode == "sse-kms":
        assert sse == "aws:kms", f"want aws:kms, got {sse!r}"
        assert r.get("SSEKMSKeyId") == "arn:aws:kms:" + kms_key, f"key id {r.get('SSEKMSKeyId')!r}"
    else:
        assert alg == "AES256" and r.get("SSECustomerKeyMD5") == key_md5 and sse is None, \
            f"SSE-C echo: alg {alg!r} md5 {r.get('SSECustomerKeyMD5')!r} sse {sse!r}"


def read_fully(fn):
    """Calls a GET; returns ('error', code, status) / ('aborted', exc) / ('body', bytes)."""
    try:
        r = fn()
    except botocore.exceptions.ClientError as e:
        return ("error", e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
    except Exception as e:  # noqa: BLE001 - connection-level failure before the body
        return ("aborted", repr(e))
    try:
        return ("body", r["Body"].read())
    except Exception as e:  # noqa: BLE001 - the server aborted the stream
        return ("aborted", repr(e))


def key_hash(key):
    return hashlib.sha256(key.encode()).hexdigest()


def meta_path(data_dir, bucket, key):
    h = key_hash(key)
    return os.path.join(data_dir, bucket, "objects", h[:2], h + ".meta")


def load_meta(data_dir, bucket, key):
    with open(meta_path(data_dir, bucket, key)) as f:
        return json.load(f)


def data_files(data_dir, bucket, key):
    m = load_meta(data_dir, bucket, key)
    d = os.path.dirname(meta_path(data_dir, bucket, key))
    return [os.path.join(d, n) for n in m.get("data", [])]


def scan_for(root, needle):
    """Files under `root` containing `needle`."""
    hits = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            try:
                with open(p, "rb") as fh:
                    if needle in fh.read():
                        hits.append(os.path.relpath(p, root))
            except OSError:
                pass
    return hits


# ------------------------------------------ independent DARE / key-hierarchy reader (§1, §2, §7.1)

def dare_open(key, stream, seq0=0):
    """Decrypts a DARE 2.0 stream (sse.md §1.3)."""
    out, off, seq, first = bytearray(), 0, seq0, None
    while off < len(stream):
        h = stream[off:off + 16]
        n = struct.unpack("<H", h[2:4])[0] + 1
        pkg = stream[off:off + 16 + n + 16]
        assert h[0] == 0x20 and h[1] in (0, 1), "not a DARE 2.0 package"
        if first is None:
            first = h
        nonce = bytearray(h[4:16])
        ctr = struct.unpack("<I", nonce[8:12])[0] ^ seq
        nonce[8:12] = struct.pack("<I", ctr)
        aead = AESGCM(key) if h[1] == 0 else ChaCha20Poly1305(key)
        out += aead.decrypt(bytes(nonce), pkg[16:], h[0:4])
        final = bool(h[4] & 0x80)
        off += len(pkg)
        seq += 1
        if final:
            assert off == len(stream), "data after final package"
            return bytes(out)
    raise AssertionError("stream ended without a final package")


def kek(ek, iv, domain, bucket, obj):
    path = os.path.normpath(f"{bucket}/{obj}")
    return hmac.new(ek, iv + domain.encode() + b"DAREv2-HMAC-SHA256" + path.encode(), hashlib.sha256).digest()


def builtin_kms_decrypt(master, blob, context):
    assert len(blob) == 76, f"builtin KMS ciphertext is {len(blob)} bytes, want 76"
    ct, iv, nonce = blob[:48], blob[48:64], blob[64:76]
    return AESGCM(hmac.new(master, iv, hashlib.sha256).digest()).decrypt(nonce, ct, context)


def plaintext_from_disk(data_dir, bucket, key, ek):
    """Reads an encrypted object from its files with the external key `ek` (client key or DEK)."""
    m = load_meta(data_dir, bucket, key)
    enc = m["encryption"]
    oek = dare_open(kek(ek, base64.b64decode(enc["iv"]), enc["kind"], bucket, key),
                    base64.b64decode(enc["sealed_key"]))
    assert len(oek) == 32
    raw = b"".join(open(p, "rb").read() for p in data_files(data_dir, bucket, key))
    if not enc.get("multipart"):
        return dare_open(oek, raw)
    out, off = b"", 0
    for p in m["parts"]:
        size = p.get("stored") or ((p["size"] // PKG) * EPKG + (p["size"] % PKG + 32 if p["size"] % PKG else 0))
        pk = hmac.new(oek, struct.pack("<I", p["number"]), hashlib.sha256).digest()
        out += dare_open(pk, raw[off:off + size])
        off += size
    return out


# ---------------------------------------------------------------- KES

class Kes:
    """`coffer kes server` with an fs keystore, on a fixed 127.0.0.1 port."""

    def __init__(self, root, name, tls_cert, tls_key, admin_id, minio_id, keys_dir):
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        cfg = os.path.join(root, name + ".yaml")
        with open(cfg, "w") as f:
            f.write(f"""version: v1
address: {self.addr}
admin:
  identity: {admin_id}
tls:
  key: {tls_key}
  cert: {tls_cert}
policy:
  minio:
    allow:
    - /v1/key/create/*
    - /v1/key/generate/*
    - /v1/key/decrypt/*
    - /v1/key/list/*
    - /v1/status
    identities:
    - {minio_id}
keystore:
  fs:
    path: {keys_dir}
""")
        self.log = os.path.join(root, name + ".log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen([BIN, "kes", "server", "--config", cfg], env=clean_env(RUST_LOG="debug"),
                                         stdout=subprocess.DEVNULL, stderr=logf, cwd=root)
        PROCS.append(self.proc)
        for _ in range(200):
            if "listening on https://" in tail(self.log, 100000):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"key server {name} exited: {tail(self.log)}")
            time.sleep(0.1)
        raise RuntimeError(f"key server {name} did not start: {tail(self.log)}")

    def metrics(self, ca, cert, key):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(cert, key)
        text = urllib.request.urlopen(f"https://{self.addr}/v1/metrics", context=ctx, timeout=5).read().decode()
        counts = {"success": 0, "error": 0, "failure": 0}
        for line in text.splitlines():
            m = re.match(r"kes_http_request_(success|error|failure)\{[^}]*\} (\d+)", line)
            if m:
                counts[m.group(1)] += int(m.group(2))
        return counts


def kes_setup(root, tag):
    """A directory for key servers: TLS certificate, admin and minio identities, keys dir.
    Returns (dir, Kes arguments after dir and name, (admin key, cert), (minio key, cert))."""
    kroot = os.path.join(root, tag)
    os.makedirs(kroot)
    kes_cert, kes_key = make_cert(os.path.join(kroot, "tls"), "kes.crt", "kes.key")
    admin_key, admin_cert, admin_id = identity_new(kroot, "admin")
    minio_key, minio_cert, minio_id = identity_new(kroot, "minio")
    keys_dir = os.path.join(kroot, "keys")
    os.makedirs(keys_dir)
    return kroot, (kes_cert, kes_key, admin_id, minio_id, keys_dir), (admin_key, admin_cert), (minio_key, minio_cert)


def identity_new(root, name):
    key, cert = os.path.join(root, name + ".key"), os.path.join(root, name + ".cert")
    r = subprocess.run([BIN, "kes", "identity", "new", "--key", key, "--cert", cert, name],
                       env=clean_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    of = subprocess.run([BIN, "kes", "identity", "of", cert], env=clean_env(), capture_output=True, text=True,
                        timeout=30)
    ident = of.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", ident), f"identity of: {of.stdout!r} {of.stderr!r}"
    assert ident in r.stdout, "identity new and identity of disagree"
    return key, cert, ident


# ---------------------------------------------------------------- main

def main():
    def body(root):
        cert, _ = make_cert(os.path.join(root, "certs"))
        # Debug logging on: the secrets check at the end reads what every crate logged.
        main_srv = Server(root, "main", cert=cert, access_log=True, env={"RUST_LOG": "debug"})
        s3 = main_srv.client()
        sse_s3_tests(s3, main_srv)
        sse_kms_tests(s3)
        sse_c_tests(s3, main_srv, root)
        conflict_tests(s3)
        multipart_tests(s3, main_srv)
        copy_tests(s3)
        bucket_encryption_tests(s3)
        tamper_tests(s3, main_srv)
        recovery_tests(s3, main_srv, root)
        main_srv.stop()
        plaintext_on_disk_tests(root, cert)
        no_kms_tests(root, cert)
        secret_key_tests(root, cert)
        kes_tests(root)
        log_secret_tests(root)
    run_suite("coffer-sse-", body)


# ---------------------------------------------------------------- secrets in logs

def log_secret_tests(root):
    """After the whole SSE run: no log file of any server (object or key server) holds a
    secret in any usual encoding — SSE-C keys, user passwords, the KMS master keys, the
    development key, key-server private keys."""
    def forms(raw):
        if isinstance(raw, str):
            raw = raw.encode()
        out = {raw, base64.b64encode(raw), raw.hex().encode(), raw.hex().upper().encode()}
        out.add(base64.urlsafe_b64encode(raw).rstrip(b"="))
        return {f for f in out if len(f) >= 12}

    def scan():
        needles = set()
        for raw in (K1, K2, PASSWORD, "minio123", hashlib.sha256(b"coffer-sse-suite-master").digest()):
            needles |= forms(raw)
        logs, secret_files = [], []
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = os.path.join(dirpath, f)
                if f.endswith(".log"):
                    logs.append(p)
                elif f == "dev-kms.key" or f.endswith(".key"):
                    secret_files.append(p)
        for p in secret_files:
            data = open(p, "rb").read().strip()
            if f"{os.sep}dev-kms.key" in p:
                needles |= forms(data)
                try:
                    needles |= forms(base64.b64decode(data.split(b":")[-1], validate=True))
                except Exception:  # noqa: BLE001 - not base64: the raw form is already there
                    pass
            else:  # PEM private keys: their base64 body lines
                needles |= {ln for ln in data.splitlines() if len(ln) >= 40 and not ln.startswith(b"-----")}
        assert logs, "no log files found"
        assert len(needles) > 20, f"only {len(needles)} secret forms collected"
        hits = []
        total = 0
        for p in logs:
            text = open(p, "rb").read()
            total += len(text)
            for n in needles:
                if n in text:
                    hits.append((os.path.basename(p), n[:8]))
        assert not hits, f"secrets in logs: {hits[:5]}"
        if os.environ.get("SSE_VERBOSE"):
            print(f"     scanned {len(logs)} logs, {total} bytes, for {len(needles)} secret forms", file=sys.stderr)
    check("no secret (SSE-C keys, passwords, KMS and dev keys, private keys) in any log of the run", scan)


# ---------------------------------------------------------------- A. SSE-S3

def sse_s3_tests(s3, srv):
    b = "sse-s3"
    s3.create_bucket(Bucket=b)
    sizes = (0, 1, 13, 1024, 65536, 65537, MIB + 3)

    def round_trips():
        for n in sizes:
            data = body(n, n)
            r = s3.put_object(Bucket=b, Key=f"size/{n}", Body=data, ServerSideEncryption="AES256")
            assert r.get("ServerSideEncryption") == "AES256", f"{n}: PUT response {r.get('ServerSideEncryption')!r}"
            assert etag(r) == md5hex(data), f"{n}: ETag {etag(r)} != MD5 {md5hex(data)}"
            g = s3.get_object(Bucket=b, Key=f"size/{n}")
            got = g["Body"].read()
            assert got == data, f"{n}: GET returned {len(got)} bytes, differs"
            assert g["ContentLength"] == n and g.get("ServerSideEncryption") == "AES256", (n, g["ContentLength"])
            assert etag(g) == md5hex(data), f"{n}: GET ETag {etag(g)}"
            h = s3.head_object(Bucket=b, Key=f"size/{n}")
            assert h["ContentLength"] == n and h.get("ServerSideEncryption") == "AES256", (n, h["ContentLength"])
            assert etag(h) == md5hex(data), f"{n}: HEAD ETag {etag(h)}"
    check("A SSE-S3 PUT/GET/HEAD sizes 0..1MiB+3: AES256 headers, ETag=MD5, plaintext length", round_trips)

    def ranges():
        n = MIB + 3
        data = body(n, n)
        for rng, lo, hi in (("bytes=0-0", 0, 0), (f"bytes={n - 1}-{n - 1}", n - 1, n - 1),
                            ("bytes=65530-65545", 65530, 65545), ("bytes=65536-65536", 65536, 65536),
                            ("bytes=131000-300000", 131000, 300000), ("bytes=-10", n - 10, n - 1),
                            (f"bytes={n - 100}-", n - 100, n - 1)):
            g = s3.get_object(Bucket=b, Key=f"size/{n}", Range=rng)
            got = g["Body"].read()
            assert got == data[lo:hi + 1], f"{rng}: got {len(got)} bytes, differs"
            assert g["ContentRange"] == f"bytes {lo}-{hi}/{n}", f"{rng}: Content-Range {g['ContentRange']}"
            assert g.get("ServerSideEncryption") == "AES256"
        g = s3.get_object(Bucket=b, Key="size/65537", Range="bytes=65536-")
        assert g["Body"].read() == body(65537, 65537)[65536:]
        g = s3.get_object(Bucket=b, Key="size/13", Range="bytes=-100")
        assert g["Body"].read() == body(13, 13)
        expect_error(lambda: s3.get_object(Bucket=b, Key="size/13", Range="bytes=13-20"), "InvalidRange", 416)
    check("A SSE-S3 ranged GETs (first/last byte, across 64 KiB package, suffix)", ranges)

    def listing():
        objs = {o["Key"]: o for o in s3.list_objects_v2(Bucket=b, Prefix="size/")["Contents"]}
        for n in sizes:
            assert objs[f"size/{n}"]["Size"] == n, f"listed size {objs[f'size/{n}']['Size']} for {n}"
    check("A ListObjectsV2 shows plaintext sizes", listing)

    def listing_etag():
        objs = {o["Key"]: o for o in s3.list_objects_v2(Bucket=b, Prefix="size/")["Contents"]}
        for n in sizes:
            assert objs[f"size/{n}"]["ETag"].strip('"') == md5hex(body(n, n)), \
                f"listed ETag {objs[f'size/{n}']['ETag']} for size {n} is not the MD5 (sse.md §3.4)"
    check("A ListObjectsV2 ETag of single-part SSE-S3 objects is the MD5", listing_etag)

    def disk_sizes():
        bad = []
        for n in sizes:
            files = data_files(srv.dir, b, f"size/{n}")
            got = sum(os.path.getsize(f) for f in files)
            if got != encrypted_size(n):
                bad.append(f"{n}: {got} bytes on disk, want {encrypted_size(n)}")
        assert not bad, "; ".join(bad)
    check("A stored size = DARE EncryptedSize(plaintext) (§1.5: 0->0, 1->33, 65536->65568, 65537->65601)",
          disk_sizes)

    def read_with_sse_header():
        for op, call in (("GetObject", lambda: s3.get_object(Bucket=b, Key="size/13")),
                         ("HeadObject", lambda: s3.head_object(Bucket=b, Key="size/13"))):
            for val in ("AES256", "aws:kms"):
                with extra_headers(s3, op, {"x-amz-server-side-encryption": val}):
                    code, st = error_code(call)
                want = "BadRequest" if op == "GetObject" else "400"
                assert (code, st) == (want, 400), f"{op} with x-amz-server-side-encryption: {val}: {code} {st}"
            with extra_headers(s3, op, {"x-amz-server-side-encryption-aws-kms-key-id": DEFAULT_KEY}):
                code, st = error_code(call)
            assert st == 400, f"{op} with SSE-KMS key-id header: {code} {st}"
    check("A GET/HEAD with x-amz-server-side-encryption header -> 400 BadRequest", read_with_sse_header)

    def lower_case_aes256():
        r = s3.put_object(Bucket=b, Key="lower", Body=b"x", ServerSideEncryption="aes256")
        assert r.get("ServerSideEncryption") == "AES256", r.get("ServerSideEncryption")
    check("A lower-case aes256 accepted as SSE-S3 (§3.3)", lower_case_aes256)


# ---------------------------------------------------------------- C. SSE-KMS

def sse_kms_tests(s3):
    b = "sse-kms"
    s3.create_bucket(Bucket=b)

    def key_ids():
        for kid in (DEFAULT_KEY, "arn:aws:kms:" + DEFAULT_KEY):
            data = body(70000, kid)
            r = s3.put_object(Bucket=b, Key="k/" + kid, Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=kid)
            assert_mode(r, "sse-kms")
            e = etag(r)
            assert is_hex32(e) and e != md5hex(data), f"ETag {e} (MD5 {md5hex(data)})"
            g = s3.get_object(Bucket=b, Key="k/" + kid)
            assert g["Body"].read() == data and g["ContentLength"] == len(data)
            assert_mode(g, "sse-kms")
            assert etag(g) == e, f"GET ETag {etag(g)} != PUT ETag {e}"
            h = s3.head_object(Bucket=b, Key="k/" + kid)
            assert_mode(h, "sse-kms")
            assert etag(h) == e
        r = s3.put_object(Bucket=b, Key="k/nokey", Body=b"default key", ServerSideEncryption="aws:kms")
        assert_mode(r, "sse-kms")
    check("C SSE-KMS with coffer-default / arn:aws:kms:coffer-default / no key id", key_ids)

    def errors():
        expect_error(lambda: s3.put_object(Bucket=b, Key="e", Body=b"x", ServerSideEncryption="aws:kms",
                                           SSEKMSKeyId="no-such-key"), "kms:KeyNotFound", 404, "unknown key")
        expect_error(lambda: s3.put_object(Bucket=b, Key="e", Body=b"x", SSEKMSKeyId=DEFAULT_KEY),
                     "InvalidArgument", 400, "key id without SSE header")
        expect_error(lambda: s3.put_object(Bucket=b, Key="e", Body=b"x", ServerSideEncryption="AES256",
                                           SSEKMSKeyId=DEFAULT_KEY), "InvalidArgument", 400, "AES256 + key id")
        expect_error(lambda: s3.put_object(Bucket=b, Key="e", Body=b"x", ServerSideEncryption="aes:kms"),
                     "InvalidArgument", 400, "aes:kms")
        expect_error(lambda: s3.head_object(Bucket=b, Key="e"), "404", 404, "failed PUTs stored an object")
    check("C SSE-KMS errors: unknown key 404 kms:KeyNotFound, key id w/o SSE / AES256+key id / aes:kms 400", errors)

    def context():
        canon = base64.b64encode(b'{"a":"1","project":"coffer"}').decode()
        r = s3.put_object(Bucket=b, Key="ctx", Body=b"context", ServerSideEncryption="aws:kms",
                          SSEKMSKeyId=DEFAULT_KEY, SSEKMSEncryptionContext=canon)
        assert r.get("SSEKMSEncryptionContext") == canon, f"PUT context {r.get('SSEKMSEncryptionContext')!r}"
        g = s3.get_object(Bucket=b, Key="ctx")
        assert g["Body"].read() == b"context"
        assert hdr(g, "x-amz-server-side-encryption-context") == canon, \
            f"GET context {hdr(g, 'x-amz-server-side-encryption-context')!r}"
        h = s3.head_object(Bucket=b, Key="ctx")
        assert hdr(h, "x-amz-server-side-encryption-context") == canon, \
            f"HEAD context {hdr(h, 'x-amz-server-side-encryption-context')!r}"
        # non-canonical input is stored canonically (§3.2, §12 check 21)
        raw = base64.b64encode(b'{ "z": "<&>", "b": "2" }').decode()
        s3.put_object(Bucket=b, Key="ctx2", Body=b"c2", ServerSideEncryption="aws:kms", SSEKMSEncryptionContext=raw)
        h = s3.head_object(Bucket=b, Key="ctx2")
        got = hdr(h, "x-amz-server-side-encryption-context")
        want = base64.b64encode(b'{"b":"2","z":"\\u003c\\u0026\\u003e"}').decode()
        assert got == want, f"canonical context: got {base64.b64decode(got or '')!r}"
        assert s3.get_object(Bucket=b, Key="ctx2")["Body"].read() == b"c2"
        c, st = error_code(lambda: s3.put_object(Bucket=b, Key="ctx3", Body=b"x", ServerSideEncryption="aws:kms",
                                                 SSEKMSEncryptionContext="!!not base64!!"))
        assert st >= 400, "invalid context accepted"
    check("C SSE-KMS encryption context round-trips (canonical base64) in GET/HEAD", context)


# ---------------------------------------------------------------- D. SSE-C

def sse_c_tests(s3, srv, root):
    b = "sse-c"
    s3.create_bucket(Bucket=b)

    def round_trip():
        for n in (0, 1, 13, 1024, 65537, MIB):
            data = body(n, ("c", n))
            r = s3.put_object(Bucket=b, Key=f"c/{n}", Body=data, **ssec())
            assert_mode(r, "sse-c")
            e = etag(r)
            assert is_hex32(e) and e != md5hex(data), f"{n}: ETag {e} looks like MD5 or is not 32 hex"
            g = s3.get_object(Bucket=b, Key=f"c/{n}", **ssec())
            assert g["Body"].read() == data and g["ContentLength"] == n, n
            assert_mode(g, "sse-c")
            h = s3.head_object(Bucket=b, Key=f"c/{n}", **ssec())
            assert_mode(h, "sse-c")
            assert h["ContentLength"] == n and etag(h) == e, (n, h["ContentLength"], etag(h), e)
        g = s3.get_object(Bucket=b, Key=f"c/{MIB}", Range="bytes=65530-65545", **ssec())
        assert g["Body"].read() == body(MIB, ("c", MIB))[65530:65546]
        objs = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=b, Prefix="c/")["Contents"]}
        assert objs["c/65537"] == 65537, objs
    check("D SSE-C PUT/GET/HEAD over HTTPS: echoed algorithm + key MD5, ETag 32 hex != MD5", round_trip)

    def key_errors():
        k = "c/1024"
        expect_error(lambda: s3.get_object(Bucket=b, Key=k), "InvalidRequest", 400, "GET without key")
        expect_error(lambda: s3.head_object(Bucket=b, Key=k), "400", 400, "HEAD without key")
        expect_error(lambda: s3.get_object(Bucket=b, Key=k, **ssec(K2)), "AccessDenied", 403, "GET wrong key")
        expect_error(lambda: s3.head_object(Bucket=b, Key=k, **ssec(K2)), "403", 403, "HEAD wrong key")
        expect_error(lambda: s3.get_object(Bucket=b, Key=k, SSECustomerAlgorithm="AES256",
                                           SSECustomerKey=base64.b64encode(K1).decode(), SSECustomerKeyMD5=K2_MD5),
                     "InvalidArgument", 400, "GET bad key MD5")
        expect_error(lambda: s3.put_object(Bucket=b, Key="c/badmd5", Body=b"x", SSECustomerAlgorithm="AES256",
                                           SSECustomerKey=base64.b64encode(K1).decode(), SSECustomerKeyMD5=K2_MD5),
                     "InvalidArgument", 400, "PUT bad key MD5")
        expect_error(lambda: s3.put_object(Bucket=b, Key="c/noalg", Body=b"x", SSECustomerKey=K1),
                     "InvalidArgument", 400, "PUT key without algorithm")
        expect_error(lambda: s3.put_object(Bucket=b, Key="c/alg", Body=b"x", SSECustomerAlgorithm="AES128",
                                           SSECustomerKey=K1), "InvalidArgument", 400, "PUT algorithm AES128")
        expect_error(lambda: s3.put_object(Bucket=b, Key="c/short", Body=b"x", **ssec(b"0123456789abcdef")),
                     "AccessDenied", 403, "PUT 16-byte key (§4.2 row 4)")
        with extra_headers(s3, "PutObject", {"x-amz-server-side-encryption-customer-algorithm": "AES256",
                                             "x-amz-server-side-encryption-customer-key-md5": K1_MD5}):
            expect_error(lambda: s3.put_object(Bucket=b, Key="c/nokey", Body=b"x"),
                         "InvalidArgument", 400, "PUT without key")
        expect_error(lambda: s3.head_object(Bucket=b, Key="c/badmd5"), "404", 404, "failed PUT stored an object")
    check("D SSE-C errors: no key 400, wrong key 403, bad MD5 400 InvalidArgument, bad algorithm 400", key_errors)

    def ssec_on_other_objects():
        s3.put_object(Bucket=b, Key="plain", Body=b"plain")
        s3.put_object(Bucket=b, Key="s3obj", Body=b"s3", ServerSideEncryption="AES256")
        expect_error(lambda: s3.get_object(Bucket=b, Key="plain", **ssec()), "InvalidRequest", 400,
                     "GET SSE-C on unencrypted object")
        expect_error(lambda: s3.head_object(Bucket=b, Key="plain", **ssec()), "400", 400,
                     "HEAD SSE-C on unencrypted object")
        expect_error(lambda: s3.get_object(Bucket=b, Key="s3obj", **ssec()), "InvalidRequest", 400,
                     "GET SSE-C on SSE-S3 object")
        with extra_headers(s3, "PutObject", {"x-amz-copy-source-server-side-encryption-customer-algorithm": "AES256",
                                             "x-amz-copy-source-server-side-encryption-customer-key":
                                                 base64.b64encode(K1).decode(),
                                             "x-amz-copy-source-server-side-encryption-customer-key-md5": K1_MD5}):
            expect_error(lambda: s3.put_object(Bucket=b, Key="c/copyhdr", Body=b"x"),
                         "InvalidRequest", 400, "PUT with copy-source SSE-C headers (§4.2 row 7)")
    check("D SSE-C headers on unencrypted / SSE-S3 objects -> 400 InvalidRequest", ssec_on_other_objects)

    def on_disk_format():
        data = body(100000, "fmt")
        s3.put_object(Bucket=b, Key="fmt/obj", Body=data, **ssec())
        m = load_meta(srv.dir, b, "fmt/obj")
        enc = m.get("encryption") or {}
        assert enc.get("kind") == "SSE-C" and enc.get("algorithm") == "DAREv2-HMAC-SHA256", enc
        assert "x-amz-server-side-encryption-customer-key" not in json.dumps(m).lower(), "client key persisted"
        assert base64.b64encode(K1).decode() not in json.dumps(m), "client key persisted"
        assert plaintext_from_disk(srv.dir, b, "fmt/obj", K1) == data
        try:
            plaintext_from_disk(srv.dir, b, "fmt/obj", K2)
            raise AssertionError("sealed key opened with the wrong client key")
        except AssertionError:
            raise
        except Exception:  # noqa: BLE001 - InvalidTag expected
            pass
    check("D SSE-C object decrypts from disk with an independent DARE/KEK implementation (§2)", on_disk_format)

    def sealed_checksum():
        data = body(5000, "cks")
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        s3.put_object(Bucket=b, Key="cks/obj", Body=data, ChecksumSHA256=sha, **ssec())
        with open(meta_path(srv.dir, b, "cks/obj")) as f:
            raw = f.read()
        assert sha not in raw, "SHA-256 of the SSE-C plaintext stored in clear in the .meta record (§2.3: sealed)"
        h = s3.head_object(Bucket=b, Key="cks/obj", ChecksumMode="ENABLED", **ssec())
        assert h.get("ChecksumSHA256") == sha, f"checksum not returned with the key: {h.get('ChecksumSHA256')!r}"
    check("D additional checksum of an SSE-C object is not stored in clear (§2.3)", sealed_checksum)

    def no_digest_in_clear(modes):
        leaks = []
        for mode in modes:
            data = body(3000, ("digest", mode))
            s3.put_object(Bucket=b, Key=f"dig/{mode}", Body=data, **put_args(mode))
            with open(meta_path(srv.dir, b, f"dig/{mode}")) as f:
                raw = f.read()
            if md5hex(data) in raw:
                leaks.append(mode)
        assert not leaks, f"plaintext MD5 stored in clear in the .meta record of {leaks} objects (§6.3: sealed ETag)"
    check("D plaintext MD5 not stored in clear in .meta of SSE-C / SSE-KMS objects (§6.3)",
          lambda: no_digest_in_clear(("sse-c", "sse-kms")))
    check("D plaintext MD5 of single-part SSE-S3 objects stored sealed in .meta, as MinIO does (§6.3)",
          lambda: no_digest_in_clear(("sse-s3",)))

    def http_refused_then_insecure():
        plain_srv = Server(root, "http-plain")
        try:
            c = plain_srv.client()
            c.create_bucket(Bucket="hhh")
            expect_error(lambda: c.put_object(Bucket="hhh", Key="o", Body=b"x", **ssec()), "InvalidRequest", 400,
                         "SSE-C PUT over HTTP")
            c.put_object(Bucket="hhh", Key="plain", Body=b"x")
            expect_error(lambda: c.get_object(Bucket="hhh", Key="plain", **ssec()), "InvalidRequest", 400,
                         "SSE-C GET over HTTP")
            expect_error(lambda: c.head_object(Bucket="hhh", Key="plain", **ssec()), "400", 400, "SSE-C HEAD over HTTP")
            expect_error(lambda: c.copy_object(Bucket="hhh", Key="cp", CopySource={"Bucket": "hhh", "Key": "plain"},
                                               **ssec_copy()), "InvalidRequest", 400, "copy-source SSE-C over HTTP")
            expect_error(lambda: c.head_object(Bucket="hhh", Key="o"), "404", 404, "refused PUT stored an object")
            # SSE-S3 over plain HTTP is fine
            r = c.put_object(Bucket="hhh", Key="s3", Body=b"s3 over http", ServerSideEncryption="AES256")
            assert r.get("ServerSideEncryption") == "AES256"
        finally:
            plain_srv.stop()
        ins = Server(root, "http-insecure", args=("--insecure-sse-c",))
        try:
            c = ins.client()
            c.create_bucket(Bucket="hhh")
            data = body(70000, "ins")
            r = c.put_object(Bucket="hhh", Key="o", Body=data, **ssec())
            assert_mode(r, "sse-c")
            assert c.get_object(Bucket="hhh", Key="o", **ssec())["Body"].read() == data
            expect_error(lambda: c.get_object(Bucket="hhh", Key="o", **ssec(K2)), "AccessDenied", 403)
        finally:
            ins.stop()
    check("D SSE-C over plain HTTP -> 400 InvalidRequest; works with --insecure-sse-c", http_refused_then_insecure)


# ---------------------------------------------------------------- E. conflicts

def conflict_tests(s3):
    b = "sse-conflict"
    s3.create_bucket(Bucket=b)

    def conflicts():
        expect_error(lambda: s3.put_object(Bucket=b, Key="o", Body=b"x", ServerSideEncryption="AES256", **ssec()),
                     "InvalidArgument", 400, "SSE-C + AES256")
        expect_error(lambda: s3.put_object(Bucket=b, Key="o", Body=b"x", ServerSideEncryption="aws:kms", **ssec()),
                     "InvalidArgument", 400, "SSE-C + aws:kms")
        expect_error(lambda: s3.put_object(Bucket=b, Key="o", Body=b"x", ServerSideEncryption="aws:kms",
                                           SSEKMSKeyId=DEFAULT_KEY, **ssec()), "InvalidArgument", 400,
                     "SSE-C + aws:kms + key id")
        expect_error(lambda: s3.put_object(Bucket=b, Key="o", Body=b"x", ServerSideEncryption="AES192"),
                     "InvalidArgument", 400, "AES192")
        expect_error(lambda: s3.create_multipart_upload(Bucket=b, Key="o", ServerSideEncryption="AES256", **ssec()),
                     "InvalidArgument", 400, "initiate SSE-C + AES256")
        expect_error(lambda: s3.head_object(Bucket=b, Key="o"), "404", 404, "a refused PUT stored an object")
    check("E conflicting SSE headers -> 400 InvalidArgument", conflicts)


# ---------------------------------------------------------------- F. multipart

def multipart_tests(s3, srv):
    b = "sse-mp"
    s3.create_bucket(Bucket=b)
    parts = [body(5 * MIB, "p1"), body(5 * MIB, "p2"), body(MIB + 1, "p3")]
    whole = b"".join(parts)

    def run_mode(mode):
        k = f"mp/{mode}"
        pa, ra = put_args(mode), read_args(mode)
        up = s3.create_multipart_upload(Bucket=b, Key=k, **pa)
        assert_mode(up, mode)
        uid = up["UploadId"]
        etags = []
        for i, p in enumerate(parts, 1):
            r = s3.upload_part(Bucket=b, Key=k, UploadId=uid, PartNumber=i, Body=p, **ra)
            assert_mode(r, mode)
            e = etag(r)
            if mode == "sse-s3":
                assert e == md5hex(p), f"part {i} ETag {e} != MD5 {md5hex(p)}"
            else:
                assert is_hex32(e) and e != md5hex(p), f"part {i} ETag {e}"
            etags.append(r["ETag"])
        lp = s3.list_parts(Bucket=b, Key=k, UploadId=uid)["Parts"]
        assert [p["Size"] for p in lp] == [len(p) for p in parts], f"ListParts sizes {[p['Size'] for p in lp]}"
        assert [p["ETag"] for p in lp] == etags, f"ListParts ETags {[p['ETag'] for p in lp]} != {etags}"
        if mode == "sse-c":
            expect_error(lambda: s3.upload_part(Bucket=b, Key=k, UploadId=uid, PartNumber=4, Body=b"x"),
                         "InvalidRequest", 400, "UploadPart without SSE-C headers")
            expect_error(lambda: s3.upload_part(Bucket=b, Key=k, UploadId=uid, PartNumber=4, Body=b"x", **ssec(K2)),
                         "AccessDenied", 403, "UploadPart with another key")
        r = s3.complete_multipart_upload(Bucket=b, Key=k, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, 1)]})
        want = hashlib.md5(b"".join(bytes.fromhex(e.strip('"')) for e in etags)).hexdigest() + "-3"
        assert etag(r) == want, f"final ETag {etag(r)} != {want}"
        h = s3.head_object(Bucket=b, Key=k, **ra)
        assert_mode(h, mode)
        assert h["ContentLength"] == len(whole) and etag(h) == want, (h["ContentLength"], etag(h))
        g = s3.get_object(Bucket=b, Key=k, **ra)
        assert_mode(g, mode)
        assert g["Body"].read() == whole, "full GET differs"
        lo, hi = 5242870, 5242890
        g = s3.get_object(Bucket=b, Key=k, Range=f"bytes={lo}-{hi}", **ra)
        assert g["Body"].read() == whole[lo:hi + 1], "range across part boundary differs"
        lo, hi = 2 * 5 * MIB - 70000, 2 * 5 * MIB + 70000
        g = s3.get_object(Bucket=b, Key=k, Range=f"bytes={lo}-{hi}", **ra)
        assert g["Body"].read() == whole[lo:hi + 1], "range across part 2/3 boundary differs"
        g = s3.get_object(Bucket=b, Key=k, Range="bytes=-5", **ra)
        assert g["Body"].read() == whole[-5:], "suffix range differs"
        g = s3.get_object(Bucket=b, Key=k, PartNumber=2, **ra)
        got = g["Body"].read()
        assert got == parts[1], f"PartNumber=2 returned {len(got)} bytes, differs"
        assert g.get("PartsCount") == 3 and g["ContentLength"] == len(parts[1]), (g.get("PartsCount"),
                                                                                    g["ContentLength"])
        listed = [o for o in s3.list_objects_v2(Bucket=b, Prefix=k)["Contents"] if o["Key"] == k][0]
        assert listed["Size"] == len(whole), f"listed size {listed['Size']}"
        if mode == "sse-c":
            expect_error(lambda: s3.get_object(Bucket=b, Key=k), "InvalidRequest", 400, "GET without key")
            expect_error(lambda: s3.get_object(Bucket=b, Key=k, **ssec(K2)), "AccessDenied", 403, "GET other key")
            assert plaintext_from_disk(srv.dir, b, k, K1) == whole, "disk format (part keys) differs"

    for mode in ("sse-s3", "sse-c", "sse-kms"):
        check(f"F multipart {mode}: 5MiB+5MiB+1MiB+1, ETags, ListParts, ranges, PartNumber=2",
              lambda mode=mode: run_mode(mode))

    def ssec_initiate_only():
        # Part uploads into SSE-S3 upload with SSE-C headers (§4.2 row 13) and SSE-C complete w/o headers.
        up = s3.create_multipart_upload(Bucket=b, Key="mp/s3x", ServerSideEncryption="AES256")["UploadId"]
        expect_error(lambda: s3.upload_part(Bucket=b, Key="mp/s3x", UploadId=up, PartNumber=1, Body=b"x", **ssec()),
                     "InvalidRequest", 400, "SSE-C part into SSE-S3 upload")
        s3.abort_multipart_upload(Bucket=b, Key="mp/s3x", UploadId=up)
    check("F UploadPart with SSE-C headers into an SSE-S3 upload -> 400", ssec_initiate_only)


# ---------------------------------------------------------------- G. copy

def copy_tests(s3):
    b = "sse-copy"
    s3.create_bucket(Bucket=b)
    data = body(200000, "copy-src")
    for m in MODES:
        s3.put_object(Bucket=b, Key=f"src/{m}", Body=data, **put_args(m))

    def matrix():
        bad = []
        for sm in MODES:
            for dm in MODES:
                dst = f"dst/{sm}-to-{dm}"
                try:
                    args = dict(put_args(dm, K2))
                    if sm == "sse-c":
                        args.update(ssec_copy(K1))
                    s3.copy_object(Bucket=b, Key=dst, CopySource={"Bucket": b, "Key": f"src/{sm}"}, **args)
                    h = s3.head_object(Bucket=b, Key=dst, **read_args(dm, K2))
                    assert_mode(h, dm, key_md5=K2_MD5)
                    assert h["ContentLength"] == len(data), h["ContentLength"]
                    g = s3.get_object(Bucket=b, Key=dst, **read_args(dm, K2))
                    assert_mode(g, dm, key_md5=K2_MD5)
                    assert g["Body"].read() == data, "bytes differ"
                    if dm == "sse-s3":
                        assert etag(g) == md5hex(data), f"SSE-S3 copy ETag {etag(g)} != MD5"
                    if dm == "plain":
                        assert etag(g) == md5hex(data), f"plain copy ETag {etag(g)} != MD5"
                except Exception as e:  # noqa: BLE001 - collect all 16 cells
                    bad.append(f"{sm}->{dm}: {type(e).__name__}: {e}")
        assert not bad, "; ".join(bad)
    check("G CopyObject matrix {plain,SSE-S3,SSE-KMS,SSE-C} x same", matrix)

    def copy_errors():
        expect_error(lambda: s3.copy_object(Bucket=b, Key="dst/err1", CopySource={"Bucket": b, "Key": "src/sse-c"}),
                     "InvalidArgument", 400, "SSE-C source without copy-source key")
        expect_error(lambda: s3.copy_object(Bucket=b, Key="dst/err1", CopySource={"Bucket": b, "Key": "src/sse-c"},
                                            **ssec_copy(K2)), "AccessDenied", 403, "SSE-C source with wrong key")
        expect_error(lambda: s3.copy_object(Bucket=b, Key="dst/err2", CopySource={"Bucket": b, "Key": "src/plain"},
                                            **ssec_copy(K1)), "InvalidRequest", 400, "copy-source key on plain source")
        code, st = error_code(lambda: s3.copy_object(Bucket=b, Key="dst/err3",
                                                     CopySource={"Bucket": b, "Key": "src/sse-s3"}, **ssec_copy(K1)))
        assert st == 400, f"copy-source key on SSE-S3 source: {code} {st} (§4.2 row 16: 400)"
        expect_error(lambda: s3.head_object(Bucket=b, Key="dst/err1"), "404", 404, "failed copy stored an object")
    check("G copy errors: SSE-C source w/o key 400 InvalidArgument, key on plain source 400 InvalidRequest",
          copy_errors)

    def upload_part_copy():
        src = body(6 * MIB, "upc")
        s3.put_object(Bucket=b, Key="upc/src", Body=src, **ssec(K1))
        k = "upc/dst"
        uid = s3.create_multipart_upload(Bucket=b, Key=k, ServerSideEncryption="AES256")["UploadId"]
        r1 = s3.upload_part_copy(Bucket=b, Key=k, UploadId=uid, PartNumber=1, CopySource={"Bucket": b, "Key": "upc/src"},
                                 CopySourceRange=f"bytes=1000-{1000 + 5 * MIB - 1}", **ssec_copy(K1))
        r2 = s3.upload_part_copy(Bucket=b, Key=k, UploadId=uid, PartNumber=2, CopySource={"Bucket": b, "Key": "upc/src"},
                                 CopySourceRange="bytes=10-70009", **ssec_copy(K1))
        e1, e2 = r1["CopyPartResult"]["ETag"], r2["CopyPartResult"]["ETag"]
        want = src[1000:1000 + 5 * MIB] + src[10:70010]
        assert e1.strip('"') == md5hex(src[1000:1000 + 5 * MIB]), f"UploadPartCopy ETag {e1} != part MD5"
        expect_error(lambda: s3.upload_part_copy(Bucket=b, Key=k, UploadId=uid, PartNumber=3,
                                                 CopySource={"Bucket": b, "Key": "upc/src"}),
                     "InvalidArgument", 400, "UploadPartCopy from SSE-C source without key")
        lp = s3.list_parts(Bucket=b, Key=k, UploadId=uid)["Parts"]
        assert [p["Size"] for p in lp] == [5 * MIB, 70000], [p["Size"] for p in lp]
        s3.complete_multipart_upload(Bucket=b, Key=k, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        g = s3.get_object(Bucket=b, Key=k)
        assert g.get("ServerSideEncryption") == "AES256" and g["Body"].read() == want
        g = s3.get_object(Bucket=b, Key=k, Range=f"bytes={5 * MIB - 5}-{5 * MIB + 5}")
        assert g["Body"].read() == want[5 * MIB - 5:5 * MIB + 6]
    check("G UploadPartCopy SSE-C source -> SSE-S3 upload with CopySourceRange", upload_part_copy)

    def rotation():
        data2 = body(150000, "rot")
        s3.put_object(Bucket=b, Key="rot", Body=data2, Metadata={"m": "v"}, **ssec(K1))
        s3.copy_object(Bucket=b, Key="rot", CopySource={"Bucket": b, "Key": "rot"}, **ssec_copy(K1), **ssec(K2))
        expect_error(lambda: s3.get_object(Bucket=b, Key="rot", **ssec(K1)), "AccessDenied", 403, "old key")
        g = s3.get_object(Bucket=b, Key="rot", **ssec(K2))
        assert_mode(g, "sse-c", key_md5=K2_MD5)
        assert g["Body"].read() == data2, "rotated object differs"
        assert g["Metadata"] == {"m": "v"}, f"metadata after rotation {g['Metadata']}"
        expect_error(lambda: s3.copy_object(Bucket=b, Key="rot", CopySource={"Bucket": b, "Key": "rot"},
                                            **ssec_copy(K1), **ssec(K2)), "AccessDenied", 403, "rotate with stale key")
    check("G SSE-C key rotation by self-copy: old key 403, new key reads original bytes", rotation)

    def self_copy_change_mode():
        data3 = body(1000, "selfcopy")
        s3.put_object(Bucket=b, Key="self", Body=data3)
        s3.copy_object(Bucket=b, Key="self", CopySource={"Bucket": b, "Key": "self"}, ServerSideEncryption="AES256")
        h = s3.head_object(Bucket=b, Key="self")
        assert h.get("ServerSideEncryption") == "AES256" and s3.get_object(Bucket=b, Key="self")["Body"].read() == data3
    check("G same-path CopyObject with encryption allowed without REPLACE (§3.5)", self_copy_change_mode)


# ---------------------------------------------------------------- H. bucket encryption

def bucket_encryption_tests(s3):
    b = "sse-bucket"
    s3.create_bucket(Bucket=b)

    def rule(alg, key=None):
        d = {"SSEAlgorithm": alg}
        if key is not None:
            d["KMSMasterKeyID"] = key
        return {"ApplyServerSideEncryptionByDefault": d}

    def aes256():
        expect_error(lambda: s3.get_bucket_encryption(Bucket=b), "ServerSideEncryptionConfigurationNotFoundError", 404)
        r = s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [rule("AES256")]})
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        got = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"]
        assert got[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", got
        data = body(70000, "bucket-default")
        r = s3.put_object(Bucket=b, Key="plain-put", Body=data)
        assert r.get("ServerSideEncryption") == "AES256", f"PUT response {r.get('ServerSideEncryption')!r}"
        h = s3.head_object(Bucket=b, Key="plain-put")
        assert h.get("ServerSideEncryption") == "AES256", h.get("ServerSideEncryption")
        assert s3.get_object(Bucket=b, Key="plain-put")["Body"].read() == data
        r = s3.put_object(Bucket=b, Key="ssec-put", Body=data, **ssec())
        assert_mode(r, "sse-c")
        assert_mode(s3.head_object(Bucket=b, Key="ssec-put", **ssec()), "sse-c")
        expect_error(lambda: s3.get_object(Bucket=b, Key="ssec-put"), "InvalidRequest", 400)
        up = s3.create_multipart_upload(Bucket=b, Key="mp-default")
        assert up.get("ServerSideEncryption") == "AES256", up.get("ServerSideEncryption")
        pe = s3.upload_part(Bucket=b, Key="mp-default", UploadId=up["UploadId"], PartNumber=1, Body=b"part")["ETag"]
        s3.complete_multipart_upload(Bucket=b, Key="mp-default", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": pe}]})
        assert s3.head_object(Bucket=b, Key="mp-default").get("ServerSideEncryption") == "AES256"
        s3.put_object(Bucket="sse-copy", Key="plain-for-bucket", Body=b"copy into default bucket")
        s3.copy_object(Bucket=b, Key="copied", CopySource={"Bucket": "sse-copy", "Key": "plain-for-bucket"})
        assert s3.head_object(Bucket=b, Key="copied").get("ServerSideEncryption") == "AES256", "copy dst not encrypted"
    check("H bucket encryption AES256: 404 before, Get returns it, PUT/multipart/copy become SSE-S3, SSE-C stays",
          aes256)

    def malformed():
        expect_error(lambda: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
            "Rules": [rule("aws:kms")]}), "MalformedXML", 400, "aws:kms without key")
        expect_error(lambda: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
            "Rules": [rule("AES256"), rule("AES256")]}), "MalformedXML", 400, "two rules")
        expect_error(lambda: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
            "Rules": [rule("AES256", DEFAULT_KEY)]}), "MalformedXML", 400, "AES256 with key")
        expect_error(lambda: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
            "Rules": [rule("AES192")]}), "MalformedXML", 400, "unknown algorithm")
        got = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"]
        assert got[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", "bad PUT replaced config"
    check("H PutBucketEncryption malformed -> 400 MalformedXML", malformed)

    def delete_twice():
        for i in (1, 2):
            r = s3.delete_bucket_encryption(Bucket=b)
            assert r["ResponseMetadata"]["HTTPStatusCode"] == 204, f"delete #{i}: {r['ResponseMetadata']['HTTPStatusCode']}"
        expect_error(lambda: s3.get_bucket_encryption(Bucket=b), "ServerSideEncryptionConfigurationNotFoundError", 404)
        r = s3.put_object(Bucket=b, Key="after-delete", Body=b"x")
        assert r.get("ServerSideEncryption") is None, "still encrypted after DeleteBucketEncryption"
    check("H DeleteBucketEncryption -> 204 twice; later PUTs plaintext", delete_twice)

    def kms_default():
        s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [rule("aws:kms", DEFAULT_KEY)]})
        got = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]
        d = got["ApplyServerSideEncryptionByDefault"]
        assert d["SSEAlgorithm"] == "aws:kms" and d.get("KMSMasterKeyID") == DEFAULT_KEY, got
        r = s3.put_object(Bucket=b, Key="kms-default", Body=b"kms by default")
        assert_mode(r, "sse-kms")
        h = s3.head_object(Bucket=b, Key="kms-default")
        assert_mode(h, "sse-kms")
        assert s3.get_object(Bucket=b, Key="kms-default")["Body"].read() == b"kms by default"
        r = s3.put_object(Bucket=b, Key="s3-explicit", Body=b"explicit", ServerSideEncryption="AES256")
        assert r.get("ServerSideEncryption") == "AES256", "explicit SSE-S3 overridden by bucket default"
        code, st = error_code(lambda: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
            "Rules": [rule("aws:kms", "no-such-key")]}))
        assert st >= 400, "bucket default with unknown KMS key accepted (§5.3: validated by GenerateKey)"
        s3.delete_bucket_encryption(Bucket=b)
    check("H bucket encryption aws:kms + coffer-default -> objects SSE-KMS with that key", kms_default)


# ---------------------------------------------------------------- J. tamper

def recovery_tests(s3, srv, root):
    """`coffer admin decrypt-object` reads objects straight from the data directory."""
    b = "sse-recover"
    s3.create_bucket(Bucket=b)
    data = body(3 * MIB + 17, "recover")

    def decrypt(key, *extra, env=None):
        return subprocess.run([BIN, "admin", "decrypt-object", srv.dir, b, key, *extra],
                              env=env or srv.env, capture_output=True, timeout=60)

    def kms_objects():
        s3.put_object(Bucket=b, Key="s3", Body=data, ServerSideEncryption="AES256")
        s3.put_object(Bucket=b, Key="kms", Body=data, ServerSideEncryption="aws:kms")
        s3.put_object(Bucket=b, Key="plain", Body=data)
        mp = s3.create_multipart_upload(Bucket=b, Key="mp", ServerSideEncryption="AES256")
        parts = []
        for n, chunk in enumerate((data[:5 * MIB], data[5 * MIB:]), 1):
            if not chunk:
                continue
            r = s3.upload_part(Bucket=b, Key="mp", UploadId=mp["UploadId"], PartNumber=n, Body=chunk)
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
        s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=mp["UploadId"],
                                     MultipartUpload={"Parts": parts})
        for key in ("s3", "kms", "plain", "mp"):
            r = decrypt(key)
            assert r.returncode == 0, f"{key}: {r.stderr.decode()}"
            assert r.stdout == data, f"{key}: recovered {len(r.stdout)} bytes, differ"
    check("recovery: decrypt-object of SSE-S3, SSE-KMS, multipart and plain objects", kms_objects)

    def customer_key():
        s3.put_object(Bucket=b, Key="c", Body=data, **ssec())
        keyfile = os.path.join(root, "recover-ssec.key")
        with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(K1)
        r = decrypt("c", "--sse-c-key-file", keyfile)
        assert r.returncode == 0 and r.stdout == data, r.stderr.decode()
        r = decrypt("c")
        assert r.returncode != 0 and not r.stdout, "an SSE-C object decrypted without its key"
        other = os.path.join(root, "recover-other.key")
        with open(os.open(other, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(b"\x01" * 32)
        r = decrypt("c", "--sse-c-key-file", other)
        assert r.returncode != 0 and not r.stdout, "wrong SSE-C key accepted"
        assert len(r.stderr.decode().strip().splitlines()) >= 1
    check("recovery: decrypt-object of SSE-C needs the right key file", customer_key)

    def wrong_kms():
        other_xdg = os.path.join(root, "recover-other-xdg")
        os.makedirs(other_xdg, exist_ok=True)
        env = dict(srv.env, XDG_CONFIG_HOME=other_xdg)
        r = decrypt("s3", env=env)
        assert r.returncode != 0 and not r.stdout, "decrypted with another KMS key"
        r = decrypt("missing")
        assert r.returncode != 0 and b"does not exist" in r.stderr, r.stderr
    check("recovery: decrypt-object fails cleanly with another KMS or a missing key", wrong_kms)


def tamper_tests(s3, srv):
    b = "sse-tamper"
    s3.create_bucket(Bucket=b)
    data = body(200 * 1024, "tamper")

    def flip(path, off):
        with open(path, "r+b") as f:
            f.seek(off)
            c = f.read(1)
            f.seek(off)
            f.write(bytes([c[0] ^ 0x01]))

    def middle():
        s3.put_object(Bucket=b, Key="mid", Body=data, ServerSideEncryption="AES256")
        files = data_files(srv.dir, b, "mid")
        assert len(files) == 1 and os.path.getsize(files[0]) == 3 * EPKG + (len(data) - 3 * PKG) + 32, \
            f"data files {files} sizes {[os.path.getsize(f) for f in files]}"
        flip(files[0], os.path.getsize(files[0]) // 2)
        res = read_fully(lambda: s3.get_object(Bucket=b, Key="mid"))
        assert not (res[0] == "body" and len(res[1]) == len(data)), "full-length body returned for tampered object"
        assert not (res[0] == "body" and res[1] == data), "original bytes returned"
        assert res[0] in ("error", "aborted"), f"tampered GET answered {res[0]} ({len(res[1])} bytes)"
        # a range inside an untouched package still reads
        g = s3.get_object(Bucket=b, Key="mid", Range="bytes=0-99")
        assert g["Body"].read() == data[:100]
    check("J flipped byte mid-object: GET errors or aborts, never a full body", middle)

    def first_package():
        s3.put_object(Bucket=b, Key="first", Body=data, ServerSideEncryption="AES256")
        flip(data_files(srv.dir, b, "first")[0], 20)
        res = read_fully(lambda: s3.get_object(Bucket=b, Key="first"))
        assert res[:3] == ("error", "XMinioObjectTampered", 500), f"got {res[:3] if res[0] == 'error' else res[0]}"
        res = read_fully(lambda: s3.get_object(Bucket=b, Key="first", Range="bytes=10-20"))
        assert res[0] == "error", f"range in tampered package answered {res[0]}"
    check("J flipped byte in first package: GET -> 500 XMinioObjectTampered", first_package)

    def swapped_records():
        for k in ("A", "B"):
            s3.put_object(Bucket=b, Key=k, Body=body(1000, k), ServerSideEncryption="AES256")
        s3.create_bucket(Bucket="sse-tamper2")
        s3.put_object(Bucket="sse-tamper2", Key="A", Body=b"placeholder", ServerSideEncryption="AES256")

        def transplant(sb, sk, db, dk):
            m = load_meta(srv.dir, sb, sk)
            m["key"] = dk
            ddir = os.path.dirname(meta_path(srv.dir, db, dk))
            for f in data_files(srv.dir, sb, sk):
                shutil.copyfile(f, os.path.join(ddir, os.path.basename(f)))
            with open(meta_path(srv.dir, db, dk), "w") as f:
                json.dump(m, f)
        transplant(b, "A", b, "B")
        res = read_fully(lambda: s3.get_object(Bucket=b, Key="B"))
        assert res[0] != "body", f"A's record under key B decrypted ({res[1][:16]!r}...)"
        transplant(b, "A", "sse-tamper2", "A")
        res = read_fully(lambda: s3.get_object(Bucket="sse-tamper2", Key="A"))
        assert res[0] != "body", "A's record in another bucket decrypted"
        assert s3.get_object(Bucket=b, Key="A")["Body"].read() == body(1000, "A"), "original damaged"
    check("J .meta + data of one SSE-S3 object copied over another key / bucket: GET fails", swapped_records)

    def swapped_ssec():
        s3.put_object(Bucket=b, Key="CA", Body=body(1000, "CA"), **ssec())
        s3.put_object(Bucket=b, Key="CB", Body=body(1000, "CB"), **ssec())
        m = load_meta(srv.dir, b, "CA")
        m["key"] = "CB"
        ddir = os.path.dirname(meta_path(srv.dir, b, "CB"))
        for f in data_files(srv.dir, b, "CA"):
            shutil.copyfile(f, os.path.join(ddir, os.path.basename(f)))
        with open(meta_path(srv.dir, b, "CB"), "w") as f:
            json.dump(m, f)
        res = read_fully(lambda: s3.get_object(Bucket=b, Key="CB", **ssec()))
        assert res[0] == "error" and res[2] == 403, f"SSE-C record moved to another key: {res[:3]}"
    check("J SSE-C record moved to another key -> 403 (§12 check 27)", swapped_ssec)


# ---------------------------------------------------------------- B. no plaintext on disk

def plaintext_on_disk_tests(root, cert):
    auto = Server(root, "auto", cert=cert, env={"MINIO_KMS_AUTO_ENCRYPTION": "on"})
    control = None
    try:
        s3 = auto.client()
        b = "marker"
        s3.create_bucket(Bucket=b)

        def auto_encryption():
            r = s3.put_object(Bucket=b, Key="auto", Body=MARKER)
            assert r.get("ServerSideEncryption") == "AES256", f"auto-encryption PUT: {r.get('ServerSideEncryption')!r}"
            h = s3.head_object(Bucket=b, Key="auto")
            assert h.get("ServerSideEncryption") == "AES256", f"HEAD {h.get('ServerSideEncryption')!r}"
            assert etag(h) == md5hex(MARKER)
            assert s3.get_object(Bucket=b, Key="auto")["Body"].read() == MARKER
            r = s3.put_object(Bucket=b, Key="auto-ssec", Body=MARKER, **ssec())
            assert_mode(r, "sse-c")
            assert s3.get_object(Bucket=b, Key="auto-ssec", **ssec())["Body"].read() == MARKER
            r = s3.put_object(Bucket=b, Key="auto-kms", Body=MARKER, ServerSideEncryption="aws:kms")
            assert_mode(r, "sse-kms")
        check("B auto-encryption: PUT without SSE headers -> AES256 (guide); SSE-C/KMS bypass", auto_encryption)

        def scan():
            s3.put_object(Bucket=b, Key="s3", Body=MARKER, ServerSideEncryption="AES256")
            s3.put_object(Bucket=b, Key="kms", Body=MARKER, ServerSideEncryption="aws:kms", SSEKMSKeyId=DEFAULT_KEY)
            s3.put_object(Bucket=b, Key="c", Body=MARKER, **ssec())
            # in-progress multipart uploads: parts must be encrypted at rest as well
            for k, args, pargs in (("mp-auto", {}, {}), ("mp-c", ssec(), ssec()),
                                   ("mp-s3", {"ServerSideEncryption": "AES256"}, {})):
                uid = s3.create_multipart_upload(Bucket=b, Key=k, **args)["UploadId"]
                s3.upload_part(Bucket=b, Key=k, UploadId=uid, PartNumber=1, Body=MARKER + MARKER[:5 * MIB - MIB],
                               **pargs)
            s3.copy_object(Bucket=b, Key="copied", CopySource={"Bucket": b, "Key": "c"}, **ssec_copy())
            hits = scan_for(auto.dir, PHRASE)
            assert not hits, f"plaintext marker found on disk in {hits}"
            hits = scan_for(auto.xdg, PHRASE)
            assert not hits, f"plaintext marker in config dir {hits}"
        check("B no plaintext on disk (auto, SSE-S3, SSE-KMS, SSE-C, parts, copy)", scan)

        def scan_works():
            nonlocal control
            control = Server(root, "control")
            c = control.client()
            c.create_bucket(Bucket=b)
            r = c.put_object(Bucket=b, Key="plain", Body=MARKER)
            assert r.get("ServerSideEncryption") is None
            hits = scan_for(control.dir, PHRASE)
            assert hits, "scan did not find the plaintext of an unencrypted object"
        check("B control: unencrypted object on a server without auto-encryption is found by the scan", scan_works)

        def on_disk_kms_format():
            m = load_meta(auto.dir, b, "s3")
            enc = m.get("encryption") or {}
            assert enc.get("kind") == "SSE-S3" and enc.get("kms_key") == DEFAULT_KEY, enc
            assert len(base64.b64decode(enc["iv"])) == 32 and len(base64.b64decode(enc["sealed_key"])) == 64
            assert enc["sealed_key"].startswith(("IAAfA", "IAEfA")), enc["sealed_key"][:8]
            keyfile = os.path.join(auto.xdg, "coffer", "dev-kms.key")
            assert os.path.exists(keyfile), "dev KMS key not in $XDG_CONFIG_HOME/coffer/dev-kms.key"
            assert os.stat(keyfile).st_mode & 0o077 == 0, f"dev key mode {oct(os.stat(keyfile).st_mode)}"
        check("B dev KMS key file in $XDG_CONFIG_HOME/coffer (mode 0600), SSE-S3 record shape", on_disk_kms_format)

        def restart():
            auto.stop()
            again = Server(root, "auto-again", cert=cert, data_dir=auto.dir, xdg=auto.xdg)
            try:
                c = again.client()
                # A fresh server has opened no sealed SSE-S3 ETag yet: listing, HEAD and
                # conditional requests must still show and compare the plaintext MD5.
                md5 = md5hex(MARKER)
                listed = {o["Key"]: o["ETag"].strip('"') for o in c.list_objects_v2(Bucket=b)["Contents"]}
                assert listed["auto"] == md5 and listed["s3"] == md5, listed
                c.put_object(Bucket=b, Key="cond", Body=MARKER, ServerSideEncryption="AES256")
                again.stop()
                again = Server(root, "auto-again2", cert=cert, data_dir=auto.dir, xdg=auto.xdg)
                c = again.client()
                expect_error(lambda: c.put_object(Bucket=b, Key="cond", Body=b"x", IfMatch='"' + "0" * 32 + '"'),
                             "PreconditionFailed", 412)
                c.put_object(Bucket=b, Key="cond", Body=MARKER, IfMatch=f'"{md5}"', ServerSideEncryption="AES256")
                assert etag(c.head_object(Bucket=b, Key="cond", IfMatch=f'"{md5}"')) == md5
                assert c.get_object(Bucket=b, Key="auto", IfMatch=f'"{md5}"')["Body"].read() == MARKER
                expect_error(lambda: c.get_object(Bucket=b, Key="auto", IfNoneMatch=f'"{md5}"'), "304", 304)
                c.copy_object(Bucket=b, Key="cond-copy", CopySource={"Bucket": b, "Key": "auto"},
                              CopySourceIfMatch=f'"{md5}"')
                c.delete_object(Bucket=b, Key="cond-copy", IfMatch=f'"{md5}"')
                assert c.get_object(Bucket=b, Key="kms")["Body"].read() == MARKER
            finally:
                again.stop()
            other = Server(root, "auto-otherkey", cert=cert, data_dir=auto.dir)
            try:
                c = other.client()
                res = read_fully(lambda: c.get_object(Bucket=b, Key="s3"))
                assert res[0] == "error", f"SSE-S3 object read with another dev key: {res[0]}"
                assert c.get_object(Bucket=b, Key="c", **ssec())["Body"].read() == MARKER, "SSE-C needs no KMS"
            finally:
                other.stop()
        check("B restart with same dev key reads back; a different dev key fails with an error", restart)
    finally:
        auto.stop()
        if control:
            control.stop()


# ---------------------------------------------------------------- I. no KMS

def no_kms_tests(root, cert):
    def no_kms():
        srv = Server(root, "nokms", cert=cert, args=("--no-dev-kms",))
        try:
            s3 = srv.client()
            s3.create_bucket(Bucket="nnn")
            expect_error(lambda: s3.put_object(Bucket="nnn", Key="o", Body=b"x", ServerSideEncryption="AES256"),
                         "NotImplemented", 501, "SSE-S3 PUT")
            expect_error(lambda: s3.put_object(Bucket="nnn", Key="o", Body=b"x", ServerSideEncryption="aws:kms"),
                         "NotImplemented", 501, "SSE-KMS PUT")
            expect_error(lambda: s3.create_multipart_upload(Bucket="nnn", Key="o", ServerSideEncryption="AES256"),
                         "NotImplemented", 501, "SSE-S3 initiate")
            expect_error(lambda: s3.put_bucket_encryption(Bucket="nnn", ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}), "NotImplemented", 501,
                         "PutBucketEncryption")
            expect_error(lambda: s3.head_object(Bucket="nnn", Key="o"), "404", 404, "refused PUT stored an object")
            data = body(70000, "nokms")
            r = s3.put_object(Bucket="nnn", Key="c", Body=data, **ssec())
            assert_mode(r, "sse-c")
            assert s3.get_object(Bucket="nnn", Key="c", **ssec())["Body"].read() == data
            assert s3.put_object(Bucket="nnn", Key="p", Body=b"plain").get("ServerSideEncryption") is None
            assert not os.path.exists(os.path.join(srv.xdg, "coffer", "dev-kms.key")), "dev key written anyway"
            for method, path in (("POST", "/minio/admin/v3/kms/status"), ("GET", "/minio/kms/v1/status"),
                                 ("GET", "/minio/admin/v3/kms/key/status")):
                st, js = signed(srv, method, path)
                assert st == 501, f"{method} {path} without KMS: {st} {js}"
        finally:
            srv.stop()
    check("I --no-dev-kms: SSE-S3/KMS PUT, initiate and PutBucketEncryption 501 NotImplemented; SSE-C works", no_kms)

    def env_var():
        srv = Server(root, "nokms-env", cert=cert, env={"COFFER_NO_DEV_KMS": "1"})
        try:
            s3 = srv.client()
            s3.create_bucket(Bucket="nnn")
            expect_error(lambda: s3.put_object(Bucket="nnn", Key="o", Body=b"x", ServerSideEncryption="AES256"),
                         "NotImplemented", 501, "COFFER_NO_DEV_KMS=1 SSE-S3 PUT")
        finally:
            srv.stop()
    check("I COFFER_NO_DEV_KMS=1 disables the development KMS", env_var)

    def auto_without_kms():
        xdg = os.path.join(root, "autonokms-xdg")
        os.makedirs(xdg, exist_ok=True)
        env = clean_env(XDG_CONFIG_HOME=xdg, MINIO_ROOT_USER=USER, MINIO_ROOT_PASSWORD=PASSWORD,
                        COFFER_NO_DEV_KMS="1", MINIO_KMS_AUTO_ENCRYPTION="on")
        p = subprocess.Popen([BIN, "server", os.path.join(root, "autonokms"), "--address",
                              f"127.0.0.1:{free_port()}", "--quiet"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        PROCS.append(p)
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
            raise AssertionError("server started with MINIO_KMS_AUTO_ENCRYPTION=on and no KMS (§5.4/§7.3: refuse)")
        assert p.returncode != 0, "exited 0"
        assert err.strip(), "no error message"
    check("I MINIO_KMS_AUTO_ENCRYPTION=on without KMS refuses to start", auto_without_kms)


# ---------------------------------------------------------------- MINIO_KMS_SECRET_KEY

def secret_key_tests(root, cert):
    master = hashlib.sha256(b"coffer-sse-suite-master").digest()

    def secret_key():
        srv = Server(root, "secret", cert=cert,
                     env={"MINIO_KMS_SECRET_KEY": "my-key:" + base64.b64encode(master).decode()})
        try:
            s3 = srv.client()
            s3.create_bucket(Bucket="skb")
            data = body(100000, "secret")
            r = s3.put_object(Bucket="skb", Key="dir/obj", Body=data, ServerSideEncryption="AES256")
            assert r.get("ServerSideEncryption") == "AES256"
            r = s3.put_object(Bucket="skb", Key="kms", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId="my-key")
            assert_mode(r, "sse-kms", kms_key="my-key")
            r = s3.put_object(Bucket="skb", Key="kmsdef", Body=data, ServerSideEncryption="aws:kms")
            assert_mode(r, "sse-kms", kms_key="my-key")
            expect_error(lambda: s3.put_object(Bucket="skb", Key="x", Body=b"x", ServerSideEncryption="aws:kms",
                                               SSEKMSKeyId=DEFAULT_KEY), "kms:KeyNotFound", 404, "coffer-default")
            assert not os.path.exists(os.path.join(srv.xdg, "coffer", "dev-kms.key")), "dev key written with a KMS"
            # independent decryption of the record (sse.md §7.1 builtin KMS, §3.1, §2)
            m = load_meta(srv.dir, "skb", "dir/obj")
            enc = m["encryption"]
            assert enc["kind"] == "SSE-S3" and enc["kms_key"] == "my-key", enc
            ctx = json.dumps({"skb": "skb/dir/obj"}, separators=(",", ":")).encode()
            dek = builtin_kms_decrypt(master, base64.b64decode(enc["kms_sealed_key"]), ctx)
            assert plaintext_from_disk(srv.dir, "skb", "dir/obj", dek) == data, "independent decryption differs"
            m = load_meta(srv.dir, "skb", "kms")
            enc = m["encryption"]
            assert enc["kind"] == "SSE-KMS", enc
            dek = builtin_kms_decrypt(master, base64.b64decode(enc["kms_sealed_key"]), b'{"skb":"skb/kms"}')
            assert plaintext_from_disk(srv.dir, "skb", "kms", dek) == data
            st, js = signed(srv, "POST", "/minio/admin/v3/kms/status")
            assert st == 200 and js.get("name") == "MinIO builtin" and js.get("default-key-id") == "my-key" \
                and js.get("endpoints") == {"127.0.0.1": "online"}, f"kms/status: {st} {js}"
            st, js = signed(srv, "GET", "/minio/admin/v3/kms/key/status")
            assert st == 200 and js == {"key-id": "my-key"}, f"kms/key/status: {st} {js}"
            st, js = signed(srv, "POST", "/minio/admin/v3/kms/key/create?key-id=other")
            assert st == 500 and "InternalError" in str(js), f"kms/key/create on builtin KMS: {st} {js}"
            st, js = signed(srv, "GET", "/minio/kms/v1/key/list?pattern=%2A")
            assert st == 200 and "my-key" in json.dumps(js), f"kms/v1/key/list: {st} {js}"
        finally:
            srv.stop()
    check("MINIO_KMS_SECRET_KEY builtin KMS: key name, 404 for others, records decrypt independently (§7.1)",
          secret_key)


# ---------------------------------------------------------------- K. KES + guide quick start

def kes_tests(root):
    kroot, tls, (admin_key, admin_cert), (minio_key, minio_cert) = kes_setup(root, "kes")
    kes_cert, keys_dir = tls[0], tls[4]
    kes1 = Kes(kroot, "kes1", *tls)
    kes2 = Kes(kroot, "kes2", *tls)
    s3_cert, _ = make_cert(os.path.join(kroot, "s3certs"))
    srv = Server(kroot, "kes-s3", cert=s3_cert, creds={"MINIO_ACCESS_KEY": "minio", "MINIO_SECRET_KEY": "minio123"},
                 env={"MINIO_KMS_KES_ENDPOINT": f"https://{kes1.addr},https://{kes2.addr}",
                      "MINIO_KMS_KES_KEY_FILE": minio_key, "MINIO_KMS_KES_CERT_FILE": minio_cert,
                      "MINIO_KMS_KES_KEY_NAME": "my-minio-key", "MINIO_KMS_KES_CAPATH": kes_cert,
                      "MINIO_KMS_AUTO_ENCRYPTION": "on"})
    s3 = srv.client("minio", "minio123")
    s3.create_bucket(Bucket="bucket")
    metrics = lambda k: k.metrics(kes_cert, admin_cert, admin_key)  # noqa: E731

    def guide():
        f = os.path.join(kroot, "test.file")
        with open(f, "wb") as fh:
            fh.write(b"hello")
        aws = shutil.which("aws", path="/opt/coffer-test-venv/cli-bin:" + os.environ.get("PATH", ""))
        assert aws, "aws-cli not found"
        env = clean_env(AWS_ACCESS_KEY_ID="minio", AWS_SECRET_ACCESS_KEY="minio123", AWS_DEFAULT_REGION="us-east-1",
                        AWS_CONFIG_FILE=os.path.join(kroot, "none"), AWS_SHARED_CREDENTIALS_FILE=os.path.join(kroot, "none"))
        base = [aws, "--endpoint-url", srv.url, "--ca-bundle", s3_cert]
        r = subprocess.run(base + ["s3", "cp", f, "s3://bucket/test.file"], env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, f"aws s3 cp: {r.stderr}"
        r = subprocess.run(base + ["s3api", "head-object", "--bucket", "bucket", "--key", "test.file"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"aws s3api head-object: {r.stderr}"
        h = json.loads(r.stdout)
        assert h.get("ServerSideEncryption") == "AES256", f"head-object: {h}"
        assert h.get("ContentLength") == 5
        r = subprocess.run(base + ["s3", "cp", "s3://bucket/test.file", "-"], env=env, capture_output=True,
                           timeout=60)
        assert r.returncode == 0 and r.stdout == b"hello", r.stderr
        assert os.path.exists(os.path.join(keys_dir, "my-minio-key")), f"keystore holds {os.listdir(keys_dir)}"
        assert not scan_for(srv.dir, b"hello"), "plaintext on disk"
        assert not os.path.exists(os.path.join(srv.xdg, "coffer", "dev-kms.key")), "dev key written with KES configured"
    check("K guide quick start with two KES servers: aws s3 cp -> AES256, my-minio-key created", guide)

    def kms_calls():
        before = [metrics(kes1), metrics(kes2)]
        n = 5
        for i in range(n):
            s3.put_object(Bucket="bucket", Key=f"count/{i}", Body=b"x" * 100)
        mid = [metrics(kes1), metrics(kes2)]
        for i in range(n):
            s3.get_object(Bucket="bucket", Key=f"count/{i}")["Body"].read()
        after = [metrics(kes1), metrics(kes2)]
        tot = lambda ms, k="success": sum(m[k] for m in ms)  # noqa: E731
        puts = tot(mid) - tot(before) - 2
        gets = tot(after) - tot(mid) - 2
        errs = tot(after, "error") + tot(after, "failure") - tot(before, "error") - tot(before, "failure")
        assert errs == 0, f"key servers answered {errs} errors during PUT/GET (policy too narrow or bad requests?)"
        assert n <= puts <= 2 * n + 2, f"{n} SSE-S3 PUTs made {puts} KMS calls (want ~1 GenerateKey each)"
        assert n <= gets <= 2 * n + 2, f"{n} GETs made {gets} KMS calls (want ~1 Decrypt each)"
    check("K KMS calls per object (KES metrics): ~1 per PUT, ~1 per GET, no errors", kms_calls)

    def admin_api():
        st, js = signed(srv, "POST", "/minio/admin/v3/kms/status", "minio", "minio123")
        assert st == 200 and js.get("default-key-id") == "my-minio-key", f"kms/status: {st} {js}"
        eps = js.get("endpoints") or {}
        assert len(eps) == 2 and all(v == "online" for v in eps.values()), f"endpoints {eps}"
        st, js = signed(srv, "GET", "/minio/admin/v3/kms/key/status", "minio", "minio123")
        assert st == 200 and js == {"key-id": "my-minio-key"}, f"kms/key/status: {st} {js}"
        st, js = signed(srv, "POST", "/minio/admin/v3/kms/key/create?key-id=tenant-1", "minio", "minio123")
        assert st == 200, f"kms/key/create via KES: {st} {js}"
        assert os.path.exists(os.path.join(keys_dir, "tenant-1")), "created key not in keystore"
        r = s3.put_object(Bucket="bucket", Key="tenant", Body=b"t", ServerSideEncryption="aws:kms",
                          SSEKMSKeyId="tenant-1")
        assert_mode(r, "sse-kms", kms_key="tenant-1")
        assert s3.get_object(Bucket="bucket", Key="tenant")["Body"].read() == b"t"
        expect_error(lambda: s3.put_object(Bucket="bucket", Key="x", Body=b"x", ServerSideEncryption="aws:kms",
                                           SSEKMSKeyId="missing-key"), "kms:KeyNotFound", 404, "unknown KES key")
    check("K KMS admin API via KES: status (2 endpoints online), key status, key create; SSE-KMS with new key",
          admin_api)

    def failover():
        kes1.proc.send_signal(signal.SIGKILL)
        kes1.proc.wait(10)
        bad = []
        t0 = time.time()
        for i in range(20):
            data = body(1000 + i, ("fo", i))
            try:
                r = s3.put_object(Bucket="bucket", Key=f"fo/{i}", Body=data)
                assert r.get("ServerSideEncryption") == "AES256", r.get("ServerSideEncryption")
                assert s3.get_object(Bucket="bucket", Key=f"fo/{i}")["Body"].read() == data, "differs"
            except Exception as e:  # noqa: BLE001 - count all
                bad.append(f"{i}: {type(e).__name__}: {e}")
        assert not bad, f"{len(bad)}/20 round trips failed after killing kes1: {bad[:3]}"
        assert s3.get_object(Bucket="bucket", Key="test.file")["Body"].read() == b"hello"
        assert time.time() - t0 < 60, f"failover round trips took {time.time() - t0:.0f}s"
    check("K kill one KES (SIGKILL): 20 PUT+GET round trips succeed via the other", failover)
    srv.stop()
    kes2.proc.send_signal(signal.SIGKILL)
    kes2.proc.wait(10)


if __name__ == "__main__":
    main()
