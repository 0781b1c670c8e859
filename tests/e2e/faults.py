#!/usr/bin/env python3
"""Fault suite: the object server and key server under crashes, KMS outages, a full or
read-only disk, files vanishing underneath, and tampering. Each class reports cases tried,
objects lost and wrong bytes returned; the summary table is what docs/RELIABILITY.md shows.

Usage: COFFER_BIN=target/debug/coffer python3 tests/e2e/faults.py [--long] [--only CLASS,...]
The quick run (CI) does 6 crash cycles of the object server, 4 during lifecycle expiry
and 4 of the key server; --long does 100, 20 and 30. Disk classes need root (a tmpfs is mounted for them) and are
reported as skipped otherwise. Everything listens on 127.0.0.1; every process started is
killed by PID; mounts are undone.
Prints `N passed, M failed` last; exits non-zero if anything failed.
"""
import base64
import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3_sse as h  # noqa: E402 - shared helpers: Server, Kes, certificates, check()

import botocore  # noqa: E402

LONG = "--long" in sys.argv
MASTER = hashlib.sha256(b"coffer-fault-suite").digest()
KMS_ENV = {"MINIO_KMS_SECRET_KEY": "fkey:" + base64.b64encode(MASTER).decode()}
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": h.K1}
ROWS = []  # (class, cases, lost, wrong bytes, note)


def body_for(key):
    """Every object's bytes follow from its name, so anything visible can be checked."""
    n = int(hashlib.sha256(key.encode()).hexdigest()[:6], 16) % 300_000 + 1
    return h.body(n, key)


def read(s3, bucket, key, **kw):
    """("body", bytes) or ("error", code)."""
    try:
        return "body", s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()
    except botocore.exceptions.ClientError as e:
        return "error", e.response["Error"]["Code"]
    except (botocore.exceptions.BotoCoreError, ConnectionError) as e:  # aborted body
        return "error", type(e).__name__


# ---------------------------------------------------------------- crash: object server

def list_keys(s3, bucket):
    """Every key of `bucket`, page by page."""
    keys, token = [], None
    while True:
        page = s3.list_objects_v2(Bucket=bucket, **({"ContinuationToken": token} if token else {}))
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]


