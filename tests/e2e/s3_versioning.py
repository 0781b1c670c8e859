#!/usr/bin/env python3
"""End-to-end checks of versioning and object lock with boto3 and aws-cli against the
real `coffer` binary: versions of plain, SSE-S3 and SSE-C objects, delete markers,
suspended versioning, version listings paged one entry at a time, copies and tags by
version ID, object lock (retention, legal hold, governance bypass by policy), and a
crash test (SIGKILL during concurrent versioned PUT and DELETE, then every acknowledged
version byte-exact and exactly one latest version per key).

Usage: COFFER_BIN=target/debug/coffer python3 tests/e2e/s3_versioning.py
Servers listen on 127.0.0.1 only (HTTPS, self-signed), in temporary directories, and
are killed by PID. Prints `N passed, M failed` last; exits non-zero if anything failed.
"""
import base64
import concurrent.futures
import datetime
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3_sse as h  # noqa: E402 - shared helpers: Server, certificates, check()

import botocore  # noqa: E402

ALT_USER, ALT_PASSWORD = "lock-second", "lock-second-password"
MASTER = hashlib.sha256(b"coffer-versioning-suite").digest()
KMS_ENV = {"MINIO_KMS_SECRET_KEY": "vkey:" + base64.b64encode(MASTER).decode()}
K1 = h.K1
K1_MD5 = h.K1_MD5
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(K1).decode(),
        "SSECustomerKeyMD5": K1_MD5}
FAR = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)


def versions_of(s3, bucket, key=None):
    """Every (key, version id, is latest, is marker), newest first per key."""
    out, kw = [], {"Bucket": bucket}
    while True:
        r = s3.list_object_versions(**kw)
        rows = [(v["Key"], v["VersionId"], v["IsLatest"], False, v["LastModified"]) for v in r.get("Versions", [])]
        rows += [(m["Key"], m["VersionId"], m["IsLatest"], True, m["LastModified"]) for m in r.get("DeleteMarkers", [])]
        out += rows
        if not r["IsTruncated"]:
            break
        kw.update(KeyMarker=r["NextKeyMarker"], VersionIdMarker=r.get("NextVersionIdMarker", ""))
    if key is not None:
        out = [o for o in out if o[0] == key]
    # boto3 splits versions and delete markers into two lists: newest first again by
    # time (millisecond precision), then by ID (time-ordered IDs).
    out.sort(key=lambda o: (o[4], o[1] if o[1] != "null" else ""), reverse=True)
    out.sort(key=lambda o: o[0])
    return [(k, v, latest, marker) for k, v, latest, marker, _ in out]


