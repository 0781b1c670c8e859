#!/usr/bin/env python3
"""End-to-end checks of coffer's mc-style client commands against the real `coffer server`,
over HTTP and HTTPS, with boto3 as the independent judge of what the server holds.

Usage: COFFER_BIN=target/debug/coffer python3 tests/e2e/client_cli.py
Servers listen on 127.0.0.1 only, in temporary directories; every process started is
killed by PID. Prints `N passed, M failed` last; exits non-zero if anything failed.
Covers: aliases (coffer's file with mode 0600, an mc config.json fixture read and never
written, MC_HOST_*), mb/rb/ls/cp/mirror/cat/head/stat/rm/tag/du, encryption flags and
`encrypt`, `admin kms key`, --json/--quiet, errors, the progress bar in a pseudo-terminal,
Ctrl-C aborting or keeping multipart uploads, resuming them, and the KMS guide's steps.
"""
import base64
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import stat as statmod
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3_sse as h  # noqa: E402 - shared helpers: Server, Kes, certificates, check()

BIN = h.BIN
USER, PASSWORD = h.USER, h.PASSWORD
SSEC_KEY = base64.b64encode(h.K1).decode()
ESC = "\x1b"


class Client:
    """Runs `coffer` client commands with their own config directories."""

    def __init__(self, root):
        self.home = os.path.join(root, "home")
        self.cfg = os.path.join(root, "coffer-config")
        self.mc = os.path.join(self.home, ".mc")
        os.makedirs(self.mc, exist_ok=True)
        self.env = h.clean_env(HOME=self.home, COFFER_CONFIG_DIR=self.cfg)
        self.env.pop("MC_CONFIG_DIR", None)
        for k in list(self.env):
            if k.startswith("MC_HOST_"):
                del self.env[k]

    def run(self, *args, ok=True, stdin=None, env=None, timeout=120):
        e = dict(self.env)
        e.update(env or {})
        r = subprocess.run([BIN, *args], env=e, input=stdin, capture_output=True, timeout=timeout)
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if ok and r.returncode != 0:
            raise AssertionError(f"coffer {' '.join(args)} exited {r.returncode}: {err.strip()}")
        if not ok and r.returncode == 0:
            raise AssertionError(f"coffer {' '.join(args)} should have failed: {out.strip()}")
        return r.returncode, out, err

    def out(self, *args, **kw):
        return self.run(*args, **kw)[1]

    def json_lines(self, *args, **kw):
        text = self.out("--json", *args, **kw)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return [json.loads(ln) for ln in lines]

    def in_pty(self, *args, timeout=120):
        """Runs a command with stdout and stderr on a pseudo-terminal; returns its output."""
        pid, fd = pty.fork()
        if pid == 0:  # child
            os.environ.clear()
            os.environ.update(self.env)
            os.environ["TERM"] = "xterm"
            try:
                os.execv(BIN, [BIN, *args])
            finally:
                os._exit(127)
        chunks, deadline = [], time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                chunks.append(data)
            elif os.waitpid(pid, os.WNOHANG)[0]:
                break
        else:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def md5(b):
    return hashlib.md5(b).hexdigest()


def body(n, seed=0):
    return h.body(n, seed)


# ---------------------------------------------------------------- aliases