def crash_object_server(root, cert):
    cycles = 100 if LONG else 6
    data_dir = os.path.join(root, "crash-data")
    acked = {}  # (bucket, key) -> "put" | "deleted"
    acked_buckets = {}  # bucket -> "created" | "deleted"
    aborted = set()  # upload ids acknowledged as aborted
    lock = threading.Lock()
    stats = {"cases": 0, "lost": 0, "wrong": 0, "checked": 0}
    rng = random.Random(1234)
    # Keys whose state changed since the last check. Each cycle checks those and a sample
    # of the others (re-reading every multipart object each cycle would make the long run
    # quadratic); the final check reads everything.
    dirty = set()

    def ack(item, state):
        with lock:
            acked[item] = state
            dirty.add(item)

    def worker(s3, t, cycle, stop):
        n = 0
        while not stop.is_set():
            n += 1
            key = f"c{cycle}-t{t}-n{n}"
            op = n % 7
            try:
                if op in (0, 1, 2):
                    extra = {"ServerSideEncryption": "AES256"} if n % 2 else {}
                    s3.put_object(Bucket="crash", Key=key, Body=body_for(key), **extra)
                    ack(("crash", key), "put")
                elif op == 3:
                    data = body_for(key + "-mp")
                    data = (data * (6 * 1024 * 1024 // len(data) + 2))[: 5 * 1024 * 1024 + 1000]
                    mkey = key + "-mp"
                    up = s3.create_multipart_upload(Bucket="crash", Key=mkey)["UploadId"]
                    p1 = s3.upload_part(Bucket="crash", Key=mkey, UploadId=up, PartNumber=1,
                                        Body=data[:5 * 1024 * 1024])["ETag"]
                    p2 = s3.upload_part(Bucket="crash", Key=mkey, UploadId=up, PartNumber=2,
                                        Body=data[5 * 1024 * 1024:])["ETag"]
                    if n % 2:
                        s3.abort_multipart_upload(Bucket="crash", Key=mkey, UploadId=up)
                        with lock:
                            aborted.add(up)
                    else:
                        s3.complete_multipart_upload(Bucket="crash", Key=mkey, UploadId=up, MultipartUpload={
                            "Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]})
                        ack(("crash", mkey), ("mp", data))
                elif op == 4:
                    # Every other copy has a multipart-sized (5 MiB) source.
                    with lock:
                        done = [(k, v) for (b, k), v in acked.items() if k.startswith(f"c{cycle}-t{t}-")
                                and (v == "put" if n % 2 else isinstance(v, tuple) and v[0] == "mp")]
                    if done:
                        src, state = done[-1]
                        s3.copy_object(Bucket="crash", Key=src + "-copy", CopySource={"Bucket": "crash", "Key": src})
                        ack(("crash", src + "-copy"), ("copy", src) if state == "put" else state)
                elif op == 5:
                    with lock:
                        done = [k for (b, k), v in acked.items() if v == "put" and k.startswith(f"c{cycle}-t{t}-")]
                    if done:
                        victim = done[0]
                        # Sent: it may be gone even if the answer never arrives.
                        ack(("crash", victim), "deleting")
                        s3.delete_object(Bucket="crash", Key=victim)
                        ack(("crash", victim), "deleted")
                else:
                    b = f"crash-b{cycle}-{t}-{n}"
                    s3.create_bucket(Bucket=b)
                    with lock:
                        acked_buckets[b] = "created"
                    if n % 2:
                        with lock:
                            acked_buckets[b] = "deleting"
                        s3.delete_bucket(Bucket=b)
                        with lock:
                            acked_buckets[b] = "deleted"
            except Exception:  # noqa: BLE001 - the server dies under us
                return

    def verify(s3, full):
        with lock:
            items = dict(acked)
            buckets = dict(acked_buckets)
            gone_uploads = set(aborted)
            changed = set(dirty)
            dirty.clear()
        if full:
            todo = items
        else:
            old = sorted(set(items) - changed)
            todo = {i: items[i] for i in changed | set(rng.sample(old, min(40, len(old))))}
        stats["checked"] += len(todo)
        lost, wrong = [], []
        for (b, k), state in todo.items():
            res = read(s3, b, k)
            if state == "deleted":
                if res[0] == "body":
                    lost.append(f"{k} deleted but readable")
                continue
            if state == "deleting":
                if res[0] == "body" and res[1] != body_for(k):
                    wrong.append(k)
                continue
            if isinstance(state, tuple) and state[0] == "mp":
                want = state[1]
            elif isinstance(state, tuple) and state[0] == "copy":
                want = body_for(state[1])
            else:
                want = body_for(k)
            if res[0] != "body":
                lost.append(f"{k}: {res[1]}")
            elif res[1] != want:
                wrong.append(k)
        # Anything visible, acknowledged or not, must hold the bytes some request sent.
        listed = list_keys(s3, "crash")
        for k in listed:
            if ("crash", k) in items:
                continue
            res = read(s3, "crash", k)
            if res[0] != "body":
                wrong.append(f"{k} listed but unreadable ({res[1]})")
                continue
            if k.endswith("-mp") or k.endswith("-mp-copy"):
                d = body_for(k.removesuffix("-copy"))
                ok = res[1] == (d * (6 * 1024 * 1024 // len(d) + 2))[: 5 * 1024 * 1024 + 1000]
            elif k.endswith("-copy"):
                ok = res[1] == body_for(k[:-5])
            else:
                ok = res[1] == body_for(k)
            if not ok:
                wrong.append(f"{k}: unacknowledged object with other bytes")
        names = {x["Name"] for x in s3.list_buckets()["Buckets"]}
        for b, state in buckets.items():
            if state != "deleting" and (state == "created") != (b in names):
                lost.append(f"bucket {b} {state} but {'absent' if b not in names else 'present'}")
        ups = {u["UploadId"] for u in s3.list_multipart_uploads(Bucket="crash").get("Uploads", [])}
        for up in gone_uploads & ups:
            lost.append(f"aborted upload {up} still listed")
        tmp = os.path.join(data_dir, ".coffer.sys", "tmp")
        left = os.listdir(tmp) if os.path.isdir(tmp) else []
        return lost, wrong, left

    def run():
        for cycle in range(cycles):
            srv = h.Server(root, f"crash{cycle % 2}", cert=cert, env=KMS_ENV, data_dir=data_dir)
            s3 = srv.client()
            if cycle == 0:
                s3.create_bucket(Bucket="crash")
            else:
                lost, wrong, left = verify(s3, full=False)
                stats["lost"], stats["wrong"] = len(lost), len(wrong)
                assert not lost, f"cycle {cycle}: {len(lost)} lost: {lost[:3]}"
                assert not wrong, f"cycle {cycle}: {len(wrong)} wrong: {wrong[:3]}"
                assert not left, f"cycle {cycle}: temporary files left after start-up: {left[:3]}"
            stop = threading.Event()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(worker, s3, t, cycle, stop) for t in range(8)]
                time.sleep(rng.uniform(0.4, 1.6))
                srv.stop()  # SIGKILL
                stop.set()
                for f in futures:
                    f.result()
        srv = h.Server(root, "crash-final", cert=cert, env=KMS_ENV, data_dir=data_dir)
        try:
            lost, wrong, left = verify(srv.client(), full=True)
            stats["cases"] = len(acked) + len(acked_buckets) + len(aborted)
            stats["lost"], stats["wrong"] = len(lost), len(wrong)
            assert stats["cases"] > 20 * cycles ** 0.5, f"only {stats['cases']} acknowledged operations"
            assert not lost, f"{len(lost)} lost: {lost[:3]}"
            assert not wrong, f"{len(wrong)} wrong: {wrong[:3]}"
            assert not left, f"temporary files left: {left[:3]}"
        finally:
            srv.stop()
    h.check(f"crash: SIGKILL x{cycles} during PUT/multipart/abort/copy/delete/bucket ops; every acknowledged "
            "write intact, nothing half-written visible, no staging files left", run)
    ROWS.append(("object server SIGKILL (PUT, SSE-S3 PUT, multipart upload/complete/abort, copy, delete, "
                 f"bucket create/delete), {cycles} cycles", stats["cases"], stats["lost"], stats["wrong"],
                 f"{stats['checked']} reads checked"))


# ---------------------------------------------------------------- crash: lifecycle expiry

def crash_lifecycle(root, cert):
    """SIGKILL while the lifecycle scanner expires objects (a one-second lifecycle day),
    with new expiring objects written all along: objects outside the rule stay intact,
    every visible object holds its bytes, no staging file is left, and after the last
    restart the scanner finishes the work."""
    cycles = 20 if LONG else 4
    data_dir = os.path.join(root, "lc-crash-data")
    stats = {"cases": 0, "lost": 0, "wrong": 0}
    rng = random.Random(99)

    def start(cycle):
        return h.Server(root, f"lcc{cycle % 2}", cert=cert, env=KMS_ENV, data_dir=data_dir,
                        args=["--lifecycle-day-seconds", "1"])

    def put_batch(s3, prefix, n):
        for i in range(n):
            key = f"{prefix}{i}"
            extra = {"ServerSideEncryption": "AES256"} if i % 2 else {}
            s3.put_object(Bucket="lcc", Key=key, Body=body_for(key), **extra)
        stats["cases"] += n

    def check(s3):
        lost, wrong = [], []
        listed = list_keys(s3, "lcc")
        for i in range(60):
            res = read(s3, "lcc", f"keep/{i}")
            if res[0] != "body":
                lost.append(f"keep/{i}: {res[1]}")
            elif res[1] != body_for(f"keep/{i}"):
                wrong.append(f"keep/{i}")
        for k in listed:
            if k.startswith("exp/"):
                res = read(s3, "lcc", k)
                # Expired between the listing and the read is fine; other bytes never.
                if res[0] == "body" and res[1] != body_for(k):
                    wrong.append(k)
        tmp = os.path.join(data_dir, ".coffer.sys", "tmp")
        left = os.listdir(tmp) if os.path.isdir(tmp) else []
        return listed, lost, wrong, left

    def run():
        srv = start(0)
        s3 = srv.client()
        s3.create_bucket(Bucket="lcc")
        put_batch(s3, "keep/", 60)
        s3.put_bucket_lifecycle_configuration(Bucket="lcc", LifecycleConfiguration={"Rules": [
            {"ID": "exp", "Filter": {"Prefix": "exp/"}, "Status": "Enabled", "Expiration": {"Days": 1}}]})
        for cycle in range(cycles):
            if cycle:
                srv = start(cycle)
                s3 = srv.client()
                _, lost, wrong, left = check(s3)
                stats["lost"], stats["wrong"] = len(lost), len(wrong)
                assert not lost and not wrong, f"cycle {cycle}: lost {lost[:3]} wrong {wrong[:3]}"
                assert not left, f"cycle {cycle}: temporary files left after start-up: {left[:3]}"
            put_batch(s3, f"exp/c{cycle}-", 150)
            # The scanner runs every second; kill it somewhere in its work.
            time.sleep(rng.uniform(0.2, 1.8))
            srv.stop()
        srv = start(cycles)
        try:
            s3 = srv.client()
            deadline = time.time() + 40
            while True:
                listed, lost, wrong, left = check(s3)
                stats["lost"], stats["wrong"] = len(lost), len(wrong)
                assert not lost and not wrong, f"lost {lost[:3]} wrong {wrong[:3]}"
                remaining = [k for k in listed if k.startswith("exp/")]
                if not remaining or time.time() > deadline:
                    break
                time.sleep(1)
            assert not remaining, f"{len(remaining)} expired objects still listed after restarts: {remaining[:3]}"
            assert not left, f"temporary files left: {left[:3]}"
        finally:
            srv.stop()
    h.check(f"crash: SIGKILL x{cycles} while the lifecycle scanner expires objects; objects outside the rule "
            "intact, no wrong bytes, expiry completes after restart", run)
    ROWS.append((f"object server SIGKILL during lifecycle expiry (1 s day), {cycles} cycles", stats["cases"],
                 stats["lost"], stats["wrong"], ""))


# ---------------------------------------------------------------- crash: key server

def restart_kes(kroot, name, kes):
    """Starts the key server again on the same address and configuration."""
    cfg = os.path.join(kroot, name + ".yaml")
    log = os.path.join(kroot, name + f"-{time.time_ns()}.log")
    with open(log, "wb") as logf:
        proc = subprocess.Popen([h.BIN, "kes", "server", "--config", cfg], env=h.clean_env(),
                                stdout=subprocess.DEVNULL, stderr=logf, cwd=kroot)
    h.PROCS.append(proc)
    for _ in range(200):
        if "listening on https://" in h.tail(log, 100000):
            kes.proc = proc
            return
        if proc.poll() is not None:
            raise RuntimeError(f"key server {name} did not restart: {h.tail(log)}")
        time.sleep(0.1)
    raise RuntimeError("key server did not restart in time")


def kes_call(kes, tls, admin, method, path, body=None):
    import ssl
    import urllib.request
    ctx = ssl.create_default_context(cafile=tls[0])
    ctx.load_cert_chain(admin[1], admin[0])
    req = urllib.request.Request(f"https://{kes.addr}{path}", method=method, data=body)
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        return r.status, r.read()


def crash_key_server(root):
    cycles = 30 if LONG else 4
    kroot, tls, admin, _ = h.kes_setup(root, "kes-crash")
    kes = h.Kes(kroot, "kes", *tls)
    acked_created, acked_deleted, delete_sent = set(), set(), set()
    datakeys = {}  # name -> (plaintext, ciphertext) from acknowledged generate calls
    lock = threading.Lock()
    stats = {"cases": 0, "lost": 0, "wrong": 0, "checked": 0}

    def worker(t, cycle, stop):
        n = 0
        while not stop.is_set():
            n += 1
            name = f"k{cycle}-{t}-{n}"
            try:
                kes_call(kes, tls, admin, "POST", f"/v1/key/create/{name}")
                with lock:
                    acked_created.add(name)
                st, out = kes_call(kes, tls, admin, "POST", f"/v1/key/generate/{name}", b"{}")
                j = json.loads(out)
                with lock:
                    datakeys[name] = (j["plaintext"], j["ciphertext"])
                if n % 4 == 0:
                    with lock:
                        # Sent: the key may be gone even if the answer never arrives.
                        delete_sent.add(name)
                    kes_call(kes, tls, admin, "DELETE", f"/v1/key/delete/{name}")
                    with lock:
                        acked_deleted.add(name)
            except Exception:  # noqa: BLE001 - the key server dies under us
                return

    def verify(cycle=None):
        """Checks the keys of the last cycle and a sample of older ones; all of them when
        `cycle` is None."""
        lost, wrong = [], []
        with lock:
            created, deleted = set(acked_created), set(acked_deleted)
        if cycle is not None:
            def pick(names):
                new = {n for n in names if n.startswith(f"k{cycle - 1}-")}
                old = sorted(names - new)
                return new | set(random.sample(old, min(20, len(old))))
            created, deleted = pick(created), pick(deleted)
        stats["checked"] += len(created) + len(deleted)
        for name in created - delete_sent:
            if name in datakeys:
                pt, ct = datakeys[name]
                try:
                    _, out = kes_call(kes, tls, admin, "POST", f"/v1/key/decrypt/{name}",
                                      json.dumps({"ciphertext": ct}).encode())
                    if json.loads(out)["plaintext"] != pt:
                        wrong.append(name)
                except Exception as e:  # noqa: BLE001
                    lost.append(f"{name}: {e}")
            else:
                try:
                    kes_call(kes, tls, admin, "POST", f"/v1/key/generate/{name}", b"{}")
                except Exception as e:  # noqa: BLE001
                    lost.append(f"{name}: {e}")
        for name in deleted:
            try:
                kes_call(kes, tls, admin, "POST", f"/v1/key/generate/{name}", b"{}")
                lost.append(f"{name}: deleted but usable")
            except Exception:  # noqa: BLE001 - 404 expected
                pass
        return lost, wrong

    def run():
        for cycle in range(cycles):
            if cycle:
                restart_kes(kroot, "kes", kes)
                lost, wrong = verify(cycle)
                assert not lost and not wrong, f"cycle {cycle}: lost {lost[:3]} wrong {wrong[:3]}"
            stop = threading.Event()
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                futures = [pool.submit(worker, t, cycle, stop) for t in range(6)]
                time.sleep(random.uniform(0.3, 1.0))
                kes.proc.kill()
                kes.proc.wait(10)
                stop.set()
                for f in futures:
                    f.result()
        restart_kes(kroot, "kes", kes)
        lost, wrong = verify()
        stats.update(cases=len(acked_created) + len(acked_deleted) + len(datakeys), lost=len(lost),
                     wrong=len(wrong))
        assert len(acked_created) > 10, f"only {len(acked_created)} keys created"
        assert not lost and not wrong, f"lost {lost[:3]} wrong {wrong[:3]}"
        kes.proc.kill()
    h.check(f"key server SIGKILL x{cycles} during key create/generate/delete: no acknowledged key lost, "
            "every data key decrypts to its bytes", run)
    ROWS.append((f"key server SIGKILL (create, generate, delete), {cycles} cycles", stats["cases"],
                 stats["lost"], stats["wrong"], f"{stats['checked']} keys checked"))


# ---------------------------------------------------------------- KMS outage

def kms_outage(root):
    kroot, tls, admin, minio = h.kes_setup(root, "kes-outage")
    kes1 = h.Kes(kroot, "kes1", *tls)
    kes2 = h.Kes(kroot, "kes2", *tls)
    srv = h.Server(kroot, "outage", env={
        "MINIO_KMS_KES_ENDPOINT": f"https://{kes1.addr},https://{kes2.addr}",
        "MINIO_KMS_KES_KEY_FILE": minio[0], "MINIO_KMS_KES_CERT_FILE": minio[1],
        "MINIO_KMS_KES_KEY_NAME": "outage-key", "MINIO_KMS_KES_CAPATH": tls[0]})
    s3 = srv.client()
    s3.create_bucket(Bucket="outage")
    stats = {"cases": 0, "lost": 0, "wrong": 0}
    objects = {}

    def sse_put(key):
        s3.put_object(Bucket="outage", Key=key, Body=body_for(key), ServerSideEncryption="AES256")
        objects[key] = True
        stats["cases"] += 1

    def one_down():
        for i in range(10):
            sse_put(f"before-{i}")
        kes1.proc.kill()
        kes1.proc.wait(10)
        for i in range(20):
            sse_put(f"one-down-{i}")
            got = read(s3, "outage", f"before-{i % 10}")
            stats["cases"] += 1
            assert got == ("body", body_for(f"before-{i % 10}")), f"read with one key server down: {got[0]}"
    h.check("KMS: with two key servers, killing one is invisible to clients", one_down)

    def all_down():
        kes2.proc.kill()
        kes2.proc.wait(10)
        t0 = time.time()
        try:
            s3.put_object(Bucket="outage", Key="during", Body=b"x", ServerSideEncryption="AES256")
            raise AssertionError("SSE PUT succeeded with every key server down")
        except botocore.exceptions.ClientError as e:
            code, msg = e.response["Error"]["Code"], e.response["Error"].get("Message", "")
        took = time.time() - t0
        assert took < 10, f"SSE PUT took {took:.1f}s to fail"
        assert "kms" in (code + msg).lower() or "key" in msg.lower(), f"error does not name the KMS: {code} {msg}"
        t0 = time.time()
        res = read(s3, "outage", "before-1")
        assert res[0] == "error" and time.time() - t0 < 10, f"SSE GET during outage: {res[0]}"
        # Plain objects keep working.
        for i in range(10):
            s3.put_object(Bucket="outage", Key=f"plain-{i}", Body=body_for(f"plain-{i}"))
            assert read(s3, "outage", f"plain-{i}") == ("body", body_for(f"plain-{i}"))
            stats["cases"] += 1
        all_down.note = f"SSE PUT failed after {took:.2f}s with {code}: {msg[:80]}"
    h.check("KMS: every key server down -> SSE fails within 10 s naming the KMS; plain objects keep working",
            all_down)

    def comes_back():
        restart_kes(kroot, "kes2", kes2)
        deadline = time.time() + 30
        while True:
            try:
                sse_put("after")
                break
            except botocore.exceptions.ClientError:
                assert time.time() < deadline, "SSE did not resume within 30 s of a key server returning"
                time.sleep(0.5)
        for k in list(objects):
            res = read(s3, "outage", k)
            if res[0] != "body":
                stats["lost"] += 1
            elif res[1] != body_for(k):
                stats["wrong"] += 1
        assert stats["lost"] == 0 and stats["wrong"] == 0, stats
    h.check("KMS: service resumes by itself when a key server returns; nothing lost", comes_back)
    note = getattr(all_down, "note", "")
    ROWS.append(("KMS outage: one of two key servers killed, then both, then one back", stats["cases"],
                 stats["lost"], stats["wrong"], note))
    srv.stop()
    for k in (kes1, kes2):
        if k.proc.poll() is None:
            k.proc.kill()


# ---------------------------------------------------------------- disk full, read-only, vanishing files

def can_mount():
    return os.geteuid() == 0 and shutil.which("mount") is not None


def disk_tests(root, cert):
    if not can_mount():
        print("skip: disk classes need root to mount a tmpfs", file=sys.stderr)
        ROWS.append(("disk full / read-only (skipped: not root)", 0, 0, 0, "skipped"))
        return
    mnt = os.path.join(root, "small-disk")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt], check=True)
    stats = {"cases": 0, "lost": 0, "wrong": 0, "codes": set()}
    try:
        data_dir = os.path.join(mnt, "data")
        srv = h.Server(root, "diskfull", cert=cert, env=KMS_ENV, data_dir=data_dir)
        s3 = srv.client()
        s3.create_bucket(Bucket="full")
        stored = []

        def full():
            codes = set()
            for i in range(60):
                key = f"obj-{i}"
                data = h.body(1 << 20, key)
                try:
                    s3.put_object(Bucket="full", Key=key, Body=data,
                                  **({"ServerSideEncryption": "AES256"} if i % 2 else {}))
                    stored.append(key)
                except botocore.exceptions.ClientError as e:
                    codes.add((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]))
                stats["cases"] += 1
            assert codes, "the disk never filled"
            assert all(c in (("XMinioStorageFull", 507), ("StorageFull", 507)) for c in codes), codes
            for key in stored:
                res = read(s3, "full", key)
                stats["lost"] += res[0] != "body"
                stats["wrong"] += res[0] == "body" and res[1] != h.body(1 << 20, key)
            assert stats["lost"] == 0 and stats["wrong"] == 0, stats
            stats["codes"] = codes
        h.check("disk full: PUT fails with 507 XMinioStorageFull, stored objects intact", full)

        def recovers():
            for key in stored[:6]:
                s3.delete_object(Bucket="full", Key=key)
            del stored[:6]
            s3.put_object(Bucket="full", Key="after", Body=b"space again")
            assert read(s3, "full", "after") == ("body", b"space again")
            tmp = os.path.join(data_dir, ".coffer.sys", "tmp")
            assert not os.listdir(tmp), f"staging files left after failed writes: {os.listdir(tmp)[:3]}"
        h.check("disk full: the server recovers by itself when space returns; no staging files left", recovers)

        def read_only():
            # Idle long enough for the server to checkpoint its journal (1 s), so that a
            # server started on the read-only directory finds nothing to replay.
            time.sleep(1.5)
            subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
            try:
                try:
                    s3.put_object(Bucket="full", Key="ro", Body=b"x")
                    raise AssertionError("PUT succeeded on a read-only disk")
                except botocore.exceptions.ClientError as e:
                    code = e.response["Error"]["Code"]
                    assert code not in ("InternalError",) or "read-only" in e.response["Error"].get("Message", ""), code
                for key in stored[:4]:
                    res = read(s3, "full", key)
                    stats["cases"] += 1
                    assert res == ("body", h.body(1 << 20, key)), f"read on read-only disk: {res[0]}"
                # A second server started on the read-only directory serves reads and
                # refuses writes.
                ro = h.Server(root, "readonly", cert=cert, env=KMS_ENV, data_dir=data_dir)
                try:
                    ro_s3 = ro.client()
                    for key in stored[:2]:
                        res = read(ro_s3, "full", key)
                        stats["cases"] += 1
                        assert res == ("body", h.body(1 << 20, key)), f"read from a read-only start: {res[0]}"
                    try:
                        ro_s3.put_object(Bucket="full", Key="ro2", Body=b"x")
                        raise AssertionError("PUT succeeded on a server started read-only")
                    except botocore.exceptions.ClientError:
                        pass
                finally:
                    ro.stop()
            finally:
                subprocess.run(["mount", "-o", "remount,rw", mnt], check=True)
            s3.put_object(Bucket="full", Key="rw-again", Body=b"ok")
        h.check("read-only disk: PUT fails cleanly, GET works, writes resume after remount", read_only)

        def vanishing():
            victim = stored[-1]
            # Remove every file of the victim's record directory behind the server's back.
            meta = h.meta_path(data_dir, "full", victim)
            for f in h.data_files(data_dir, "full", victim):
                os.remove(f)
            res = read(s3, "full", victim)
            stats["cases"] += 1
            assert res[0] == "error" or res[1] == h.body(1 << 20, victim), "wrong bytes for a vanished file"
            os.remove(meta)
            res = read(s3, "full", victim)
            assert res[0] == "error", "object readable after its record vanished"
            # The server still serves the others.
            other = stored[-2]
            assert read(s3, "full", other) == ("body", h.body(1 << 20, other))
            s3.put_object(Bucket="full", Key=victim, Body=b"rewritten")
            assert read(s3, "full", victim) == ("body", b"rewritten")
        h.check("files vanishing underneath: GET errors (never wrong bytes), the server keeps serving", vanishing)
        srv.stop()
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)
    ROWS.append(("disk full (24 MiB tmpfs), read-only remount, files deleted underneath", stats["cases"],
                 stats["lost"], stats["wrong"], "full disk answered " + ", ".join(f"{c} {s}" for c, s in sorted(stats["codes"]))))


# ---------------------------------------------------------------- graceful shutdown

def graceful_shutdown(root):
    """SIGTERM while an upload is in flight: the upload finishes (200) and is durable, new
    connections are refused, the process exits by itself."""
    import signal as sig
    import socket
    import urllib.parse
    data_dir = os.path.join(root, "term-data")
    srv = h.Server(root, "term", env=KMS_ENV, data_dir=data_dir)
    s3 = srv.client()
    s3.create_bucket(Bucket="term")
    payload = h.body(2 << 20, "term")
    stats = {"cases": 0, "lost": 0, "wrong": 0}

    def run():
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "term", "Key": "inflight"}, ExpiresIn=300)
        u = urllib.parse.urlsplit(url)
        conn = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        conn.sendall(f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload[: len(payload) // 2])
        time.sleep(0.3)
        srv.proc.send_signal(sig.SIGTERM)
        time.sleep(0.5)
        refused = False
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        except OSError:
            refused = True
        conn.sendall(payload[len(payload) // 2:])
        answer = conn.recv(4096)
        conn.close()
        stats["cases"] += 1
        assert answer.startswith(b"HTTP/1.1 200"), f"in-flight upload answered {answer[:120]!r}"
        assert refused, "a new connection was accepted after SIGTERM"
        srv.proc.wait(15)
        assert srv.proc.returncode == 0, f"exit status {srv.proc.returncode}"
        assert "SIGTERM" in h.tail(srv.log), h.tail(srv.log)
        again = h.Server(root, "term2", env=KMS_ENV, data_dir=data_dir)
        try:
            res = read(again.client(), "term", "inflight")
            stats["lost"] += res[0] != "body"
            stats["wrong"] += res[0] == "body" and res[1] != payload
            assert res == ("body", payload), f"the upload finished during shutdown is {res[0]}"
        finally:
            again.stop()
    h.check("SIGTERM: the upload in flight finishes and is durable, new connections are refused, "
            "the server exits 0", run)
    ROWS.append(("graceful shutdown: SIGTERM during an upload", stats["cases"], stats["lost"], stats["wrong"], ""))


# ---------------------------------------------------------------- tampering

def tampering(root, cert):
    srv = h.Server(root, "tamper", cert=cert, env=KMS_ENV)
    s3 = srv.client()
    s3.create_bucket(Bucket="tamper")
    s3.create_bucket(Bucket="tamper2")
    rng = random.Random(99)
    rounds = 300 if LONG else 60
    stats = {"cases": 0, "lost": 0, "wrong": 0}
    modes = [{"ServerSideEncryption": "AES256"}, {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "fkey"}, SSEC]

    def run():
        for i in range(rounds):
            mode = modes[i % 3]
            read_kw = SSEC if mode is SSEC else {}
            key = f"t{i}"
            data = h.body(rng.choice([100, 70_000, 200_000]), key)
            s3.put_object(Bucket="tamper", Key=key, Body=data, **mode)
            files = h.data_files(srv.dir, "tamper", key)
            meta = h.meta_path(srv.dir, "tamper", key)
            what = rng.choice(["data", "meta", "swap-key", "swap-bucket"] if files else ["meta", "swap-key"])
            if what == "data":
                p = rng.choice(files)
                off = rng.randrange(os.path.getsize(p))
                with open(p, "r+b") as f:
                    f.seek(off)
                    c = f.read(1)
                    f.seek(off)
                    f.write(bytes([c[0] ^ (1 << rng.randrange(8))]))
            elif what == "meta":
                raw = bytearray(open(meta, "rb").read())
                off = rng.randrange(len(raw))
                raw[off] ^= 1 << rng.randrange(8)
                open(meta, "wb").write(bytes(raw))
            else:
                # Another object's record and data put under this name (or in another bucket).
                other = f"t{i}-other"
                s3.put_object(Bucket="tamper", Key=other, Body=h.body(len(data), other), **mode)
                m = h.load_meta(srv.dir, "tamper", other)
                bucket = "tamper2" if what == "swap-bucket" else "tamper"
                if bucket == "tamper2":
                    s3.put_object(Bucket="tamper2", Key=key, Body=b"placeholder", **mode)
                m["key"] = key
                dst_meta = h.meta_path(srv.dir, bucket, key)
                for f in h.data_files(srv.dir, "tamper", other):
                    dst = os.path.join(os.path.dirname(dst_meta), os.path.basename(f))
                    # Both keys may hash to the same directory: the file is there already.
                    if os.path.abspath(f) != os.path.abspath(dst):
                        shutil.copyfile(f, dst)
                with open(dst_meta, "w") as f:
                    json.dump(m, f)
                res = read(s3, bucket, key, **read_kw)
                stats["cases"] += 1
                if res[0] == "body":
                    stats["wrong"] += 1
                continue
            res = read(s3, "tamper", key, **read_kw)
            stats["cases"] += 1
            if res[0] == "body" and res[1] != data:
                stats["wrong"] += 1
        assert stats["wrong"] == 0, f"{stats['wrong']} tampered objects returned bytes"
    h.check(f"tampering x{rounds}: bit flips in ciphertext and records, records swapped between keys and "
            "buckets (SSE-S3, SSE-KMS, SSE-C): no GET returns wrong bytes", run)
    srv.stop()
    ROWS.append((f"tampering: bit flips in data and records, swaps between keys and buckets, {rounds} objects",
                 stats["cases"], "n/a", stats["wrong"], ""))


def main():
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None

    def body(root):
        cert, _ = h.make_cert(os.path.join(root, "certs"))
        classes = [(crash_object_server, True), (crash_lifecycle, True), (crash_key_server, False),
                   (kms_outage, False), (disk_tests, True), (graceful_shutdown, False), (tampering, True)]
        for fn, wants_cert in classes:
            if only is None or fn.__name__ in only:
                fn(root, cert) if wants_cert else fn(root)
    h.run_suite("coffer-faults-", body,
                table=(["fault class", "cases", "objects lost", "wrong bytes", "note"], ROWS))


if __name__ == "__main__":
    main()