def basics(s3, srv):
    def enabled():
        s3.create_bucket(Bucket="ver")
        assert "Status" not in s3.get_bucket_versioning(Bucket="ver")
        r = s3.put_object(Bucket="ver", Key="k", Body=b"before versioning")
        assert "VersionId" not in r, "an unversioned bucket shows no version id"
        s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
        assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Enabled"
        bodies = [h.body(1000, "v1"), h.MARKER, h.body(300_000, "v3")]
        ids = []
        ids.append(s3.put_object(Bucket="ver", Key="k", Body=bodies[0])["VersionId"])
        ids.append(s3.put_object(Bucket="ver", Key="k", Body=bodies[1], ServerSideEncryption="AES256")["VersionId"])
        ids.append(s3.put_object(Bucket="ver", Key="k", Body=bodies[2], **SSEC)["VersionId"])
        assert len(set(ids)) == 3 and "null" not in ids, ids
        # Each version reads back byte-exact, with its own encryption.
        r = s3.get_object(Bucket="ver", Key="k", VersionId="null")
        assert r["Body"].read() == b"before versioning" and r["VersionId"] == "null"
        assert s3.get_object(Bucket="ver", Key="k", VersionId=ids[0])["Body"].read() == bodies[0]
        r = s3.get_object(Bucket="ver", Key="k", VersionId=ids[1])
        assert r["Body"].read() == bodies[1] and r["ServerSideEncryption"] == "AES256"
        assert r["ETag"].strip('"') == hashlib.md5(bodies[1]).hexdigest()
        r = s3.get_object(Bucket="ver", Key="k", VersionId=ids[2], **SSEC)
        assert r["Body"].read() == bodies[2] and r["VersionId"] == ids[2]
        h.expect_error(lambda: s3.get_object(Bucket="ver", Key="k", VersionId=ids[2]), "InvalidRequest", 400,
                       "SSE-C version without its key")
        r = s3.head_object(Bucket="ver", Key="k", VersionId=ids[1])
        assert r["VersionId"] == ids[1] and r["ContentLength"] == len(bodies[1])
        r = s3.get_object(Bucket="ver", Key="k", VersionId=ids[1], Range="bytes=100-199")
        assert r["Body"].read() == bodies[1][100:200]
        assert [v for _, v, _, _ in versions_of(s3, "ver", "k")] == ids[::-1] + ["null"]
        # A delete adds a marker; the key reads as absent; the versions stay.
        r = s3.delete_object(Bucket="ver", Key="k")
        assert r["DeleteMarker"] is True and r["VersionId"] not in ids, r
        marker = r["VersionId"]
        try:
            s3.get_object(Bucket="ver", Key="k")
            raise AssertionError("GET of a deleted key succeeded")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "NoSuchKey", e.response
            hd = e.response["ResponseMetadata"]["HTTPHeaders"]
            assert hd.get("x-amz-delete-marker") == "true" and hd.get("x-amz-version-id") == marker, hd
        h.expect_error(lambda: s3.get_object(Bucket="ver", Key="k", VersionId=marker), "MethodNotAllowed", 405)
        h.expect_error(lambda: s3.get_object(Bucket="ver", Key="k", VersionId="0" * 32), "NoSuchVersion", 404)
        h.expect_error(lambda: s3.get_object(Bucket="ver", Key="k", VersionId="not-a-version"),
                       "InvalidArgument", 400)
        assert "Contents" not in s3.list_objects_v2(Bucket="ver")
        listed = versions_of(s3, "ver", "k")
        assert listed[0] == ("k", marker, True, True) and len(listed) == 5, listed
        assert sum(1 for row in listed if row[2]) == 1, "exactly one latest"
        # Removing the marker brings the newest version back.
        r = s3.delete_object(Bucket="ver", Key="k", VersionId=marker)
        assert r["DeleteMarker"] is True and r["VersionId"] == marker
        assert s3.get_object(Bucket="ver", Key="k", **SSEC)["Body"].read() == bodies[2]
        # Deleting a version for good.
        r = s3.delete_object(Bucket="ver", Key="k", VersionId=ids[0])
        assert r["VersionId"] == ids[0] and not r.get("DeleteMarker")
        h.expect_error(lambda: s3.head_object(Bucket="ver", Key="k", VersionId=ids[0]), "404", 404)
        # No plaintext of the encrypted versions anywhere under DIR.
        for root, _, files in os.walk(srv.dir):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    assert h.PHRASE not in fh.read(), f"plaintext marker in {f}"
    h.check("versioning enabled: plain, SSE-S3 and SSE-C versions, markers, 404/405, no plaintext on disk", enabled)

    def suspended():
        s3.create_bucket(Bucket="sus")
        s3.put_bucket_versioning(Bucket="sus", VersioningConfiguration={"Status": "Enabled"})
        v1 = s3.put_object(Bucket="sus", Key="k", Body=b"one")["VersionId"]
        s3.put_bucket_versioning(Bucket="sus", VersioningConfiguration={"Status": "Suspended"})
        assert s3.get_bucket_versioning(Bucket="sus")["Status"] == "Suspended"
        s3.put_object(Bucket="sus", Key="k", Body=b"two")
        s3.put_object(Bucket="sus", Key="k", Body=b"three")
        rows = versions_of(s3, "sus", "k")
        assert [(v, latest) for _, v, latest, _ in rows] == [("null", True), (v1, False)], rows
        assert s3.get_object(Bucket="sus", Key="k")["Body"].read() == b"three"
        r = s3.delete_object(Bucket="sus", Key="k")
        assert r["DeleteMarker"] is True and r["VersionId"] == "null", r
        rows = versions_of(s3, "sus", "k")
        assert rows == [("k", "null", True, True), ("k", v1, False, False)], rows
        assert s3.get_object(Bucket="sus", Key="k", VersionId=v1)["Body"].read() == b"one"
        h.expect_error(lambda: s3.put_bucket_versioning(Bucket="sus", VersioningConfiguration={"Status": "Off"}),
                       "MalformedXML", 400)
    h.check("versioning suspended: writes and deletes replace the null version only", suspended)

    def copies_and_tags():
        s3.create_bucket(Bucket="cpv")
        s3.put_bucket_versioning(Bucket="cpv", VersioningConfiguration={"Status": "Enabled"})
        old = s3.put_object(Bucket="cpv", Key="src", Body=b"old body", **SSEC)["VersionId"]
        s3.put_object(Bucket="cpv", Key="src", Body=b"new body")
        r = s3.copy_object(Bucket="cpv", Key="dst", CopySource={"Bucket": "cpv", "Key": "src", "VersionId": old},
                           CopySourceSSECustomerAlgorithm="AES256",
                           CopySourceSSECustomerKey=SSEC["SSECustomerKey"],
                           CopySourceSSECustomerKeyMD5=K1_MD5, ServerSideEncryption="AES256")
        assert r["CopySourceVersionId"] == old and r["VersionId"] not in (None, "null", old), r
        assert s3.get_object(Bucket="cpv", Key="dst")["Body"].read() == b"old body"
        # Upload part copy from an old version.
        up = s3.create_multipart_upload(Bucket="cpv", Key="mp")["UploadId"]
        p = s3.upload_part_copy(Bucket="cpv", Key="mp", UploadId=up, PartNumber=1,
                                CopySource={"Bucket": "cpv", "Key": "src", "VersionId": old},
                                CopySourceSSECustomerAlgorithm="AES256",
                                CopySourceSSECustomerKey=SSEC["SSECustomerKey"],
                                CopySourceSSECustomerKeyMD5=K1_MD5)
        r = s3.complete_multipart_upload(Bucket="cpv", Key="mp", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": p["CopyPartResult"]["ETag"]}]})
        assert r["VersionId"] not in (None, "null"), r
        assert s3.get_object(Bucket="cpv", Key="mp")["Body"].read() == b"old body"
        # Tags per version.
        s3.put_object_tagging(Bucket="cpv", Key="src", VersionId=old, Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
        assert s3.get_object_tagging(Bucket="cpv", Key="src", VersionId=old)["TagSet"] == [{"Key": "a", "Value": "1"}]
        assert s3.get_object_tagging(Bucket="cpv", Key="src")["TagSet"] == []
        attrs = s3.get_object_attributes(Bucket="cpv", Key="src", VersionId=old, ObjectAttributes=["ObjectSize"],
                                         **SSEC)
        assert attrs["ObjectSize"] == 8 and attrs["VersionId"] == old, attrs
        # Copying from a delete marker by ID is refused.
        marker = s3.delete_object(Bucket="cpv", Key="src")["VersionId"]
        h.expect_error(lambda: s3.copy_object(Bucket="cpv", Key="x",
                                              CopySource={"Bucket": "cpv", "Key": "src", "VersionId": marker}),
                       "InvalidRequest", 400)
        h.expect_error(lambda: s3.copy_object(Bucket="cpv", Key="x", CopySource={"Bucket": "cpv", "Key": "src"}),
                       "NoSuchKey", 404)
    h.check("copy and part copy from a version, tags and attributes by version ID", copies_and_tags)

    def listing():
        s3.create_bucket(Bucket="lst")
        s3.put_bucket_versioning(Bucket="lst", VersioningConfiguration={"Status": "Enabled"})
        expected, markers = [], set()
        rng = random.Random(7)
        keys = ["a", "a/b", "a/c/d", "b", "b/", "c", "c0", "d/e/f"]
        for k in keys:
            for _ in range(rng.randint(1, 4)):
                if rng.random() < 0.25:
                    expected.append((k, s3.delete_object(Bucket="lst", Key=k)["VersionId"]))
                    markers.add(expected[-1][1])
                else:
                    expected.append((k, s3.put_object(Bucket="lst", Key=k, Body=k.encode())["VersionId"]))
        want = []
        for k in keys:
            want += [(k, v) for kk, v in reversed(expected) if kk == k]
        for page in (1, 2, 3, 1000):
            got, kw = [], {"Bucket": "lst", "MaxKeys": page}
            for _ in range(200):
                r = s3.list_object_versions(**kw)
                rows = [(v["Key"], v["VersionId"], v["LastModified"]) for v in r.get("Versions", [])]
                rows += [(m["Key"], m["VersionId"], m["LastModified"]) for m in r.get("DeleteMarkers", [])]
                assert len(rows) <= page
                # Within a page, versions and markers of one key come newest first.
                rows.sort(key=lambda x: (x[0], [v for kk, v in want].index(x[1])))
                got += [(k, v) for k, v, _ in rows]
                if not r["IsTruncated"]:
                    break
                kw.update(KeyMarker=r["NextKeyMarker"], VersionIdMarker=r["NextVersionIdMarker"])
            assert got == want, f"page size {page}: {got} != {want}"
        r = s3.list_object_versions(Bucket="lst", Delimiter="/")
        assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/", "d/"], r["CommonPrefixes"]
        r = s3.list_object_versions(Bucket="lst", Prefix="a/", Delimiter="/")
        assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["a/c/"]
        # Object listings show latest versions that are not delete markers.
        live = sorted(k for k in keys if [v for kk, v in expected if kk == k][-1] not in markers)
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="lst").get("Contents", [])]
        assert listed == live, (listed, live)
    h.check("ListObjectVersions paged by 1, 2, 3 and 1000: no version skipped or repeated; delimiters", listing)

    def many_delete():
        s3.create_bucket(Bucket="mdel")
        s3.put_bucket_versioning(Bucket="mdel", VersioningConfiguration={"Status": "Enabled"})
        ids = [s3.put_object(Bucket="mdel", Key=f"k{i}", Body=b"x")["VersionId"] for i in range(3)]
        r = s3.delete_objects(Bucket="mdel", Delete={"Objects": [{"Key": "k0", "VersionId": ids[0]}, {"Key": "k1"}]})
        dels = {d["Key"]: d for d in r["Deleted"]}
        assert dels["k0"]["VersionId"] == ids[0] and not dels["k0"].get("DeleteMarker"), dels
        assert dels["k1"]["DeleteMarker"] is True and dels["k1"]["DeleteMarkerVersionId"], dels
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="mdel")["Contents"]] == ["k2"]
        h.expect_error(lambda: s3.delete_bucket(Bucket="mdel"), "BucketNotEmpty", 409)
        for k, v, _, _ in versions_of(s3, "mdel"):
            s3.delete_object(Bucket="mdel", Key=k, VersionId=v)
        s3.delete_bucket(Bucket="mdel")
    h.check("DeleteObjects with version IDs and markers; a bucket with versions is not empty", many_delete)

    def aws_cli():
        env = h.clean_env(AWS_ACCESS_KEY_ID=h.USER, AWS_SECRET_ACCESS_KEY=h.PASSWORD, AWS_DEFAULT_REGION="us-east-1",
                          AWS_CA_BUNDLE=srv.cert)

        def aws(*args):
            out = subprocess.run(["aws", "--endpoint-url", srv.url, *args], env=env, capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, f"aws {' '.join(args)}: {out.stderr}"
            return json.loads(out.stdout) if out.stdout.strip() else {}
        aws("s3api", "create-bucket", "--bucket", "cli")
        aws("s3api", "put-bucket-versioning", "--bucket", "cli", "--versioning-configuration", "Status=Enabled")
        assert aws("s3api", "get-bucket-versioning", "--bucket", "cli")["Status"] == "Enabled"
        tmp = tempfile.mkdtemp()
        try:
            ids = []
            for n in range(2):
                p = os.path.join(tmp, f"in{n}")
                with open(p, "wb") as f:
                    f.write(h.body(5000, ("cli", n)))
                ids.append(aws("s3api", "put-object", "--bucket", "cli", "--key", "f", "--body", p,
                               "--server-side-encryption", "AES256")["VersionId"])
            listed = aws("s3api", "list-object-versions", "--bucket", "cli")
            assert [v["VersionId"] for v in listed["Versions"]] == ids[::-1], listed
            out = os.path.join(tmp, "out")
            aws("s3api", "get-object", "--bucket", "cli", "--key", "f", "--version-id", ids[0], out)
            with open(out, "rb") as f:
                assert f.read() == h.body(5000, ("cli", 0))
            # Object lock.
            aws("s3api", "create-bucket", "--bucket", "cli-lock", "--object-lock-enabled-for-bucket")
            aws("s3api", "put-object-lock-configuration", "--bucket", "cli-lock", "--object-lock-configuration",
                json.dumps({"ObjectLockEnabled": "Enabled",
                            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}}))
            p = os.path.join(tmp, "in0")
            v = aws("s3api", "put-object", "--bucket", "cli-lock", "--key", "k", "--body", p)["VersionId"]
            r = aws("s3api", "get-object-retention", "--bucket", "cli-lock", "--key", "k", "--version-id", v)
            assert r["Retention"]["Mode"] == "COMPLIANCE", r
            aws("s3api", "put-object-legal-hold", "--bucket", "cli-lock", "--key", "k", "--legal-hold", "Status=ON")
            assert aws("s3api", "get-object-legal-hold", "--bucket", "cli-lock", "--key", "k")["LegalHold"]["Status"] == "ON"
            denied = subprocess.run(["aws", "--endpoint-url", srv.url, "s3api", "delete-object", "--bucket", "cli-lock",
                                     "--key", "k", "--version-id", v], env=env, capture_output=True, text=True,
                                    timeout=60)
            assert denied.returncode != 0 and "AccessDenied" in denied.stderr, denied.stderr
            # Lifecycle.
            aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", "cli", "--lifecycle-configuration",
                json.dumps({"Rules": [{"ID": "old", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
                                       "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                                       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}))
            rules = aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", "cli")["Rules"]
            assert rules[0]["ID"] == "old" and rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30, rules
            aws("s3api", "delete-bucket-lifecycle", "--bucket", "cli")
            # A checksum the CLI computes, kept and returned; a public ACL refused.
            r = aws("s3api", "put-object", "--bucket", "cli", "--key", "sum", "--body", p,
                    "--checksum-algorithm", "SHA256")
            want = base64.b64encode(hashlib.sha256(h.body(5000, ("cli", 0))).digest()).decode()
            assert r.get("ChecksumSHA256") == want, r
            r = aws("s3api", "head-object", "--bucket", "cli", "--key", "sum", "--checksum-mode", "ENABLED")
            assert r.get("ChecksumSHA256") == want, r
            acl = subprocess.run(["aws", "--endpoint-url", srv.url, "s3api", "put-object-acl", "--bucket", "cli",
                                  "--key", "sum", "--acl", "public-read"], env=env, capture_output=True, text=True,
                                 timeout=60)
            assert acl.returncode != 0 and "AccessControlListNotSupported" in acl.stderr, acl.stderr
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    h.check("aws-cli: versioning, object lock, lifecycle, checksums, ACL refusal", aws_cli)


def object_lock(s3, srv):
    alt = srv.client(ALT_USER, ALT_PASSWORD)

    def lock():
        s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
        assert s3.get_bucket_versioning(Bucket="locked")["Status"] == "Enabled"
        h.expect_error(lambda: s3.put_bucket_versioning(Bucket="locked",
                                                        VersioningConfiguration={"Status": "Suspended"}),
                       "InvalidBucketState", 409)
        s3.put_object_lock_configuration(Bucket="locked", ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
        conf = s3.get_object_lock_configuration(Bucket="locked")["ObjectLockConfiguration"]
        assert conf["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}, conf
        v = s3.put_object(Bucket="locked", Key="doc", Body=b"keep me", ServerSideEncryption="AES256")["VersionId"]
        r = s3.head_object(Bucket="locked", Key="doc")
        assert r["ObjectLockMode"] == "GOVERNANCE", r
        until = r["ObjectLockRetainUntilDate"]
        now = datetime.datetime.now(datetime.timezone.utc)
        assert datetime.timedelta(hours=23) < until - now < datetime.timedelta(hours=25), until
        # Protected: no permanent delete, a marker is fine.
        h.expect_error(lambda: s3.delete_object(Bucket="locked", Key="doc", VersionId=v), "AccessDenied", 403)
        marker = s3.delete_object(Bucket="locked", Key="doc")["VersionId"]
        s3.delete_object(Bucket="locked", Key="doc", VersionId=marker)
        # Governance can be shortened only with the bypass header, by a principal allowed it.
        h.expect_error(lambda: s3.put_object_retention(Bucket="locked", Key="doc", Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": now + datetime.timedelta(hours=1)}), "AccessDenied", 403)
        s3.put_bucket_policy(Bucket="locked", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ["*"]},
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:PutObjectRetention",
                       "s3:GetObjectRetention", "s3:PutObjectLegalHold"],
            "Resource": ["arn:aws:s3:::locked/*"]}]}))
        h.expect_error(lambda: alt.delete_object(Bucket="locked", Key="doc", VersionId=v,
                                                 BypassGovernanceRetention=True), "AccessDenied", 403,
                       "bypass without s3:BypassGovernanceRetention")
        # Compliance: cannot be shortened or turned into governance, even with bypass.
        c = s3.put_object(Bucket="locked", Key="c", Body=b"c", ObjectLockMode="COMPLIANCE",
                          ObjectLockRetainUntilDate=FAR)["VersionId"]
        h.expect_error(lambda: s3.put_object_retention(Bucket="locked", Key="c", BypassGovernanceRetention=True,
                                                       Retention={"Mode": "GOVERNANCE", "RetainUntilDate": FAR}),
                       "AccessDenied", 403)
        h.expect_error(lambda: s3.delete_object(Bucket="locked", Key="c", VersionId=c,
                                                BypassGovernanceRetention=True), "AccessDenied", 403)
        # Naming a version needs the version action: s3:GetObject alone reads the latest only.
        assert alt.get_object(Bucket="locked", Key="c")["Body"].read() == b"c"
        h.expect_error(lambda: alt.get_object(Bucket="locked", Key="c", VersionId=c), "AccessDenied", 403,
                       "GET by version ID without s3:GetObjectVersion")
        later = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
        s3.put_object_retention(Bucket="locked", Key="c", Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later})
        assert s3.get_object_retention(Bucket="locked", Key="c")["Retention"]["RetainUntilDate"] == later
        # Legal hold blocks even a bypassing delete.
        s3.put_object_legal_hold(Bucket="locked", Key="doc", VersionId=v, LegalHold={"Status": "ON"})
        assert s3.get_object_legal_hold(Bucket="locked", Key="doc")["LegalHold"]["Status"] == "ON"
        h.expect_error(lambda: s3.delete_object(Bucket="locked", Key="doc", VersionId=v,
                                                BypassGovernanceRetention=True), "AccessDenied", 403)
        s3.put_object_legal_hold(Bucket="locked", Key="doc", VersionId=v, LegalHold={"Status": "OFF"})
        # The root user may bypass governance.
        s3.delete_object(Bucket="locked", Key="doc", VersionId=v, BypassGovernanceRetention=True)
        h.expect_error(lambda: s3.head_object(Bucket="locked", Key="doc", VersionId=v), "404", 404)
        # Lock headers on a bucket without object lock are refused.
        s3.create_bucket(Bucket="nolock")
        h.expect_error(lambda: s3.put_object(Bucket="nolock", Key="x", Body=b"x", ObjectLockMode="GOVERNANCE",
                                             ObjectLockRetainUntilDate=FAR), "InvalidRequest", 400)
        h.expect_error(lambda: s3.get_object_lock_configuration(Bucket="nolock"),
                       "ObjectLockConfigurationNotFoundError", 404)
    h.check("object lock: default retention, governance bypass by policy, compliance, legal hold", lock)


def crash(root, cert):
    """SIGKILL during concurrent versioned PUTs and DELETEs, three times; afterwards every
    acknowledged version reads back byte-exact and each key has exactly one latest version."""
    def run_crash():
        data_dir = os.path.join(root, "crash-data")
        acked = {}  # (key, version id) -> body, or None for a delete marker
        lock = threading.Lock()
        for cycle in range(3):
            srv = h.Server(root, f"crash{cycle}", cert=cert, env=KMS_ENV, data_dir=data_dir)
            s3 = srv.client()
            if cycle == 0:
                s3.create_bucket(Bucket="crash")
                s3.put_bucket_versioning(Bucket="crash", VersioningConfiguration={"Status": "Enabled"})
            stop = threading.Event()

            def writer(t, s3=s3, stop=stop, cycle=cycle):
                n = 0
                while not stop.is_set():
                    key = f"k{t % 6}"
                    n += 1
                    try:
                        if n % 5 == 0:
                            v = s3.delete_object(Bucket="crash", Key=key)["VersionId"]
                            body = None
                        else:
                            body = h.body((n * 7919) % 200_000 + 1, (cycle, t, n))
                            extra = {"ServerSideEncryption": "AES256"} if n % 2 else {}
                            v = s3.put_object(Bucket="crash", Key=key, Body=body, **extra)["VersionId"]
                    except Exception:  # noqa: BLE001 - the server dies under us
                        return
                    with lock:
                        acked[(key, v)] = body
            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                futures = [pool.submit(writer, t) for t in range(12)]
                time.sleep(1.0 + cycle * 0.3)
                srv.stop()
                stop.set()
                for f in futures:
                    f.result()
        srv = h.Server(root, "crash-final", cert=cert, env=KMS_ENV, data_dir=data_dir)
        try:
            s3 = srv.client()
            rows = versions_of(s3, "crash")
            listed = {(k, v): marker for k, v, _, marker in rows}
            assert len(acked) > 50, f"only {len(acked)} acknowledged operations"
            lost = [kv for kv in acked if kv not in listed]
            assert not lost, f"{len(lost)} acknowledged versions lost: {lost[:3]}"
            for (k, v), body in acked.items():
                assert listed[(k, v)] == (body is None), f"{k} {v}: marker mismatch"
                if body is not None:
                    assert s3.get_object(Bucket="crash", Key=k, VersionId=v)["Body"].read() == body, f"{k} {v}"
            for k in {k for k, _, _, _ in rows}:
                assert sum(1 for kk, _, latest, _ in rows if kk == k and latest) == 1, f"{k}: latest count"
            tmp = os.path.join(data_dir, ".coffer.sys", "tmp")
            assert not os.listdir(tmp), f"temporary files left: {os.listdir(tmp)[:3]}"
        finally:
            srv.stop()
    h.check("crash during concurrent versioned PUT/DELETE (3 SIGKILLs): every acknowledged version intact, "
            "one latest per key", run_crash)


def lifecycle(root, cert):
    """Rules applied by the background scanner with a 2-second lifecycle day, across a
    restart of the server."""
    def run_lifecycle():
        data_dir = os.path.join(root, "lc-data")
        srv = h.Server(root, "lc", cert=cert, env=KMS_ENV, data_dir=data_dir,
                       args=["--lifecycle-day-seconds", "2"])
        s3 = srv.client()
        s3.create_bucket(Bucket="lcb")
        s3.create_bucket(Bucket="lc-ver")
        s3.put_bucket_versioning(Bucket="lc-ver", VersioningConfiguration={"Status": "Enabled"})
        for k in ["tmp/a", "tmp/b", "keep/a"]:
            s3.put_object(Bucket="lcb", Key=k, Body=b"x", ServerSideEncryption="AES256")
        s3.put_object(Bucket="lcb", Key="tagged/a", Body=b"x", Tagging="expire=yes")
        s3.put_object(Bucket="lcb", Key="tagged/b", Body=b"x", Tagging="expire=no")
        up = s3.create_multipart_upload(Bucket="lcb", Key="tmp/upload")["UploadId"]
        s3.put_bucket_lifecycle_configuration(Bucket="lcb", LifecycleConfiguration={"Rules": [
            {"ID": "tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 2},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
            {"ID": "tags", "Filter": {"Tag": {"Key": "expire", "Value": "yes"}}, "Status": "Enabled",
             "Expiration": {"Days": 2}},
            {"ID": "off", "Filter": {"Prefix": "keep/"}, "Status": "Disabled", "Expiration": {"Days": 1}}]})
        rules = s3.get_bucket_lifecycle_configuration(Bucket="lcb")["Rules"]
        assert sorted(r["ID"] for r in rules) == ["off", "tags", "tmp"], rules
        r = s3.head_object(Bucket="lcb", Key="tmp/a")
        assert 'rule-id="tmp"' in r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-expiration", ""), r
        v1 = s3.put_object(Bucket="lc-ver", Key="doc", Body=b"1")["VersionId"]
        v2 = s3.put_object(Bucket="lc-ver", Key="doc", Body=b"2")["VersionId"]
        v3 = s3.put_object(Bucket="lc-ver", Key="doc", Body=b"3")["VersionId"]
        s3.put_bucket_lifecycle_configuration(Bucket="lc-ver", LifecycleConfiguration={"Rules": [
            {"ID": "nc", "Filter": {}, "Status": "Enabled",
             "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}}]})
        # The rules are stored: they keep working after a restart.
        srv.stop()
        srv = h.Server(root, "lc2", cert=cert, env=KMS_ENV, data_dir=data_dir,
                       args=["--lifecycle-day-seconds", "2"])
        try:
            s3 = srv.client()
            deadline = time.time() + 30
            while time.time() < deadline:
                keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lcb").get("Contents", [])]
                uploads = s3.list_multipart_uploads(Bucket="lcb").get("Uploads", [])
                ids = [v for _, v, _, _ in versions_of(s3, "lc-ver", "doc")]
                if keys == ["keep/a", "tagged/b"] and not uploads and ids == [v3, v2]:
                    break
                time.sleep(0.5)
            assert keys == ["keep/a", "tagged/b"], keys
            assert not uploads, uploads
            assert ids == [v3, v2], f"noncurrent expiration kept {ids}, want {[v3, v2]} (v1 {v1} gone)"
            s3.delete_bucket_lifecycle(Bucket="lcb")
            h.expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket="lcb"),
                           "NoSuchLifecycleConfiguration", 404)
            h.expect_error(lambda: s3.put_bucket_lifecycle_configuration(Bucket="lcb", LifecycleConfiguration={
                "Rules": [{"ID": "x", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 0}}]}),
                "InvalidArgument", 400)
            h.expect_error(lambda: s3.put_bucket_lifecycle_configuration(Bucket="lcb", LifecycleConfiguration={
                "Rules": [{"ID": "x", "Filter": {}, "Status": "Enabled",
                           "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}]}),
                "InvalidStorageClass", 400)
        finally:
            srv.stop()
    h.check("lifecycle: expiration by prefix and tag, noncurrent versions, uploads aborted, rules survive a restart",
            run_lifecycle)


def main():
    def body(root):
        cert, _ = h.make_cert(os.path.join(root, "certs"))
        users = os.path.join(root, "users")
        with open(os.open(users, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"{ALT_USER} {ALT_PASSWORD}\n")
        srv = h.Server(root, "main", cert=cert, env=KMS_ENV, args=["--users", users])
        try:
            s3 = srv.client()
            basics(s3, srv)
            object_lock(s3, srv)
        finally:
            srv.stop()
        lifecycle(root, cert)
        crash(root, cert)
    h.run_suite("coffer-versioning-", body)


if __name__ == "__main__":
    main()
