#!/usr/bin/env python3
"""End-to-end S3 checks with boto3 against a real `coffer server` process.

Usage: COFFER_BIN=target/debug/coffer python3 tests/e2e/s3_boto3.py
Starts its own server on 127.0.0.1 in a temporary directory and stops it by PID.
Prints `N passed, M failed` last; exits non-zero if anything failed.
"""
import base64
import concurrent.futures
import contextlib
import json
import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib

import boto3
import botocore
from botocore.config import Config

BIN = os.environ.get("COFFER_BIN", "target/debug/coffer")
USER, PASSWORD = "e2e-admin", "e2e-secret-password"
ALT_USER, ALT_PASSWORD = "e2e-second", "e2e-second-password"
passed, failed = 0, 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir, port=None):
        self.dir, self.port = data_dir, port or free_port()
        env = dict(os.environ, MINIO_ROOT_USER=USER, MINIO_ROOT_PASSWORD=PASSWORD)
        users = data_dir.rstrip("/") + ".users"
        with open(os.open(users, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"{ALT_USER} {ALT_PASSWORD}\n")
        self.proc = subprocess.Popen(
            [BIN, "server", data_dir, "--address", f"127.0.0.1:{self.port}", "--quiet", "--users", users],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url + "/minio/health/live", timeout=1)
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError("server exited: " + self.proc.stderr.read().decode())
                time.sleep(0.1)
        raise RuntimeError("server did not become ready")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def client(url, user=USER, password=PASSWORD, **cfg):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=user, aws_secret_access_key=password,
                        region_name="us-east-1", config=Config(retries={"max_attempts": 1}, **cfg))


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
    except Exception as e:  # noqa: BLE001 - report every failure, keep going
        failed += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}", file=sys.stderr)


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


def expect_error(fn, code, status=None):
    got, st = error_code(fn)
    assert got == code, f"want {code}, got {got}"
    if status is not None:
        assert st == status, f"want HTTP {status}, got {st}"


def body(n, seed=0):
    return hashlib.shake_256(f"{seed}".encode()).digest(n) if n else b""