def alias_tests(cl, srv):
    def set_and_mode():
        out = cl.out("alias", "set", "loc", srv.url, USER, PASSWORD)
        assert "Added `loc` successfully." in out, out
        path = os.path.join(cl.cfg, "aliases.json")
        mode = statmod.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, oct(mode)
        data = json.load(open(path))
        assert data["aliases"]["loc"]["url"] == srv.url
        ls = cl.out("alias", "ls", "loc")
        assert srv.url in ls and USER in ls and PASSWORD not in ls, ls
        assert PASSWORD in cl.out("alias", "ls", "loc", "--show-secret")
    h.check("alias set: stored with mode 0600; ls hides the secret", set_and_mode)

    def bad_alias():
        _, _, err = cl.run("alias", "set", "x", "127.0.0.1:9000", "a", "b", ok=False)
        assert "http://" in err, err
        _, _, err = cl.run("alias", "set", "9x", "http://h:1", "a", "b", ok=False)
        assert "invalid alias name" in err, err
        _, _, err = cl.run("ls", "nosuchalias/bucket", ok=False)
        assert "no alias" in err, err
    h.check("alias: bad URL, bad name, unknown alias are named", bad_alias)

    def bad_ca_file():
        other = cl.cfg + "-badca"
        os.makedirs(os.path.join(other, "certs", "CAs"))
        shutil.copy(os.path.join(cl.cfg, "aliases.json"), other)
        write(os.path.join(other, "certs", "CAs", "junk.crt"),
              b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        code, _, err = cl.run("ls", "loc", ok=False, env={"COFFER_CONFIG_DIR": other})
        assert "junk.crt" in err and "panicked" not in err and code == 1, (code, err)
    h.check("a broken CA file is named, not a panic", bad_ca_file)

    def mc_config():
        cfg = {"version": "10", "aliases": {"myminio": {
            "url": srv.url, "accessKey": USER, "secretKey": PASSWORD, "api": "s3v4", "path": "auto"}}}
        path = os.path.join(cl.mc, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        before = open(path, "rb").read()
        cl.out("mb", "-p", "myminio/mc-bucket")
        assert "mc-bucket/" in cl.out("ls", "myminio")
        ls = cl.out("alias", "ls")
        assert "myminio" in ls and "mc" in ls
        _, _, err = cl.run("alias", "rm", "myminio", ok=False)
        assert "mc" in err, err
        assert open(path, "rb").read() == before, "mc's config.json was written"
        # MC_HOST_ form works too.
        host = srv.url.split("://", 1)
        url = f"{host[0]}://{USER}:{PASSWORD}@{host[1]}"
        assert "mc-bucket/" in cl.out("ls", "envhost", env={"MC_HOST_envhost": url})
        cl.out("rb", "myminio/mc-bucket")
    h.check("alias: mc config.json read as it is, never written; MC_HOST_*", mc_config)


# ---------------------------------------------------------------- the commands on one endpoint

def command_tests(cl, srv, a, s3, tag, work):
    """`a` is the alias of `srv`; `tag` names the transport in check names."""
    b = f"{a}/cli-{tag}"
    bucket = f"cli-{tag}"

    def mb_ls():
        out = cl.out("mb", b)
        assert f"Bucket created successfully `{b}`." in out, out
        _, _, err = cl.run("mb", b, ok=False)
        assert "BucketAlready" in err, err
        cl.out("mb", "-p", b)
        assert f"cli-{tag}/" in cl.out("ls", a)
    h.check(f"{tag}: mb, mb -p, ls buckets", mb_ls)

    def cp_stat_cat():
        f = os.path.join(work, "test.file")
        write(f, b"hello")
        cl.out("cp", f, b + "/")
        r = s3.get_object(Bucket=bucket, Key="test.file")
        assert r["Body"].read() == b"hello"
        st = cl.out("stat", b + "/test.file")
        for want in ["Name      : test.file", "Size      : 5 B", f"ETag      : {md5(b'hello')}", "Type      : file",
                     "Metadata  :"]:
            assert want in st, st
        assert "Encrypted" not in st, st
        assert cl.out("cat", b + "/test.file") == "hello"
        lines = "".join(f"line {i}\n" for i in range(50)).encode()
        write(os.path.join(work, "lines.txt"), lines)
        cl.out("cp", os.path.join(work, "lines.txt"), b + "/lines.txt")
        assert cl.out("head", "-n", "3", b + "/lines.txt") == "line 0\nline 1\nline 2\n"
        assert cl.out("head", b + "/lines.txt").count("\n") == 10
        dst = os.path.join(work, "back.txt")
        cl.out("cp", b + "/lines.txt", dst)
        assert open(dst, "rb").read() == lines
        assert not [n for n in os.listdir(work) if ".coffer-" in n], "temporary download file left behind"
    h.check(f"{tag}: cp file->object->file, stat, cat, head", cp_stat_cat)

    def stdin_and_attrs():
        data = body(3000, 7)
        cl.out("cp", "--attr", "Content-Type=text/x-test;color=blue", "-", b + "/piped", stdin=data)
        r = s3.get_object(Bucket=bucket, Key="piped")
        assert r["Body"].read() == data and r["ContentType"] == "text/x-test"
        assert r["Metadata"] == {"color": "blue"}, r["Metadata"]
        st = cl.out("stat", b + "/piped")
        assert "Content-Type: text/x-test" in st and "X-Amz-Meta-Color: blue" in st, st
    h.check(f"{tag}: cp from stdin with content type and metadata", stdin_and_attrs)

    def multipart():
        data = body(23 << 20, 3)
        f = os.path.join(work, "big.bin")
        write(f, data)
        j = cl.json_lines("cp", "--part-size", "5", f, b + "/big.bin")
        assert len(j) == 1 and j[0]["status"] == "success" and j[0]["size"] == len(data), j
        assert j[0]["etag"].endswith("-5"), j
        head = s3.head_object(Bucket=bucket, Key="big.bin")
        assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-5")
        got = hashlib.sha256(subprocess.run([BIN, "cat", b + "/big.bin"], env=cl.env, capture_output=True,
                                            timeout=120).stdout).hexdigest()
        assert got == hashlib.sha256(data).hexdigest(), "multipart object differs"
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    h.check(f"{tag}: large file in parallel parts (5 MiB), read back whole", multipart)

    def recursive_and_ls():
        d = os.path.join(work, "tree")
        for rel in ["a.txt", "b.txt", "sub/c.txt", "sub/deeper/d.txt"]:
            write(os.path.join(d, rel), rel.encode())
        cl.out("cp", "-r", d, b + "/")
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"])
        assert keys == ["tree/a.txt", "tree/b.txt", "tree/sub/c.txt", "tree/sub/deeper/d.txt"], keys
        cl.out("cp", "-r", d + "/", b + "/flat/")
        assert s3.get_object(Bucket=bucket, Key="flat/sub/c.txt")["Body"].read() == b"sub/c.txt"
        top = cl.out("ls", b + "/tree/")
        assert re.search(r"\s0B sub/$", top, re.M) and re.search(r"STANDARD a\.txt$", top, re.M), top
        assert "deeper" not in top
        rec = cl.out("ls", "-r", b + "/tree")
        assert re.search(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\]\s+9B STANDARD sub/c\.txt$", rec, re.M), rec
        j = cl.json_lines("ls", "-r", b + "/tree/")
        assert sorted(x["key"] for x in j) == keys, j
        out = os.path.join(work, "down")
        cl.out("cp", "-r", b + "/tree/", out)
        assert open(os.path.join(out, "sub/deeper/d.txt"), "rb").read() == b"sub/deeper/d.txt"
        du = cl.out("du", b + "/tree/")
        assert du.startswith("35B\t4 objects"), du
    h.check(f"{tag}: cp -r both ways, ls, ls -r, du", recursive_and_ls)

    def object_to_object():
        cl.out("cp", b + "/test.file", b + "/copy.file")
        assert s3.get_object(Bucket=bucket, Key="copy.file")["Body"].read() == b"hello"
    h.check(f"{tag}: cp object->object (server-side copy)", object_to_object)

    def mirror():
        d = os.path.join(work, "mir")
        for i in range(5):
            write(os.path.join(d, f"f{i}"), body(100 + i, i))
        j = cl.json_lines("mirror", d, b + "/mirror/")
        assert j[-1]["copied"] == 5, j
        j = cl.json_lines("mirror", d, b + "/mirror/")
        assert j[-1]["copied"] == 0 and j[-1]["unchanged"] == 5, j
        write(os.path.join(d, "f1"), body(500, 99))
        os.remove(os.path.join(d, "f2"))
        j = cl.json_lines("mirror", "--remove", d, b + "/mirror/")
        assert j[-1]["copied"] == 1 and j[-1]["removed"] == 1, j
        assert s3.get_object(Bucket=bucket, Key="mirror/f1")["Body"].read() == body(500, 99)
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="mirror/")["Contents"])
        assert keys == ["mirror/f0", "mirror/f1", "mirror/f3", "mirror/f4"], keys
        back = os.path.join(work, "mir-back")
        cl.out("mirror", b + "/mirror", back)
        assert sorted(os.listdir(back)) == ["f0", "f1", "f3", "f4"]
    h.check(f"{tag}: mirror copies only what differs, --remove", mirror)

    def tags():
        cl.out("tag", "set", b + "/test.file", "project=coffer&tier=1")
        got = s3.get_object_tagging(Bucket=bucket, Key="test.file")["TagSet"]
        assert sorted((t["Key"], t["Value"]) for t in got) == [("project", "coffer"), ("tier", "1")]
        text = cl.out("tag", "list", b + "/test.file")
        assert re.search(r"^project : coffer$", text, re.M), text
        j = cl.json_lines("tag", "list", b + "/test.file")
        assert j[0]["tagset"] == {"project": "coffer", "tier": "1"}, j
        cl.out("tag", "remove", b + "/test.file")
        assert s3.get_object_tagging(Bucket=bucket, Key="test.file")["TagSet"] == []
        cl.out("tag", "set", b, "team=storage")
        assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "storage"}]
    h.check(f"{tag}: tag set/list/remove on objects and buckets", tags)

    def versions():
        vb = f"{a}/cli-{tag}-ver"
        cl.out("mb", "--with-versioning", vb)
        for content in [b"one", b"two"]:
            cl.out("cp", "-", vb + "/doc", stdin=content)
        cl.out("rm", vb + "/doc")
        text = cl.out("ls", "--versions", vb)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        assert len(lines) == 3, text
        assert re.search(r" v3 DEL doc$", lines[0]) and re.search(r" v1 PUT doc$", lines[2]), text
        vid = json.loads(cl.out("--json", "ls", "--versions", vb).splitlines()[2])["versionId"]
        assert cl.out("cat", "--version-id", vid, vb + "/doc") == "one"
        cl.out("rb", "--force", vb)
        names = [x["Name"] for x in s3.list_buckets()["Buckets"]]
        assert f"cli-{tag}-ver" not in names
    h.check(f"{tag}: versions: ls --versions, cat --version-id, rb --force", versions)

    def removal():
        _, _, err = cl.run("rm", "-r", b + "/flat/", ok=False)
        assert "--force" in err, err
        text = cl.out("rm", "-r", "--force", b + "/flat/")
        assert text.count("Removed `") == 4, text
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="flat/")
        cl.out("rm", b + "/copy.file")
        assert "copy.file" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    h.check(f"{tag}: rm, rm -r --force", removal)

    def errors():
        code, out, err = cl.run("cat", b + "/nope", ok=False)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and "NoSuchKey" in lines[0], err
        code, out, err = cl.run("--json", "stat", b + "/nope", ok=False)
        e = json.loads(err.strip())
        assert e["status"] == "error" and e["error"]["code"] in ("NoSuchKey", "NotFound"), e
        _, _, err = cl.run("rb", b, ok=False)
        assert "BucketNotEmpty" in err, err
        _, _, err = cl.run("ls", f"{a}/no-such-bucket-here", ok=False)
        assert "NoSuchBucket" in err, err
        _, _, err = cl.run("cp", os.path.join(work, "missing-file"), b + "/", ok=False)
        assert "missing-file" in err, err
        bad = dict(cl.env)
        cl.run("alias", "set", "wrong", srv.url, USER, "wrong-password")
        _, _, err = cl.run("ls", "wrong", ok=False)
        assert "SignatureDoesNotMatch" in err or "AccessDenied" in err or "InvalidAccessKeyId" in err, err
        assert "wrong-password" not in err
        cl.run("alias", "rm", "wrong")
        del bad
    h.check(f"{tag}: errors: one line with the S3 code, JSON with --json, non-zero exit", errors)

    def quiet_and_json():
        assert cl.out("--quiet", "cp", os.path.join(work, "test.file"), b + "/q.file") == ""
        for args in (["ls", b], ["stat", b + "/q.file"], ["du", b], ["ls", a]):
            for ln in cl.out("--json", *args).splitlines():
                assert json.loads(ln)["status"] == "success", ln
    h.check(f"{tag}: --quiet prints nothing, --json one object per line", quiet_and_json)

    def encryption():
        f = os.path.join(work, "test.file")
        cl.out("cp", "--enc-s3", b + "/enc/", f, b + "/enc/s3.file")
        assert s3.head_object(Bucket=bucket, Key="enc/s3.file")["ServerSideEncryption"] == "AES256"
        st = cl.out("stat", b + "/enc/s3.file")
        assert re.search(r"^Encrypted :\n  X-Amz-Server-Side-Encryption: AES256$", st, re.M), st
        cl.out("cp", "--enc-kms", f"{b}/enc/={h.DEFAULT_KEY}", f, b + "/enc/kms.file")
        hd = s3.head_object(Bucket=bucket, Key="enc/kms.file")
        assert hd["ServerSideEncryption"] == "aws:kms" and hd["SSEKMSKeyId"].endswith(h.DEFAULT_KEY), hd
        st = cl.out("stat", b + "/enc/kms.file")
        assert "X-Amz-Server-Side-Encryption: aws:kms" in st, st
        assert f"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id: {hd['SSEKMSKeyId']}" in st, st
        # Bucket default encryption.
        out = cl.out("encrypt", "set", "sse-s3", b)
        assert "set successfully" in out, out
        assert "Auto encryption 'sse-s3' is enabled" in cl.out("encrypt", "info", b)
        cl.out("cp", f, b + "/enc/default.file")
        assert s3.head_object(Bucket=bucket, Key="enc/default.file")["ServerSideEncryption"] == "AES256"
        cl.out("encrypt", "set", "sse-kms", h.DEFAULT_KEY, b)
        assert f"Auto encryption 'sse-kms' is enabled with KeyID: {h.DEFAULT_KEY}" in cl.out("encrypt", "info", b)
        cl.out("encrypt", "clear", b)
        assert "not enabled" in cl.out("encrypt", "info", b)
        if srv.scheme == "https":
            cl.out("cp", "--enc-c", f"{b}/enc/c.file={SSEC_KEY}", f, b + "/enc/c.file")
            hd = s3.head_object(Bucket=bucket, Key="enc/c.file", **h.ssec())
            assert hd["SSECustomerKeyMD5"] == h.K1_MD5
            _, _, err = cl.run("cat", b + "/enc/c.file", ok=False)
            assert "InvalidRequest" in err or "BadRequest" in err, err
            assert cl.out("cat", "--enc-c", f"{b}/enc/={SSEC_KEY}", b + "/enc/c.file") == "hello"
            st = cl.out("stat", "--enc-c", f"{b}/enc/={SSEC_KEY}", b + "/enc/c.file")
            assert "X-Amz-Server-Side-Encryption-Customer-Algorithm: AES256" in st, st
            assert SSEC_KEY not in st
            # Copy between SSE-C and SSE-S3 on the server, and download with the key.
            cl.out("cp", "--enc-c", f"{b}/enc/c.file={SSEC_KEY}", "--enc-s3", f"{b}/enc/plain",
                   b + "/enc/c.file", b + "/enc/plain-from-c")
            assert s3.head_object(Bucket=bucket, Key="enc/plain-from-c")["ServerSideEncryption"] == "AES256"
            dst = os.path.join(work, "c.back")
            cl.out("cp", "--enc-c", f"{b}/enc/={SSEC_KEY}", b + "/enc/c.file", dst)
            assert open(dst, "rb").read() == b"hello"
        else:
            _, _, err = cl.run("cp", "--enc-c", f"{b}/enc/={SSEC_KEY}", f, b + "/enc/c.file", ok=False)
            assert "InvalidRequest" in err or "secure connection" in err.lower() or "https" in err.lower(), err
            assert SSEC_KEY not in err
    h.check(f"{tag}: --enc-s3/--enc-kms/--enc-c, encrypt set/info/clear, stat Encrypted block", encryption)

    def bad_enc_flags():
        _, _, err = cl.run("cp", "--enc-c", f"{b}/=c2hvcnQ=", os.path.join(work, "test.file"), b + "/x", ok=False)
        assert "32 bytes" in err, err
        _, _, err = cl.run("cp", "--enc-kms", b, os.path.join(work, "test.file"), b + "/x", ok=False)
        assert "--enc-kms" in err, err
    h.check(f"{tag}: malformed encryption flags are refused by name", bad_enc_flags)


