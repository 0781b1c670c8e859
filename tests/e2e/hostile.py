#!/usr/bin/env python3
"""Hostile input against a running `coffer server`: thousands of random and malformed
HTTP requests over raw sockets, oversized headers and bodies, broken escapes and
signatures, and slow clients holding connections open.

Usage: COFFER_BIN=target/debug/coffer python3 tests/e2e/hostile.py [--count N]
Every answer must be a well-formed HTTP response (an S3 XML error when it has a body and
is an error), the server must never answer 500 to garbage nor die, stored objects must
stay as they were, and a normal client must still be served while slow clients hold
hundreds of connections. Prints `N passed, M failed` last.
"""
import http.client
import json
import os
import random
import re
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3_sse as h  # noqa: E402 - shared helpers: Server, check()

COUNT = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 10_000
ROWS = []

METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "G\x00T", "", "GET GET"]
PATHS = ["/", "/bucket", "/bucket/key", "/bucket/a%2", "/bucket/%+2", "/bucket/%zz", "/bucket/../../etc/passwd",
         "/bucket/" + "k" * 2000, "/%00", "/bucket?versioning", "/bucket?uploads", "/bucket/key?uploadId=%ff",
         "/bucket?list-type=2&max-keys=-1", "/bucket?list-type=2&continuation-token=%%%", "/bucket/key?partNumber=0",
         "/bucket?delete", "/bucket?policy", "/bucket?tagging", "/bucket/key?tagging", "/minio/admin/v3/kms/status",
         "/minio/kms/v1/key/list?pattern=%", "//", "/bucket//key", "*", "http://evil/bucket", "/bucket/\xff\xfe"]
HEADERS = [
    ("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, "
                      "Signature=" + "0" * 64),
    ("Authorization", "AWS4-HMAC-SHA256 garbage"),
    ("Authorization", "AWS AKIA:sig"),
    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
    ("x-amz-date", "not-a-date"),
    ("Content-Length", "-1"),
    ("Content-Length", "99999999999999999999"),
    ("Transfer-Encoding", "chunked"),
    ("x-amz-server-side-encryption", "AES512"),
    ("x-amz-server-side-encryption-customer-key", "%%%"),
    ("x-amz-copy-source", "/%+2/%zz"),
    ("x-amz-tagging", "a=%+2&b"),
    ("Range", "bytes=99999999999999999999-"),
    ("x-amz-meta-" + "m" * 300, "v" * 3000),
    ("Expect", "100-continue"),
    ("Host", ""),
]
BODIES = [b"", b"<", b"<?xml version='1.0'?><Delete><Object><Key>" + b"k" * 5000 + b"</Key></Object></Delete>",
          b"<!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;&a;'>]><Tagging>&b;</Tagging>",
          bytes(range(256)), b"{\"json\": true}", b"\x00" * 1000]