def main():
    tmp = tempfile.mkdtemp(prefix="coffer-boto3-")
    srv = Server(tmp)
    s3 = client(srv.url)
    try:
        run(s3, srv)
        crash(tmp)
    finally:
        if srv.proc.poll() is None:
            srv.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp + ".users")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def run(s3, srv):
    b = "e2e-bucket"

    def buckets():
        s3.create_bucket(Bucket=b)
        expect_error(lambda: s3.create_bucket(Bucket=b), "BucketAlreadyOwnedByYou", 409)
        assert b in [x["Name"] for x in s3.list_buckets()["Buckets"]]
        s3.head_bucket(Bucket=b)
        expect_error(lambda: s3.head_bucket(Bucket="no-such-bucket"), "404", 404)
        expect_error(lambda: s3.list_objects_v2(Bucket="no-such-bucket"), "NoSuchBucket", 404)
        assert s3.get_bucket_location(Bucket=b).get("LocationConstraint") in (None, "")
    check("buckets", buckets)

    def round_trips():
        for n in (0, 1, 5 * 1024 * 1024 + 1):
            data = body(n, n)
            r = s3.put_object(Bucket=b, Key=f"size/{n}", Body=data)
            assert r["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
            got = s3.get_object(Bucket=b, Key=f"size/{n}")
            assert got["Body"].read() == data and got["ContentLength"] == n
    check("round trips 0 B, 1 B, 5 MiB+1", round_trips)

    def multipart_100mib():
        data = body(100 * 1024 * 1024, 7)
        cfg = boto3.s3.transfer.TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)
        s3.upload_fileobj(io.BytesIO(data), b, "big/100mib", Config=cfg)
        h = s3.head_object(Bucket=b, Key="big/100mib")
        assert h["ContentLength"] == len(data) and h["ETag"].endswith('-13"'), h["ETag"]
        out = io.BytesIO()
        s3.download_fileobj(b, "big/100mib", out, Config=cfg)
        assert out.getvalue() == data
        part2 = s3.get_object(Bucket=b, Key="big/100mib", PartNumber=2)
        assert part2["Body"].read() == data[8 << 20:16 << 20]
        a = s3.get_object_attributes(Bucket=b, Key="big/100mib", ObjectAttributes=["ETag", "ObjectSize", "ObjectParts", "StorageClass"], MaxParts=5)
        assert a["ObjectSize"] == len(data) and a["ETag"].strip('"') == h["ETag"].strip('"') and a["StorageClass"] == "STANDARD", a
        assert a["ObjectParts"]["TotalPartsCount"] == 13 and len(a["ObjectParts"]["Parts"]) == 5 and a["ObjectParts"]["IsTruncated"]
        r = s3.get_object(Bucket=b, Key="big/100mib", Range="bytes=%d-%d" % ((8 << 20) - 10, (8 << 20) + 9))
        assert r["Body"].read() == data[(8 << 20) - 10:(8 << 20) + 10]
    check("multipart 100 MiB, partNumber, range across parts", multipart_100mib)

    def multipart_api():
        key = "mp/explicit"
        up = s3.create_multipart_upload(Bucket=b, Key=key, ContentType="text/x-test", Metadata={"m": "1"})["UploadId"]
        p1 = body(5 << 20, 1)
        e1 = s3.upload_part(Bucket=b, Key=key, UploadId=up, PartNumber=1, Body=p1)["ETag"]
        s3.put_object(Bucket=b, Key="mp/src", Body=body(1000, 2))
        e2 = s3.upload_part_copy(Bucket=b, Key=key, UploadId=up, PartNumber=2, CopySource={"Bucket": b, "Key": "mp/src"},
                                 CopySourceRange="bytes=10-109")["CopyPartResult"]["ETag"]
        parts = s3.list_parts(Bucket=b, Key=key, UploadId=up)["Parts"]
        assert [p["PartNumber"] for p in parts] == [1, 2] and parts[1]["Size"] == 100
        assert any(u["UploadId"] == up for u in s3.list_multipart_uploads(Bucket=b)["Uploads"])
        expect_error(lambda: s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]}), "InvalidPartOrder", 400)
        expect_error(lambda: s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]}), "InvalidPart", 400)
        r = s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        md5s = b"".join(bytes.fromhex(e.strip('"')) for e in (e1, e2))
        assert r["ETag"] == '"%s-2"' % hashlib.md5(md5s).hexdigest()
        got = s3.get_object(Bucket=b, Key=key)
        assert got["Body"].read() == p1 + body(1000, 2)[10:110]
        assert got["ContentType"] == "text/x-test" and got["Metadata"] == {"m": "1"}
        up2 = s3.create_multipart_upload(Bucket=b, Key="mp/aborted")["UploadId"]
        s3.upload_part(Bucket=b, Key="mp/aborted", UploadId=up2, PartNumber=1, Body=b"x")
        s3.abort_multipart_upload(Bucket=b, Key="mp/aborted", UploadId=up2)
        expect_error(lambda: s3.list_parts(Bucket=b, Key="mp/aborted", UploadId=up2), "NoSuchUpload", 404)
        up3 = s3.create_multipart_upload(Bucket=b, Key="mp/small")["UploadId"]
        f1 = s3.upload_part(Bucket=b, Key="mp/small", UploadId=up3, PartNumber=1, Body=b"small")["ETag"]
        f2 = s3.upload_part(Bucket=b, Key="mp/small", UploadId=up3, PartNumber=2, Body=b"last")["ETag"]
        expect_error(lambda: s3.complete_multipart_upload(Bucket=b, Key="mp/small", UploadId=up3, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": f1}, {"PartNumber": 2, "ETag": f2}]}), "EntityTooSmall", 400)
    check("multipart API", multipart_api)

    def metadata():
        s3.put_object(Bucket=b, Key="meta/obj", Body=b"m", ContentType="application/x-coffer",
                      CacheControl="max-age=60", ContentDisposition="attachment; filename=x",
                      ContentEncoding="identity", ContentLanguage="en", Metadata={"Color": "blue", "a-b": "c"})
        h = s3.head_object(Bucket=b, Key="meta/obj")
        assert h["ContentType"] == "application/x-coffer" and h["CacheControl"] == "max-age=60"
        assert h["ContentDisposition"] == "attachment; filename=x" and h["ContentLanguage"] == "en"
        assert h["Metadata"] == {"color": "blue", "a-b": "c"}, h["Metadata"]
        g = s3.get_object(Bucket=b, Key="meta/obj", ResponseContentType="text/plain")
        assert g["ContentType"] == "text/plain"
    check("system and user metadata", metadata)

    def conditional():
        e = s3.put_object(Bucket=b, Key="cond", Body=b"v1")["ETag"]
        assert s3.get_object(Bucket=b, Key="cond", IfMatch=e)["Body"].read() == b"v1"
        expect_error(lambda: s3.get_object(Bucket=b, Key="cond", IfMatch='"nope"'), "PreconditionFailed", 412)
        expect_error(lambda: s3.get_object(Bucket=b, Key="cond", IfNoneMatch=e), "304", 304)
        future = time.time() + 3600
        import datetime
        expect_error(lambda: s3.get_object(Bucket=b, Key="cond",
                                           IfModifiedSince=datetime.datetime.fromtimestamp(future, datetime.timezone.utc)), "304", 304)
        expect_error(lambda: s3.get_object(Bucket=b, Key="cond",
                                           IfUnmodifiedSince=datetime.datetime.fromtimestamp(0, datetime.timezone.utc)), "PreconditionFailed", 412)
        expect_error(lambda: s3.get_object(Bucket=b, Key="cond", Range="bytes=100-200"), "InvalidRange", 416)
        assert s3.get_object(Bucket=b, Key="cond", Range="bytes=-1")["Body"].read() == b"1"
    check("conditional requests and ranges", conditional)

    def copy():
        s3.put_object(Bucket=b, Key="cp/src", Body=b"copy me", ContentType="text/a", Metadata={"k": "v"},
                      Tagging="t1=v1")
        s3.copy_object(Bucket=b, Key="cp/same-meta", CopySource={"Bucket": b, "Key": "cp/src"})
        h = s3.head_object(Bucket=b, Key="cp/same-meta")
        assert h["ContentType"] == "text/a" and h["Metadata"] == {"k": "v"}
        s3.copy_object(Bucket=b, Key="cp/replaced", CopySource={"Bucket": b, "Key": "cp/src"},
                       MetadataDirective="REPLACE", ContentType="text/b", Metadata={"n": "w"})
        h = s3.head_object(Bucket=b, Key="cp/replaced")
        assert h["ContentType"] == "text/b" and h["Metadata"] == {"n": "w"}
        assert s3.get_object_tagging(Bucket=b, Key="cp/same-meta")["TagSet"] == [{"Key": "t1", "Value": "v1"}]
        expect_error(lambda: s3.copy_object(Bucket=b, Key="cp/src", CopySource={"Bucket": b, "Key": "cp/src"}), "InvalidRequest", 400)
        expect_error(lambda: s3.copy_object(Bucket=b, Key="cp/x", CopySource={"Bucket": b, "Key": "cp/src"},
                                            CopySourceIfMatch='"nope"'), "PreconditionFailed", 412)
        expect_error(lambda: s3.copy_object(Bucket=b, Key="cp/x", CopySource={"Bucket": b, "Key": "cp/missing"}), "NoSuchKey", 404)
    check("copy object", copy)

    def awkward_keys():
        keys = ["a", "a/b", "a/b/", "../up", "a/../../etc/passwd", "sp ace", "ünïcødé/ключ", "k" * 1024,
                "x/./y", "%2F", "q?=&", "trailing/"]
        for k in keys:
            s3.put_object(Bucket=b, Key=k, Body=k.encode())
        for k in keys:
            assert s3.get_object(Bucket=b, Key=k)["Body"].read() == k.encode(), k
        assert not os.path.exists("/etc/passwd-coffer"), "escape"
        listed = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, PaginationConfig={"PageSize": 3}):
            listed += [o["Key"] for o in page.get("Contents", [])]
        for k in keys:
            assert k in listed, k
        assert listed == sorted(listed, key=lambda s: s.encode())
        for k in keys:
            s3.delete_object(Bucket=b, Key=k)
        expect_error(lambda: s3.get_object(Bucket=b, Key="a"), "NoSuchKey", 404)
        expect_error(lambda: s3.put_object(Bucket=b, Key="k" * 1025, Body=b"x"), "KeyTooLongError", 400)
    check("awkward keys", awkward_keys)

    def listing():
        lb = "e2e-list"
        s3.create_bucket(Bucket=lb)
        keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "d/e/f/5"]
        for k in keys:
            s3.put_object(Bucket=lb, Key=k, Body=b"")
        r = s3.list_objects_v2(Bucket=lb, Delimiter="/")
        assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/", "d/"] and [o["Key"] for o in r["Contents"]] == ["c"]
        r = s3.list_objects_v2(Bucket=lb, Prefix="a/", Delimiter="/")
        assert [o["Key"] for o in r["Contents"]] == ["a/1", "a/2"] and [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"]
        r = s3.list_objects_v2(Bucket=lb, MaxKeys=2)
        assert r["IsTruncated"] and r["KeyCount"] == 2
        r2 = s3.list_objects_v2(Bucket=lb, MaxKeys=10, ContinuationToken=r["NextContinuationToken"])
        assert [o["Key"] for o in r2["Contents"]] == keys[2:]
        r = s3.list_objects_v2(Bucket=lb, StartAfter="b/4")
        assert [o["Key"] for o in r["Contents"]] == ["c", "d/e/f/5"]
        r = s3.list_objects(Bucket=lb, Delimiter="/", MaxKeys=2)
        assert r["IsTruncated"] and r["NextMarker"] == "b/"
        r = s3.list_objects(Bucket=lb, Delimiter="/", Marker="b/")
        assert [o["Key"] for o in r["Contents"]] == ["c"] and [p["Prefix"] for p in r["CommonPrefixes"]] == ["d/"]
        r = s3.list_objects(Bucket=lb, Marker="a/2")
        assert [o["Key"] for o in r["Contents"]][0] == "a/b/3"
        r = s3.list_objects_v2(Bucket=lb, Prefix="zz")
        assert r["KeyCount"] == 0 and "Contents" not in r
        r = s3.list_object_versions(Bucket=lb)
        assert all(v["VersionId"] == "null" for v in r["Versions"]) and len(r["Versions"]) == len(keys)
        s3.put_object(Bucket=lb, Key="sp ace+plus", Body=b"")
        r = s3.list_objects_v2(Bucket=lb, Prefix="sp", EncodingType="url")
        import urllib.parse
        assert [urllib.parse.unquote_plus(o["Key"]) for o in r["Contents"]] == ["sp ace+plus"], r["Contents"]
        expect_error(lambda: s3.delete_bucket(Bucket=lb), "BucketNotEmpty", 409)
        s3.delete_objects(Bucket=lb, Delete={"Objects": [{"Key": k} for k in keys + ["sp ace+plus"]]})
        s3.delete_bucket(Bucket=lb)
        expect_error(lambda: s3.head_bucket(Bucket=lb), "404", 404)
    check("listing", listing)

    def tagging():
        s3.put_object(Bucket=b, Key="tag/o", Body=b"t", Tagging="a=1&b=two%20words")
        assert sorted((t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket=b, Key="tag/o")["TagSet"]) == [("a", "1"), ("b", "two words")]
        s3.put_object_tagging(Bucket=b, Key="tag/o", Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
        assert s3.get_object_tagging(Bucket=b, Key="tag/o")["TagSet"] == [{"Key": "x", "Value": "y"}]
        assert s3.get_object(Bucket=b, Key="tag/o")["TagCount"] == 1
        s3.delete_object_tagging(Bucket=b, Key="tag/o")
        assert s3.get_object_tagging(Bucket=b, Key="tag/o")["TagSet"] == []
        expect_error(lambda: s3.put_object_tagging(Bucket=b, Key="tag/o", Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}), "InvalidTag", 400)
    check("object tagging", tagging)

    def policy():
        expect_error(lambda: s3.get_bucket_policy(Bucket=b), "NoSuchBucketPolicy", 404)
        doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}' % b
        s3.put_bucket_policy(Bucket=b, Policy=doc)
        assert s3.get_bucket_policy(Bucket=b)["Policy"] == doc
        expect_error(lambda: s3.put_bucket_policy(Bucket=b, Policy="{not json"), "MalformedPolicy", 400)
        s3.delete_bucket_policy(Bucket=b)
        expect_error(lambda: s3.get_bucket_policy(Bucket=b), "NoSuchBucketPolicy", 404)
    check("bucket policy storage", policy)

    def policy_evaluation():
        import json
        pb = "e2e-public"
        s3.create_bucket(Bucket=pb)
        for k in ("public/a", "public/secret/b", "private/c"):
            s3.put_object(Bucket=pb, Key=k, Body=k.encode())

        def anon(path, method="GET", data=None):
            req = urllib.request.Request(srv.url + path, data=data, method=method)
            try:
                with urllib.request.urlopen(req) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        assert anon(f"/{pb}/public/a")[0] == 403, "anonymous read without a policy"
        doc = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"],
             "Resource": [f"arn:aws:s3:::{pb}/public/*"]},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{pb}/public/secret/*"},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{pb}",
             "Condition": {"StringLike": {"s3:prefix": ["public/*"]}, "IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        ]}
        s3.put_bucket_policy(Bucket=pb, Policy=json.dumps(doc))
        assert anon(f"/{pb}/public/a") == (200, b"public/a")
        st, text = anon(f"/{pb}/public/secret/b")
        assert st == 403 and b"AccessDenied" in text, "Deny must win"
        assert anon(f"/{pb}/private/c")[0] == 403
        assert anon(f"/{pb}/public/x", method="PUT", data=b"nope")[0] == 403, "anonymous write"
        st, text = anon(f"/{pb}?list-type=2&prefix=public/")
        assert st == 200 and b"<Key>public/a</Key>" in text, text
        assert anon(f"/{pb}?list-type=2&prefix=private/")[0] == 403, "s3:prefix condition"
        assert anon(f"/{pb}?list-type=2")[0] == 403, "listing without the allowed prefix"
        other = dict(doc)
        other["Statement"] = [dict(doc["Statement"][0], Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})]
        s3.put_bucket_policy(Bucket=pb, Policy=json.dumps(other))
        assert anon(f"/{pb}/public/a")[0] == 403, "aws:SourceIp condition"
        bad = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other-bucket/*"}]}
        expect_error(lambda: s3.put_bucket_policy(Bucket=pb, Policy=json.dumps(bad)), "MalformedPolicy", 400)
        s3.delete_bucket_policy(Bucket=pb)
        assert anon(f"/{pb}/public/a")[0] == 403
    check("bucket policy evaluation for anonymous requests", policy_evaluation)

    def bad_input():
        md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        s3.put_object(Bucket=b, Key="digest", Body=b"kept")
        expect_error(lambda: s3.put_object(Bucket=b, Key="digest", Body=b"new", ContentMD5=md5), "BadDigest", 400)
        assert s3.get_object(Bucket=b, Key="digest")["Body"].read() == b"kept", "failed PUT changed stored data"
        bad = boto3.client("s3", endpoint_url=srv.url, aws_access_key_id=USER, aws_secret_access_key="wrong-secret",
                           region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
        expect_error(lambda: bad.list_buckets(), "SignatureDoesNotMatch", 403)
        unknown = boto3.client("s3", endpoint_url=srv.url, aws_access_key_id="nobody", aws_secret_access_key="x" * 16,
                               region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
        expect_error(lambda: unknown.list_buckets(), "InvalidAccessKeyId", 403)
        req = urllib.request.Request(srv.url + "/" + b + "/digest")
        try:
            urllib.request.urlopen(req)
            raise AssertionError("anonymous GET allowed")
        except urllib.error.HTTPError as e:
            assert e.code == 403, e.code
            assert b"<Code>AccessDenied</Code>" in e.read()
    check("bad input keeps data", bad_input)

    def presigned():
        s3.put_object(Bucket=b, Key="pre/o", Body=b"signed")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "pre/o"}, ExpiresIn=60)
        assert urllib.request.urlopen(url).read() == b"signed"
        v4 = client(srv.url, signature_version="s3v4")
        put = v4.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "pre/up"}, ExpiresIn=60)
        urllib.request.urlopen(urllib.request.Request(put, data=b"uploaded", method="PUT"))
        assert s3.get_object(Bucket=b, Key="pre/up")["Body"].read() == b"uploaded"
    check("presigned URLs", presigned)

    def post_form(url, fields, data):
        """Sends a browser-style POST upload; answers (status, body)."""
        boundary = "coffer-form-boundary"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
                     'Content-Type: application/octet-stream\r\n\r\n'.encode() + data
                     + f"\r\n--{boundary}--\r\n".encode())
        req = urllib.request.Request(url, data=b"".join(parts), method="POST", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def presigned_post():
        v4 = client(srv.url, signature_version="s3v4")
        post = v4.generate_presigned_post(b, "pre/form", ExpiresIn=60)
        data = body(300 * 1024, 7)  # several reads of the body past the form's fields
        status, _ = post_form(post["url"], post["fields"], data)
        assert status in (200, 204), status
        assert s3.get_object(Bucket=b, Key="pre/form")["Body"].read() == data
        # A malformed x-amz-date field: a clean 400, nothing stored.
        fields = dict(post["fields"], key="pre/form-bad")
        fields["x-amz-date"] = "2 260101T000000Z"
        status, text = post_form(post["url"], fields, b"x")
        assert status == 400 and b"<Code>InvalidRequest</Code>" in text, (status, text)
        assert error_code(lambda: s3.head_object(Bucket=b, Key="pre/form-bad"))[1] == 404
    check("presigned POST (browser form upload)", presigned_post)

    def chunked_and_checksums():
        c = client(srv.url, request_checksum_calculation="when_supported")
        data = body(3 << 20, 9)
        c.put_object(Bucket=b, Key="ck/crc", Body=io.BytesIO(data), ChecksumAlgorithm="CRC32")
        assert c.get_object(Bucket=b, Key="ck/crc")["Body"].read() == data
        c.put_object(Bucket=b, Key="ck/sha", Body=data, ChecksumAlgorithm="SHA256")
        assert c.get_object(Bucket=b, Key="ck/sha")["Body"].read() == data
        # The checksum is kept and returned when asked for (and checked by boto3).
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert c.head_object(Bucket=b, Key="ck/sha", ChecksumMode="ENABLED")["ChecksumSHA256"] == sha
        got = c.get_object(Bucket=b, Key="ck/sha", ChecksumMode="ENABLED")
        assert got["ChecksumSHA256"] == sha and got["Body"].read() == data
        assert "ChecksumSHA256" not in c.get_object(Bucket=b, Key="ck/sha", ChecksumMode="ENABLED", Range="bytes=0-9")
        attrs = c.get_object_attributes(Bucket=b, Key="ck/sha", ObjectAttributes=["Checksum"])
        assert attrs["Checksum"]["ChecksumSHA256"] == sha, attrs
        crc = c.head_object(Bucket=b, Key="ck/crc", ChecksumMode="ENABLED")
        assert crc.get("ChecksumCRC32"), crc
        plain = client(srv.url, request_checksum_calculation="when_required")
        bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        expect_error(lambda: plain.put_object(Bucket=b, Key="ck/sha", Body=b"new", ChecksumSHA256=bad), "BadDigest", 400)
        assert c.get_object(Bucket=b, Key="ck/sha")["Body"].read() == data, "a bad checksum changed stored data"
    check("aws-chunked uploads with trailing checksums", chunked_and_checksums)

    def virtual_host():
        vh = client(srv.url, s3={"addressing_style": "path"})
        assert vh.get_object(Bucket=b, Key="pre/o")["Body"].read() == b"signed"
    check("path-style addressing", virtual_host)

    def health_and_metrics():
        assert urllib.request.urlopen(srv.url + "/minio/health/live").status == 200
        assert urllib.request.urlopen(srv.url + "/minio/health/ready").status == 200
        text = urllib.request.urlopen(srv.url + "/minio/v2/metrics/cluster").read().decode()
        assert "coffer_s3_requests_total" in text
        assert "coffer_s3_request_duration_seconds_bucket{le=\"+Inf\"}" in text, text
    check("health and metrics", health_and_metrics)

    def concurrency():
        def one(i):
            data = body(1000 + i, i)
            s3.put_object(Bucket=b, Key=f"conc/{i}", Body=data)
            return s3.get_object(Bucket=b, Key=f"conc/{i}")["Body"].read() == data
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            assert all(ex.map(one, range(64)))
        def same(i):
            s3.put_object(Bucket=b, Key="conc/same", Body=body(70000, i))
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(same, range(16)))
        got = s3.get_object(Bucket=b, Key="conc/same")["Body"].read()
        assert any(got == body(70000, i) for i in range(16)), "overwrite race produced a mix"
    check("concurrent writers", concurrency)

    def users_and_ownership():
        alt = client(srv.url, ALT_USER, ALT_PASSWORD)
        ab = "e2e-alt-bucket"
        alt.create_bucket(Bucket=ab)
        alt.put_object(Bucket=ab, Key="mine", Body=b"alt data")
        names = [x["Name"] for x in alt.list_buckets()["Buckets"]]
        assert ab in names and b not in names, names
        assert ab in [x["Name"] for x in s3.list_buckets()["Buckets"]], "root sees every bucket"
        assert s3.get_object(Bucket=ab, Key="mine")["Body"].read() == b"alt data"
        expect_error(lambda: alt.get_object(Bucket=b, Key="digest"), "AccessDenied", 403)
        expect_error(lambda: alt.put_object(Bucket=b, Key="intruder", Body=b"x"), "AccessDenied", 403)
        expect_error(lambda: alt.delete_object(Bucket=b, Key="digest"), "AccessDenied", 403)
        r = alt.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "digest"}]})
        assert [e["Code"] for e in r.get("Errors", [])] == ["AccessDenied"] and not r.get("Deleted"), r
        assert s3.get_object(Bucket=b, Key="digest")["Body"].read() == b"kept"
        expect_error(lambda: alt.list_objects_v2(Bucket=b), "AccessDenied", 403)
        expect_error(lambda: alt.put_bucket_policy(Bucket=b, Policy="{}"), "AccessDenied", 403)
        expect_error(lambda: alt.create_bucket(Bucket=b), "BucketAlreadyExists", 409)
        expect_error(lambda: alt.copy_object(Bucket=ab, Key="stolen", CopySource={"Bucket": b, "Key": "digest"}),
                     "AccessDenied", 403)
        expect_error(lambda: alt.get_object(Bucket=ab, Key="stolen"), "NoSuchKey", 404)
        s3.put_object(Bucket=b, Key="shared/doc", Body=b"for alt")
        s3.put_object(Bucket=b, Key="shared/secret", Body=b"not for alt")
        doc = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::123456789012:user/{ALT_USER}"]},
             "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{b}/shared/*"]},
            {"Effect": "Deny", "Principal": {"AWS": ALT_USER}, "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{b}/shared/secret"},
            {"Effect": "Allow", "Principal": {"AWS": ALT_USER}, "Action": "s3:DeleteObject",
             "Resource": f"arn:aws:s3:::{b}/shared/tmp-*"}]}
        s3.put_bucket_policy(Bucket=b, Policy=json.dumps(doc))
        try:
            assert alt.get_object(Bucket=b, Key="shared/doc")["Body"].read() == b"for alt"
            expect_error(lambda: alt.get_object(Bucket=b, Key="shared/secret"), "AccessDenied", 403)
            expect_error(lambda: alt.put_object(Bucket=b, Key="shared/x", Body=b"x"), "AccessDenied", 403)
            s3.put_object(Bucket=b, Key="shared/tmp-1", Body=b"scratch")
            r = alt.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "shared/tmp-1"}, {"Key": "digest"}]})
            assert [d["Key"] for d in r.get("Deleted", [])] == ["shared/tmp-1"], r
            assert [(e["Key"], e["Code"]) for e in r.get("Errors", [])] == [("digest", "AccessDenied")], r
            assert s3.get_object(Bucket=b, Key="digest")["Body"].read() == b"kept"
            expect_error(lambda: s3.head_object(Bucket=b, Key="shared/tmp-1"), "404", 404)
            alt.copy_object(Bucket=ab, Key="copied", CopySource={"Bucket": b, "Key": "shared/doc"})
            assert alt.get_object(Bucket=ab, Key="copied")["Body"].read() == b"for alt"
            anon = urllib.request.Request(f"{srv.url}/{b}/shared/doc")
            try:
                urllib.request.urlopen(anon)
                raise AssertionError("a policy for one user let anonymous requests in")
            except urllib.error.HTTPError as e:
                assert e.code == 403, e.code
            bad = {"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": ALT_USER}, "Action": "s3:GetObject",
                                  "Resource": f"arn:aws:s3:::{b}/*"}]}
            expect_error(lambda: s3.put_bucket_policy(Bucket=b, Policy=json.dumps(bad)), "MalformedPolicy", 400)
        finally:
            s3.delete_bucket_policy(Bucket=b)
        expect_error(lambda: alt.get_object(Bucket=b, Key="shared/doc"), "AccessDenied", 403)
        expect_error(lambda: alt.get_object(Bucket="no-such-bucket-x", Key="k"), "NoSuchBucket", 404)
    check("users own their buckets; others need a policy", users_and_ownership)

    def conditional_writes():
        key = "cond/once"
        def create(i):
            try:
                s3.put_object(Bucket=b, Key=key, Body=body(5000, i), IfNoneMatch="*")
                return i
            except botocore.exceptions.ClientError as e:
                assert e.response["Error"]["Code"] == "PreconditionFailed", e.response["Error"]
                return None
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            winners = [i for i in ex.map(create, range(16)) if i is not None]
        assert len(winners) == 1, f"If-None-Match: * let {len(winners)} writers create the key"
        assert s3.get_object(Bucket=b, Key=key)["Body"].read() == body(5000, winners[0])
        etag = s3.head_object(Bucket=b, Key=key)["ETag"]
        expect_error(lambda: s3.put_object(Bucket=b, Key=key, Body=b"x", IfMatch='"0123"'), "PreconditionFailed", 412)
        expect_error(lambda: s3.put_object(Bucket=b, Key="cond/absent", Body=b"x", IfMatch=etag), "NoSuchKey", 404)
        s3.put_object(Bucket=b, Key=key, Body=b"second", IfMatch=etag)
        etag = s3.head_object(Bucket=b, Key=key)["ETag"]
        expect_error(lambda: s3.delete_object(Bucket=b, Key=key, IfMatch='"0123"'), "PreconditionFailed", 412)
        assert s3.get_object(Bucket=b, Key=key)["Body"].read() == b"second", "failed conditional delete removed data"
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": key, "ETag": '"0123"'}]})
        assert [e["Code"] for e in r.get("Errors", [])] == ["PreconditionFailed"], r
        s3.delete_object(Bucket=b, Key=key, IfMatch=etag)
        expect_error(lambda: s3.head_object(Bucket=b, Key=key), "404", 404)
        up = s3.create_multipart_upload(Bucket=b, Key=key)["UploadId"]
        e1 = s3.upload_part(Bucket=b, Key=key, UploadId=up, PartNumber=1, Body=b"mp")["ETag"]
        parts = {"Parts": [{"PartNumber": 1, "ETag": e1}]}
        s3.put_object(Bucket=b, Key=key, Body=b"raced")
        expect_error(lambda: s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=up, MultipartUpload=parts,
                                                          IfNoneMatch="*"), "PreconditionFailed", 412)
        assert s3.get_object(Bucket=b, Key=key)["Body"].read() == b"raced"
        done = s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=up, MultipartUpload=parts)
        again = s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=up, MultipartUpload=parts)
        assert done["ETag"] == again["ETag"], "a repeated Complete must answer as the first"
        expect_error(lambda: s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=up,
                                                          MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0123"'}]}),
                     "NoSuchUpload", 404)
    check("conditional writes and deletes are atomic", conditional_writes)

    def protocol_details():
        # SSE-S3 works out of the box (the development KMS); tests/e2e/s3_sse.py covers SSE.
        put = s3.put_object(Bucket=b, Key="sse/o", Body=b"x", ServerSideEncryption="AES256")
        assert put["ServerSideEncryption"] == "AES256" and put["ETag"] == '"9dd4e461268c8034f5c8564e155c67a6"', put
        assert s3.head_object(Bucket=b, Key="sse/o")["ServerSideEncryption"] == "AES256"
        s3.delete_object(Bucket=b, Key="sse/o")
        try:
            s3.get_object(Bucket=b, Key="no/such/key")
            raise AssertionError("missing key read")
        except botocore.exceptions.ClientError as e:
            rid = e.response["ResponseMetadata"]["RequestId"]
            assert rid and e.response["Error"].get("RequestId", rid) == rid, e.response
        req = urllib.request.Request(s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "no/such/key"}))
        try:
            urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            assert f"<RequestId>{e.headers['x-amz-request-id']}</RequestId>" in text, text
        s3.put_object(Bucket=b, Key="nm", Body=b"v")
        head = s3.head_object(Bucket=b, Key="nm")
        try:
            s3.get_object(Bucket=b, Key="nm", IfNoneMatch=head["ETag"])
            raise AssertionError("If-None-Match on the current ETag must be 304")
        except botocore.exceptions.ClientError as e:
            h = e.response["ResponseMetadata"]["HTTPHeaders"]
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 304
            assert h.get("etag") == head["ETag"] and "last-modified" in h, h
        expect_error(lambda: s3.get_object(Bucket=b, Key="nm", PartNumber=2), "InvalidPart", 400)
        long = client(srv.url, signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": b, "Key": "nm"}, ExpiresIn=604801)
        try:
            urllib.request.urlopen(long)
            raise AssertionError("a presigned URL valid for more than 7 days was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 403, e.code
        s3.put_object(Bucket=b, Key="tags/sorted", Body=b"t", Tagging="zeta=1&alpha=2&mid")
        assert [t["Key"] for t in s3.get_object_tagging(Bucket=b, Key="tags/sorted")["TagSet"]] == ["alpha", "mid", "zeta"]
        assert s3.head_object(Bucket=b, Key="tags/sorted")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "3"
        expect_error(lambda: s3.get_bucket_tagging(Bucket=b), "NoSuchTagSet", 404)
        s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "team", "Value": "storage"}]})
        assert s3.get_bucket_tagging(Bucket=b)["TagSet"] == [{"Key": "team", "Value": "storage"}]
        s3.delete_bucket_tagging(Bucket=b)
        expect_error(lambda: s3.get_bucket_tagging(Bucket=b), "NoSuchTagSet", 404)
        expect_error(lambda: s3.create_bucket(Bucket="dot.-dash"), "InvalidBucketName", 400)
        s3.create_bucket(Bucket="e2e-page-a")
        s3.create_bucket(Bucket="e2e-page-b")
        first = s3.list_buckets(MaxBuckets=1, Prefix="e2e-page-")
        assert [x["Name"] for x in first["Buckets"]] == ["e2e-page-a"] and first.get("ContinuationToken"), first
        second = s3.list_buckets(MaxBuckets=1, Prefix="e2e-page-", ContinuationToken=first["ContinuationToken"])
        assert [x["Name"] for x in second["Buckets"]] == ["e2e-page-b"] and not second.get("ContinuationToken"), second
        attrs = s3.get_object_attributes(Bucket=b, Key="nm", ObjectAttributes=["ETag", "ObjectSize"])
        assert attrs["ETag"] == head["ETag"].strip('"') and attrs["ObjectSize"] == 1, attrs
        r = s3.list_objects_v2(Bucket=b, Prefix="nm", Delimiter="")
        assert "Delimiter" not in r, r
    check("protocol details (errors, 304, SSE-S3, tags, pagination)", protocol_details)

    def cors():
        def call(method, path, headers):
            req = urllib.request.Request(srv.url + path, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req) as r:
                    return r.status, r.headers
            except urllib.error.HTTPError as e:
                return e.code, e.headers
        # No bucket configuration: every origin, as MinIO's default.
        st, h = call("OPTIONS", f"/{b}/nm", {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
                                            "Access-Control-Request-Headers": "content-type, x-amz-date"})
        assert st == 200 and h["Access-Control-Allow-Origin"] == "*", (st, dict(h))
        assert "PUT" in h["Access-Control-Allow-Methods"] and "x-amz-date" in h["Access-Control-Allow-Headers"]
        assert call("OPTIONS", f"/{b}/nm", {})[0] == 400, "a preflight needs an Origin"
        url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "nm"})
        req = urllib.request.Request(url, headers={"Origin": "https://app.example"})
        with urllib.request.urlopen(req) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "*" and "ETag" in r.headers["Access-Control-Expose-Headers"]
        # A bucket configuration replaces the default.
        expect_error(lambda: s3.get_bucket_cors(Bucket=b), "NoSuchCORSConfiguration", 404)
        rules = [{"AllowedOrigins": ["https://*.example"], "AllowedMethods": ["GET", "PUT"],
                  "AllowedHeaders": ["x-amz-*", "content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]
        s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": rules})
        got = s3.get_bucket_cors(Bucket=b)["CORSRules"]
        assert got[0]["AllowedOrigins"] == ["https://*.example"] and got[0]["MaxAgeSeconds"] == 600, got
        st, h = call("OPTIONS", f"/{b}/nm", {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
                                            "Access-Control-Request-Headers": "X-Amz-Date"})
        assert st == 200 and h["Access-Control-Allow-Origin"] == "https://app.example", (st, dict(h))
        assert h["Access-Control-Allow-Methods"] == "GET, PUT" and h["Access-Control-Max-Age"] == "600"
        assert call("OPTIONS", f"/{b}/nm", {"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"})[0] == 403
        assert call("OPTIONS", f"/{b}/nm", {"Origin": "https://app.example", "Access-Control-Request-Method": "DELETE"})[0] == 403
        assert call("OPTIONS", f"/{b}/nm", {"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
                                           "Access-Control-Request-Headers": "authorization"})[0] == 403
        st, h = call("GET", f"/{b}/nm", {"Origin": "https://evil.test"})
        assert st == 403 and "Access-Control-Allow-Origin" not in h, "an unlisted origin gets no grant"
        expect_error(lambda: s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}), "InvalidRequest", 400)
        s3.delete_bucket_cors(Bucket=b)
        expect_error(lambda: s3.get_bucket_cors(Bucket=b), "NoSuchCORSConfiguration", 404)
    check("CORS: MinIO's default, bucket rules, preflights", cors)

    def checksums():
        # boto3 >= 1.36 sends a CRC32 of every body by default; it is checked and echoed.
        r = s3.put_object(Bucket=b, Key="ck/default", Body=b"checksummed")
        assert r.get("ChecksumCRC32") == base64.b64encode(zlib.crc32(b"checksummed").to_bytes(4, "big")).decode(), r
        assert r.get("ChecksumType") == "FULL_OBJECT", r
        h = s3.head_object(Bucket=b, Key="ck/default", ChecksumMode="ENABLED")
        assert h["ChecksumCRC32"] == r["ChecksumCRC32"] and h["ChecksumType"] == "FULL_OBJECT", h
        parts = [body(5 << 20, "p1"), body(5 << 20, "p2"), body(1000, "p3")]
        whole = b"".join(parts)
        for algorithm, kind in [("SHA256", "COMPOSITE"), ("CRC32", "FULL_OBJECT"), ("CRC32C", "COMPOSITE"),
                                ("CRC64NVME", "FULL_OBJECT")]:
            key = f"ck/{algorithm}-{kind}"
            up = s3.create_multipart_upload(Bucket=b, Key=key, ChecksumAlgorithm=algorithm, ChecksumType=kind)
            assert up["ChecksumAlgorithm"] == algorithm and up["ChecksumType"] == kind, up
            done = []
            for n, p in enumerate(parts, 1):
                r = s3.upload_part(Bucket=b, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=p,
                                   ChecksumAlgorithm=algorithm)
                done.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{algorithm}": r[f"Checksum{algorithm}"]})
            r = s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=up["UploadId"],
                                             MultipartUpload={"Parts": done})
            assert r["ChecksumType"] == kind, r
            value = r[f"Checksum{algorithm}"]
            if kind == "COMPOSITE":
                assert value.endswith("-3"), value
                if algorithm == "SHA256":
                    raw = b"".join(base64.b64decode(d["ChecksumSHA256"]) for d in done)
                    assert value == base64.b64encode(hashlib.sha256(raw).digest()).decode() + "-3"
            elif algorithm == "CRC32":
                assert value == base64.b64encode(zlib.crc32(whole).to_bytes(4, "big")).decode(), value
            h = s3.head_object(Bucket=b, Key=key, ChecksumMode="ENABLED")
            assert h[f"Checksum{algorithm}"] == value and h["ChecksumType"] == kind, h
            a = s3.get_object_attributes(Bucket=b, Key=key, ObjectAttributes=["Checksum", "ObjectParts"])
            assert a["Checksum"][f"Checksum{algorithm}"] == value and a["Checksum"]["ChecksumType"] == kind, a
            g = s3.get_object(Bucket=b, Key=key, PartNumber=2)
            assert g[f"Checksum{algorithm}"] == done[1][f"Checksum{algorithm}"], g
            assert g["Body"].read() == parts[1]
        # A wrong part checksum in the completion, and an unsupported type, are refused.
        up = s3.create_multipart_upload(Bucket=b, Key="ck/bad", ChecksumAlgorithm="SHA256")
        r = s3.upload_part(Bucket=b, Key="ck/bad", UploadId=up["UploadId"], PartNumber=1, Body=b"x",
                           ChecksumAlgorithm="SHA256")
        expect_error(lambda: s3.complete_multipart_upload(Bucket=b, Key="ck/bad", UploadId=up["UploadId"],
                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"],
                                                 "ChecksumSHA256": base64.b64encode(b"0" * 32).decode()}]}),
                     "InvalidPart", 400)
        expect_error(lambda: s3.create_multipart_upload(Bucket=b, Key="ck/x", ChecksumAlgorithm="SHA256",
                                                        ChecksumType="FULL_OBJECT"), "InvalidRequest", 400)
    check("checksums: default CRC32 echoed, COMPOSITE and FULL_OBJECT multipart checksums", checksums)

    def acls():
        owner = s3.get_bucket_acl(Bucket=b)
        grants = owner["Grants"]
        assert len(grants) == 1 and grants[0]["Permission"] == "FULL_CONTROL", grants
        assert grants[0]["Grantee"]["ID"] == owner["Owner"]["ID"]
        s3.put_object(Bucket=b, Key="acl/obj", Body=b"x", ACL="private")
        s3.put_object(Bucket=b, Key="acl/obj", Body=b"x", ACL="bucket-owner-full-control")
        assert s3.get_object_acl(Bucket=b, Key="acl/obj")["Grants"][0]["Permission"] == "FULL_CONTROL"
        s3.put_bucket_acl(Bucket=b, ACL="private")
        for fn in [lambda: s3.put_object(Bucket=b, Key="acl/pub", Body=b"x", ACL="public-read"),
                   lambda: s3.put_bucket_acl(Bucket=b, ACL="public-read"),
                   lambda: s3.put_object_acl(Bucket=b, Key="acl/obj", ACL="authenticated-read"),
                   lambda: s3.put_object_acl(Bucket=b, Key="acl/obj", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"'),
                   lambda: s3.create_bucket(Bucket="acl-public", ACL="public-read-write")]:
            expect_error(fn, "AccessControlListNotSupported", 400)
        expect_error(lambda: s3.head_object(Bucket=b, Key="acl/pub"), "404", 404)
        oc = s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"]
        assert oc == [{"ObjectOwnership": "BucketOwnerEnforced"}], oc
        expect_error(lambda: s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={
            "Rules": [{"ObjectOwnership": "ObjectWriter"}]}), "InvalidArgument", 400)
    check("ACLs disabled (BucketOwnerEnforced): owner FULL_CONTROL shown, other ACLs refused", acls)


def crash(data_dir):
    """SIGKILL the server during 200 concurrent PUTs; after restart every acknowledged
    object reads back byte-exact and no object is partial."""
    def run_crash():
        srv = Server(data_dir)
        s3 = client(srv.url)
        bucket = "crash-bucket"
        try:
            s3.create_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError:
            pass
        acked = {}

        def put(i):
            data = body(1 + (i * 7919) % (3 << 20), 1000 + i)
            try:
                s3.put_object(Bucket=bucket, Key=f"obj/{i}", Body=data)
                acked[i] = data
            except Exception:  # noqa: BLE001 - the server dies mid-request
                pass

        with concurrent.futures.ThreadPoolExecutor(32) as ex:
            futures = [ex.submit(put, i) for i in range(200)]
            deadline = time.time() + 30
            while len(acked) < 40 and time.time() < deadline:
                time.sleep(0.01)
            srv.kill()
            concurrent.futures.wait(futures, timeout=60)
        assert 0 < len(acked) < 200, f"{len(acked)} acknowledged: the kill did not land mid-run"
        srv2 = Server(data_dir)
        try:
            s3 = client(srv2.url)
            for i, data in acked.items():
                assert s3.get_object(Bucket=bucket, Key=f"obj/{i}")["Body"].read() == data, f"obj/{i} corrupt"
            for o in s3.list_objects_v2(Bucket=bucket, Prefix="obj/", MaxKeys=1000).get("Contents", []):
                i = int(o["Key"].split("/")[1])
                data = body(1 + (i * 7919) % (3 << 20), 1000 + i)
                got = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                assert got == data, f"{o['Key']} visible but partial"
            leftovers = os.listdir(os.path.join(data_dir, ".coffer.sys", "tmp"))
            assert leftovers == [], f"temporary files left after restart: {len(leftovers)}"
        finally:
            srv2.kill()
    check("crash during 200 concurrent PUTs", run_crash)

    def version_size(t, v):
        # Inline records (up to 128 KiB stored) and data files in turn, so overwrites
        # move objects between the two.
        return (1 + (t * 131 + v * 977) % 100_000) if (t + v) % 2 else (140_000 + (t * 7 + v) * 4099 % 500_000)

    def run_group_crash():
        srv = Server(data_dir)
        s3 = client(srv.url, max_pool_connections=64)
        bucket = "crash-group"
        try:
            s3.create_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError:
            pass
        writers, acked, attempted, stop = 48, {}, {}, threading.Event()

        def writer(t):
            for v in range(1000):
                if stop.is_set():
                    return
                attempted[t] = v
                try:
                    s3.put_object(Bucket=bucket, Key=f"gc/{t}", Body=body(version_size(t, v), f"{t}/{v}"))
                except Exception:  # noqa: BLE001 - the server dies mid-request
                    return
                acked[t] = v

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(writers)]
        for th in threads:
            th.start()
        deadline = time.time() + 60
        while sum(v + 1 for v in acked.values()) < 400 and time.time() < deadline:
            time.sleep(0.01)
        srv.kill()
        stop.set()
        for th in threads:
            th.join(60)
        total = sum(v + 1 for v in acked.values())
        assert total >= 400, f"only {total} writes acknowledged before the kill"
        srv2 = Server(data_dir)
        try:
            s3 = client(srv2.url)
            for t in range(writers):
                try:
                    got = s3.get_object(Bucket=bucket, Key=f"gc/{t}")["Body"].read()
                except botocore.exceptions.ClientError:
                    assert t not in acked, f"gc/{t}: version {acked[t]} acknowledged, object gone"
                    continue
                lo, hi = acked.get(t, 0), attempted.get(t, 0)
                match = [v for v in range(lo, hi + 1) if got == body(version_size(t, v), f"{t}/{v}")]
                assert match, f"gc/{t}: content is no version in {lo}..{hi} (acknowledged up to {acked.get(t)})"
            leftovers = os.listdir(os.path.join(data_dir, ".coffer.sys", "tmp"))
            assert leftovers == [], f"temporary files left after restart: {len(leftovers)}"
        finally:
            srv2.kill()
    check("crash during group commits of 48 overwriting writers", run_group_crash)


if __name__ == "__main__":
    main()