# ---------------------------------------------------------------- terminal, interrupts, resume

def progress_tests(cl, a, work):
    f = os.path.join(work, "progress.bin")
    write(f, body(12 << 20, 11))

    def in_terminal():
        code, out = cl.in_pty("cp", "--part-size", "5", f, f"{a}/cli-http/progress.bin")
        assert code == 0, out
        assert ESC in out, "no terminal control in a terminal"
        assert "progress.bin: " in out and "12.00 MiB / 12.00 MiB" in out and "100.00%" in out, repr(out[-400:])
        assert "MiB/s" in out or "KiB/s" in out, repr(out[-400:])
    h.check("progress bar drawn in a pseudo-terminal", in_terminal)

    def not_terminal():
        code, out, err = cl.run("cp", f, f"{a}/cli-http/progress2.bin")
        assert ESC not in out and ESC not in err, (out, err)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("Total: 12 MiB, Transferred: 12 MiB, Speed: "), out
        assert err == "", err
    h.check("no escape codes off a terminal: only the summary line", not_terminal)


def interrupt_tests(cl, a, s3, work):
    data = body(60 << 20, 5)
    f = os.path.join(work, "interrupt.bin")
    write(f, data)
    bucket = "cli-http"

    def uploads():
        return [u for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) if u["Key"] == "int.bin"]

    def start_and_interrupt(*extra):
        # One part at a time, 5 MiB parts: the copy is still running when interrupted.
        p = subprocess.Popen([BIN, "cp", "--part-size", "5", "--part-parallel", "1", *extra, f,
                              f"{a}/{bucket}/int.bin"], env=cl.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        h.PROCS.append(p)
        # Wait (bounded) until the upload holds a part, so there is something to keep.
        for _ in range(600):
            up = uploads()
            if up and s3.list_parts(Bucket=bucket, Key="int.bin", UploadId=up[0]["UploadId"]).get("Parts"):
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        return p.returncode, err.decode()

    def aborts():
        code, err = start_and_interrupt()
        assert code == 130, (code, err)
        assert "aborted 1" in err, err
        assert uploads() == [], uploads()
        assert "int.bin" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    h.check("Ctrl-C aborts the multipart upload it started", aborts)

    def keeps_and_resumes():
        code, err = start_and_interrupt("--continue")
        assert code == 130, (code, err)
        assert "--continue" in err, err
        kept = uploads()
        assert len(kept) == 1, kept
        parts = s3.list_parts(Bucket=bucket, Key="int.bin", UploadId=kept[0]["UploadId"]).get("Parts", [])
        assert parts, "no part was uploaded before the interrupt"
        j = cl.json_lines("cp", "--continue", "--part-size", "5", f, f"{a}/{bucket}/int.bin")
        assert j[0]["resumedParts"] >= 1, j
        assert uploads() == []
        got = s3.get_object(Bucket=bucket, Key="int.bin")["Body"].read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), "resumed object differs"
    h.check("--continue keeps the upload on Ctrl-C and resumes it", keeps_and_resumes)