def raw(port, data, timeout=10):
    """Sends bytes, returns what comes back until the server closes or stops answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
        except (socket.timeout, ConnectionResetError):
            pass
    return b"".join(chunks)


def random_request(rng):
    method = rng.choice(METHODS)
    path = rng.choice(PATHS)
    if rng.random() < 0.2:
        path += "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(1, 40)))
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    for _ in range(rng.randrange(0, 6)):
        k, v = rng.choice(HEADERS)
        lines.append(f"{k}: {v}")
    if rng.random() < 0.05:
        lines += [f"X-Flood-{i}: {'x' * 100}" for i in range(rng.choice([150, 1000]))]
    if rng.random() < 0.03:
        lines.append("X-Huge: " + "y" * rng.choice([70_000, 400_000]))
    body = rng.choice(BODIES)
    if rng.random() < 0.1:
        body = os.urandom(rng.randrange(1, 5000))
    if not any(line.lower().startswith(("content-length", "transfer-encoding")) for line in lines):
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines).encode("latin-1", errors="replace")
    if rng.random() < 0.05:
        head = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    return head + b"\r\n\r\n" + body


STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3}) ")


def flood(srv, s3):
    rng = random.Random(7)
    counts = {"requests": 0, "answers": 0, "closed": 0, "5xx": 0, "bad_xml": 0}
    payload = h.body(50_000, "keep")

    def run():
        for i in range(COUNT):
            data = random_request(rng)
            out = raw(srv.port, data)
            counts["requests"] += 1
            if not out:
                counts["closed"] += 1  # the server may close on garbage; it must not die
                continue
            m = STATUS.match(out)
            assert m, f"request {i}: not an HTTP response: {out[:80]!r}"
            counts["answers"] += 1
            status = int(m.group(1))
            if status >= 500 and status != 501:  # 501 NotImplemented is S3's answer to unknown APIs
                counts["5xx"] += 1
                raise AssertionError(f"request {i} answered {status}: {data[:200]!r} -> {out[:300]!r}")
            head, _, body = out.partition(b"\r\n\r\n")
            if status >= 400 and body.strip().startswith(b"<?xml"):
                try:
                    root = ET.fromstring(body.split(b"\r\n0\r\n")[0].strip().split(b"\r\n", 1)[-1]
                                         if b"chunked" in head.lower() else body)
                    assert root.tag == "Error" and root.find("Code") is not None
                except ET.ParseError:
                    counts["bad_xml"] += 1
                    raise AssertionError(f"request {i}: malformed XML error {body[:200]!r}")
            if i % 1000 == 999:
                assert srv.proc.poll() is None, "the server died"
        assert srv.proc.poll() is None, "the server died"
        assert s3.get_object(Bucket="hostile", Key="keep")["Body"].read() == payload, "stored object changed"
    s3.create_bucket(Bucket="hostile")
    s3.put_object(Bucket="hostile", Key="keep", Body=payload)
    h.check(f"{COUNT} random and malformed requests: only well-formed answers, no 500, no crash, data intact", run)
    ROWS.append(("random/malformed HTTP requests", counts["requests"],
                 f"{counts['answers']} answered, {counts['closed']} closed, {counts['5xx']} 5xx other than 501, "
                 f"{counts['bad_xml']} malformed errors"))


def slow_clients(srv, s3):
    held = []
    stop = threading.Event()

    def run():
        # 300 connections that send a header byte now and then and never finish.
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(b"GET /hostile/keep HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(s)

        def drip():
            while not stop.is_set():
                for s in held:
                    try:
                        s.sendall(b"X-a: b\r\n")
                    except OSError:
                        pass
                stop.wait(1.0)
        t = threading.Thread(target=drip, daemon=True)
        t.start()
        worst = 0.0
        for i in range(50):
            t0 = time.time()
            assert s3.head_object(Bucket="hostile", Key="keep")["ContentLength"] == 50_000
            worst = max(worst, time.time() - t0)
        stop.set()
        t.join(5)
        assert worst < 2.0, f"a normal request took {worst:.2f}s while slow clients held connections"
        ROWS.append(("slow clients (300 connections dripping headers) + 50 normal requests", 50,
                     f"worst normal request {worst * 1000:.0f} ms"))
    try:
        h.check("300 slow clients do not starve a normal client", run)
    finally:
        stop.set()
        for s in held:
            s.close()


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def connection_limits(root):
    """A server with a small connection limit and a short header timeout: idle and
    header-dripping connections are closed, the open descriptors stay bounded, and a normal
    client gets through once the slow ones are gone."""
    limit, timeout = 32, 2.0
    srv = h.Server(root, "limits", args=("--max-connections", str(limit), "--read-header-timeout", "2s",
                                         "--read-body-timeout", "2s"))
    s3 = srv.client()
    s3.create_bucket(Bucket="limits")
    s3.put_object(Bucket="limits", Key="k", Body=b"x" * 100)
    base = open_fds(srv.proc.pid)

    def run():
        idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=30) for _ in range(100)]
        time.sleep(0.5)
        # The idle connections fill the limit; the rest (the dripping one too) wait in
        # the listen backlog, holding no descriptor of the server's.
        peak = open_fds(srv.proc.pid) - base
        t0 = time.time()
        # A new client's connection is behind them in the backlog: it is served once the
        # idle timeout has closed enough of the idle ones.
        assert srv.client().get_object(Bucket="limits", Key="k")["Body"].read() == b"x" * 100
        waited = time.time() - t0
        closed = 0
        for c in idle:
            c.settimeout(max(0.1, 20 - (time.time() - t0)))
            try:
                closed += c.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except OSError:
                pass
            c.close()
        # A client that keeps sending header lines, one every half second: the timeout
        # counts from when the server started waiting for the headers, so it is cut all
        # the same.
        drip = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        drip.sendall(b"GET /limits/k HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        t1, cut = time.time(), None
        while time.time() - t1 < 15:
            try:
                drip.sendall(b"X-a: b\r\n")
                drip.settimeout(0.25)
                if drip.recv(1) == b"":
                    cut = time.time() - t1
                    break
            except socket.timeout:
                continue
            except OSError:
                cut = time.time() - t1
                break
        drip.close()
        assert peak <= limit + 4, f"{peak} descriptors opened for 101 connections with a limit of {limit}"
        assert closed == 100, f"only {closed} of 100 idle connections were closed by the server"
        assert waited < 15, f"a normal request waited {waited:.1f}s behind idle connections"
        assert cut is not None, "a client dripping header lines was never cut off"
        assert cut >= timeout * 0.75, f"a dripping client was cut after {cut:.1f}s, before the {timeout}s timeout"
        # A download that takes longer than the timeout is a request in flight, not an
        # idle connection: the connection stays open for the next request.
        # (Read slowly past the timeout while the server is still writing, more than the
        # socket buffers hold; then read the rest at once and ask again right away.)
        size = 32 << 20
        s3.put_object(Bucket="limits", Key="big", Body=b"y" * size)
        s3.put_bucket_policy(Bucket="limits", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::limits/*"}]}))
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
        conn.request("GET", "/limits/big")
        resp, got, t2 = conn.getresponse(), 0, time.time()
        while chunk := resp.read(256 << 10):
            got += len(chunk)
            if time.time() - t2 < timeout * 1.5:
                time.sleep(0.1)
        slow = time.time() - t2
        conn.request("GET", "/limits/k")
        again = conn.getresponse()
        assert got == size and slow > timeout, (got, slow)
        assert again.status == 200 and again.read() == b"x" * 100, again.status
        conn.close()
        # A client that stops sending a body halfway: after the body timeout the request
        # fails with S3's RequestTimeout, the connection is closed, and nothing is stored.
        s3.put_bucket_policy(Bucket="limits", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": "arn:aws:s3:::limits/*"}]}))
        stall = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        stall.sendall(b"PUT /limits/stalled HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
                      + b"z" * 10)
        t3, answer = time.time(), b""
        stall.settimeout(20)
        try:
            while chunk := stall.recv(4096):
                answer += chunk
        except OSError:
            pass
        stalled = time.time() - t3
        stall.close()
        assert b" 400 " in answer.split(b"\r\n")[0] and b"<Code>RequestTimeout</Code>" in answer, answer[:300]
        assert timeout * 0.75 <= stalled < 15, f"a stalled body was answered after {stalled:.1f}s"
        assert h.error_code(lambda: s3.head_object(Bucket="limits", Key="stalled"))[1] == 404
        assert srv.proc.poll() is None, "the server died"
        ROWS.append((f"connection limit {limit}, header timeout {timeout:.0f}s: 100 idle connections, 1 dripping headers", 101,
                     f"{peak} descriptors at peak, {closed} idle closed, a new client served after {waited:.1f}s, "
                     f"a client dripping headers cut after {cut:.1f}s; a {slow:.1f}s download kept its connection; "
                     f"a body stalled halfway answered 400 RequestTimeout after {stalled:.1f}s"))
    h.check(f"connection limit ({limit}) and header timeout ({timeout:.0f}s): idle and slow clients are closed, "
            "descriptors bounded, a normal client served", run)
    srv.stop()


def main():
    def body(root):
        srv = h.Server(root, "hostile")
        s3 = srv.client()
        flood(srv, s3)
        slow_clients(srv, s3)
        srv.stop()
        connection_limits(root)
    h.run_suite("coffer-hostile-", body, table=(["input class", "cases", "result"], ROWS))


if __name__ == "__main__":
    main()