# ---------------------------------------------------------------- cross-alias, admin, the guide

def cross_alias_tests(cl, s3_https, work):
    def http_to_https():
        cl.out("cp", "loc/cli-http/lines.txt", "sec/cli-https/from-http.txt")
        got = s3_https.get_object(Bucket="cli-https", Key="from-http.txt")["Body"].read()
        assert got.startswith(b"line 0\n") and got.count(b"\n") == 50
    h.check("cp between two servers (stream through the client)", http_to_https)


def admin_tests(cl):
    def status_and_list():
        out = cl.out("admin", "kms", "key", "status", "loc")
        assert out == f"Key: {h.DEFAULT_KEY}\n   - Encryption ✔\n   - Decryption ✔\n", repr(out)
        assert cl.out("admin", "kms", "key", "list", "loc").split() == [h.DEFAULT_KEY]
        # The admin client over HTTPS, trusting the CA from certs/CAs like the S3 client.
        assert cl.out("admin", "kms", "key", "status", "sec").startswith(f"Key: {h.DEFAULT_KEY}\n")
        j = cl.json_lines("admin", "kms", "key", "status", "loc")
        assert j[0]["key-id"] == h.DEFAULT_KEY, j
        _, out, err = cl.run("admin", "kms", "key", "status", "loc", "no-such-key", ok=False)
        assert "Key: no-such-key" in out and "Encryption ✗" in out and "Decryption ?" in out, out
    h.check("admin kms key status/list print what mc prints", status_and_list)


def guide_with_kes(root, cl):
    """The KMS guide with `coffer` in place of `mc`: a KES-backed server, auto-encryption,
    `cp` with a progress bar, `stat` with the Encrypted block, `admin kms key create/status`."""
    kroot, tls, _, (minio_key, minio_cert) = h.kes_setup(root, "kes")
    kes_cert, keys_dir = tls[0], tls[4]
    kes = h.Kes(kroot, "kes", *tls)
    srv = h.Server(kroot, "guide", creds={"MINIO_ROOT_USER": "minio", "MINIO_ROOT_PASSWORD": "minio123"},
                   env={"MINIO_KMS_KES_ENDPOINT": f"https://{kes.addr}", "MINIO_KMS_KES_KEY_FILE": minio_key,
                        "MINIO_KMS_KES_CERT_FILE": minio_cert, "MINIO_KMS_KES_KEY_NAME": "my-minio-key",
                        "MINIO_KMS_KES_CAPATH": kes_cert, "MINIO_KMS_AUTO_ENCRYPTION": "on"})

    def guide():
        cl.out("alias", "set", "myminio", srv.url, "minio", "minio123")
        cl.out("mb", "myminio/bucket")
        f = os.path.join(kroot, "test.file")
        write(f, b"hello")
        code, out = cl.in_pty("cp", f, "myminio/bucket/")
        assert code == 0, out
        assert "test.file: 5 B / 5 B" in out and "100.00%" in out, repr(out[-300:])
        st = cl.out("stat", "myminio/bucket/test.file")
        assert st.startswith("Name      : test.file\n"), st
        assert st.rstrip().endswith("Encrypted :\n  X-Amz-Server-Side-Encryption: AES256"), st
        out = cl.out("admin", "kms", "key", "create", "myminio", "guide-key-2")
        assert "Created master key `guide-key-2` successfully" in out, out
        assert os.path.exists(os.path.join(keys_dir, "guide-key-2"))
        out = cl.out("admin", "kms", "key", "status", "myminio", "guide-key-2")
        assert out == "Key: guide-key-2\n   - Encryption ✔\n   - Decryption ✔\n", repr(out)
        assert "my-minio-key" in cl.out("admin", "kms", "key", "status", "myminio")
        keys = cl.out("admin", "kms", "key", "list", "myminio").split()
        assert "guide-key-2" in keys and "my-minio-key" in keys, keys
    h.check("the KMS guide's steps with coffer in place of mc (KES, auto-encryption)", guide)
    srv.stop()
    kes.proc.kill()
    kes.proc.wait(10)


def main():
    def body(root):
        cl = Client(root)
        plain = h.Server(root, "plain")
        cert, _ = h.make_cert(os.path.join(root, "certs"))
        secure = h.Server(root, "secure", cert=cert)
        # The client trusts the test CA through coffer's certs/CAs directory (as mc's).
        os.makedirs(os.path.join(cl.cfg, "certs", "CAs"))
        shutil.copy(cert, os.path.join(cl.cfg, "certs", "CAs", "test-ca.crt"))
        alias_tests(cl, plain)
        cl.out("alias", "set", "sec", secure.url, USER, PASSWORD)
        for tag, srv, a in (("http", plain, "loc"), ("https", secure, "sec")):
            work = os.path.join(root, "work-" + tag)
            os.makedirs(work)
            command_tests(cl, srv, a, srv.client(), tag, work)
        work = os.path.join(root, "work-misc")
        os.makedirs(work)
        progress_tests(cl, "loc", work)
        interrupt_tests(cl, "loc", plain.client(), work)
        cross_alias_tests(cl, secure.client(), work)
        admin_tests(cl)
        plain.stop()
        secure.stop()
        guide_with_kes(root, cl)
    h.run_suite("coffer-client-", body)


if __name__ == "__main__":
    main()
