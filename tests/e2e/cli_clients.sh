#!/usr/bin/env bash
# End-to-end test: drives a real `coffer server` with the stock S3 command-line clients
# (aws-cli, rclone, s3cmd) over plain HTTP on 127.0.0.1.
#
# Usage: COFFER_BIN=target/debug/coffer tests/e2e/cli_clients.sh
#   COFFER_BIN        the coffer binary (default: target/debug/coffer of this checkout)
#   E2E_KEEP_GOING=1  do not stop at the first failed step (for diagnosis); exit status
#                     is still non-zero when any step failed
#   E2E_VERBOSE=1     print each client command's output
#
# Prints one line per step and, at the end, `N passed, M failed`. Exits non-zero at the
# first failed step (naming it). Every client call runs under `timeout 120`.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COFFER_BIN=${COFFER_BIN:-$ROOT/target/debug/coffer}
KEEP_GOING=${E2E_KEEP_GOING:-0}
VERBOSE=${E2E_VERBOSE:-0}
T=120

passed=0
failed=0
failed_steps=()

die() {
    echo "cli_clients.sh: $*" >&2
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
}

for tool in curl aws rclone s3cmd cmp diff timeout; do
    command -v "$tool" >/dev/null || die "required tool '$tool' not found (scripts/test installs it)"
done
[ -x "$COFFER_BIN" ] || die "coffer binary not found or not executable: $COFFER_BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-cli-e2e.XXXXXX") || die "mktemp failed"
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
# Step runner. `step NAME CMD...` runs CMD (a shell function or command); its combined
# output goes to $WORK/out/NN.log and, on failure, to stderr.
# ---------------------------------------------------------------------------------------
mkdir -p "$WORK/out"
nstep=0
LAST_LOG=
step() {
    local name=$1
    shift
    nstep=$((nstep + 1))
    LAST_LOG=$WORK/out/$(printf '%03d' "$nstep").log
    if "$@" >"$LAST_LOG" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $nstep $name"
        [ "$VERBOSE" = 1 ] && sed 's/^/     | /' "$LAST_LOG"
        return 0
    fi
    failed=$((failed + 1))
    failed_steps+=("$name")
    echo "FAIL $nstep $name"
    echo "---- output of failed step '$name' (last 60 lines) ----" >&2
    tail -n 60 "$LAST_LOG" | sed 's/^/     | /' >&2
    echo "----" >&2
    if [ "$KEEP_GOING" != 1 ]; then
        echo "cli_clients.sh: step failed: $name" >&2
        echo "$passed passed, $failed failed"
        exit 1
    fi
    return 0
}

# expect_fail PATTERN CMD...: CMD must fail and its output must match PATTERN.
expect_fail() {
    local pattern=$1
    shift
    local out
    if out=$("$@" 2>&1); then
        echo "expected failure, but command succeeded: $*"
        echo "$out"
        return 1
    fi
    echo "$out"
    grep -q -- "$pattern" <<<"$out" || { echo "output does not mention '$pattern'"; return 1; }
}

# equals EXPECTED CMD...: CMD's stdout (trimmed) must equal EXPECTED.
equals() {
    local want=$1
    shift
    local got
    got=$("$@") || { echo "command failed: $*"; return 1; }
    got=$(printf '%s' "$got" | sed -e 's/[[:space:]]*$//')
    echo "$got"
    [ "$got" = "$want" ] || { printf 'expected: %q\n     got: %q\n' "$want" "$got"; return 1; }
}

# ---------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------
ACCESS_KEY="e2e-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
SECRET_KEY="secret/$(od -An -N12 -tx4 /dev/urandom | tr -d ' ')+x"
export MINIO_ROOT_USER=$ACCESS_KEY MINIO_ROOT_PASSWORD=$SECRET_KEY

mkdir -p "$WORK/data"
"$COFFER_BIN" server "$WORK/data" --address 127.0.0.1:0 --quiet 2>"$WORK/server.log" &
SERVER_PID=$!

ADDR=
for _ in $(seq 1 50); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$WORK/server.log" >&2
        die "server exited during start-up"
    fi
    if [ -z "$ADDR" ]; then
        ADDR=$(sed -n 's|^coffer server listening on http://\([0-9.]*:[0-9]*\).*|\1|p' "$WORK/server.log" | head -n1)
    fi
    if [ -n "$ADDR" ] && curl -fsS --max-time 2 -o /dev/null "http://$ADDR/minio/health/live" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/server.log" >&2; die "server did not print its address within 5 s"; }
curl -fsS --max-time 2 -o /dev/null "http://$ADDR/minio/health/live" ||
    { cat "$WORK/server.log" >&2; die "server not live within 5 s at $ADDR"; }
ENDPOINT=http://$ADDR
PORT=${ADDR##*:}
echo "coffer server at $ENDPOINT (pid $SERVER_PID), work dir $WORK"

# Unauthenticated requests must be refused (so the credentials below really matter).
anon_refused() {
    local code
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$ENDPOINT/")
    echo "anonymous GET / -> $code"
    [ "$code" = 403 ]
}
step "anonymous ListBuckets is refused with 403" anon_refused

# ---------------------------------------------------------------------------------------
# Test data
# ---------------------------------------------------------------------------------------
SRC=$WORK/src
mkdir -p "$SRC"
: >"$SRC/empty.bin"
printf 'x' >"$SRC/one.bin"
head -c $((5 * 1024 * 1024 + 1)) /dev/urandom >"$SRC/five-mib-plus-1.bin"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$SRC/hundred-mib.bin"
FILES=(empty.bin one.bin five-mib-plus-1.bin hundred-mib.bin)

TREE=$WORK/tree
mkdir -p "$TREE/a/b/c" "$TREE/d" "$TREE/with space"
echo "top" >"$TREE/top.txt"
echo "in a" >"$TREE/a/one.txt"
head -c 70000 /dev/urandom >"$TREE/a/b/blob.bin"
echo "deep" >"$TREE/a/b/c/deep.txt"
: >"$TREE/d/empty"
echo "spaced" >"$TREE/with space/file name.txt"
echo "plus" >"$TREE/d/a+b=c.txt"

# ---------------------------------------------------------------------------------------
# aws-cli
# ---------------------------------------------------------------------------------------
mkdir -p "$WORK/aws"
: >"$WORK/aws/config"
: >"$WORK/aws/credentials"
aws() {
    env -u AWS_CA_BUNDLE -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN \
        -u AWS_SECURITY_TOKEN -u AWS_ENDPOINT_URL -u AWS_REGION \
        AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" \
        AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE="$WORK/aws/config" \
        AWS_SHARED_CREDENTIALS_FILE="$WORK/aws/credentials" AWS_PAGER= \
        AWS_EC2_METADATA_DISABLED=true \
        timeout "$T" aws --endpoint-url "$ENDPOINT" "$@"
}
BA=aws-e2e
DL=$WORK/dl
mkdir -p "$DL"

step "aws s3 mb" aws s3 mb "s3://$BA"
step "aws s3 mb of an existing bucket fails (BucketAlreadyOwnedByYou)" \
    expect_fail 'BucketAlreadyOwnedByYou\|BucketAlreadyExists' aws s3 mb "s3://$BA"
aws_ls_buckets() {
    local out
    out=$(aws s3 ls) || return 1
    echo "$out"
    grep -q " $BA\$" <<<"$out"
}
step "aws s3 ls lists the bucket" aws_ls_buckets

for f in "${FILES[@]}"; do
    step "aws s3 cp up $f" aws s3 cp "$SRC/$f" "s3://$BA/objs/$f"
done
aws_down_cmp() {
    rm -f "$DL/$1"
    aws s3 cp "s3://$BA/objs/$1" "$DL/$1" && cmp "$SRC/$1" "$DL/$1" && rm -f "$DL/$1"
}
for f in "${FILES[@]}"; do
    step "aws s3 cp down $f + cmp" aws_down_cmp "$f"
done

aws_ls_bucket() {
    local out
    out=$(aws s3 ls "s3://$BA/") || return 1
    echo "$out"
    grep -q 'PRE objs/$' <<<"$out"
}
step "aws s3 ls bucket shows prefix objs/" aws_ls_bucket

aws_ls_prefix() {
    local out f size
    out=$(aws s3 ls "s3://$BA/objs/") || return 1
    echo "$out"
    for f in "${FILES[@]}"; do
        size=$(stat -c %s "$SRC/$f")
        grep -Eq "^[0-9-]+ [0-9:]+ +$size $f\$" <<<"$out" || { echo "missing: $size $f"; return 1; }
    done
    [ "$(wc -l <<<"$out")" = "${#FILES[@]}" ] || { echo "unexpected line count"; return 1; }
}
step "aws s3 ls prefix lists 4 objects with sizes" aws_ls_prefix

step "aws s3 sync tree up" aws s3 sync "$TREE" "s3://$BA/tree/"
aws_sync_noop() {
    local out
    out=$(aws s3 sync "$TREE" "s3://$BA/tree/") || return 1
    echo "$out"
    [ -z "$out" ] || { echo "second sync was expected to transfer nothing"; return 1; }
}
step "aws s3 sync again transfers nothing" aws_sync_noop
step "aws s3 sync tree down" aws s3 sync "s3://$BA/tree/" "$WORK/tree-back"
step "diff -r synced tree" diff -r "$TREE" "$WORK/tree-back"

# s3api
printf 'hello, coffer s3api range test 0123456789\n' >"$WORK/small.txt"
step "aws s3api put-object" aws s3api put-object --bucket "$BA" --key api/small.txt \
    --body "$WORK/small.txt" --content-type text/plain --metadata color=blue
step "aws s3api head-object ContentLength" equals "$(stat -c %s "$WORK/small.txt")" \
    aws s3api head-object --bucket "$BA" --key api/small.txt --query ContentLength --output text
step "aws s3api head-object ContentType" equals text/plain \
    aws s3api head-object --bucket "$BA" --key api/small.txt --query ContentType --output text
step "aws s3api head-object user metadata" equals blue \
    aws s3api head-object --bucket "$BA" --key api/small.txt --query Metadata.color --output text
api_range() {
    rm -f "$DL/range"
    aws s3api get-object --bucket "$BA" --key api/small.txt --range bytes=7-12 "$DL/range" \
        --query '[ContentLength,ContentRange]' --output text || return 1
    cmp <(head -c 13 "$WORK/small.txt" | tail -c 6) "$DL/range"
}
step "aws s3api get-object --range bytes=7-12" api_range
api_range_big() {
    rm -f "$DL/range"
    aws s3api get-object --bucket "$BA" --key objs/hundred-mib.bin \
        --range bytes=$((64 * 1024 * 1024 - 10))-$((64 * 1024 * 1024 + 99)) "$DL/range" \
        --output text || return 1
    cmp <(tail -c +$((64 * 1024 * 1024 - 9)) "$SRC/hundred-mib.bin" | head -c 110) "$DL/range"
}
step "aws s3api get-object --range across a multipart boundary" api_range_big

for k in l/a.txt l/b.txt l/sub1/c.txt l/sub1/d.txt l/sub2/e.txt l/z.txt; do
    aws s3api put-object --bucket "$BA" --key "$k" --body "$WORK/small.txt" >/dev/null 2>&1
done
api_list_delim() {
    local out
    out=$(aws s3api list-objects-v2 --bucket "$BA" --prefix l/ --delimiter / \
        --query '[join(`,`, Contents[].Key), join(`,`, CommonPrefixes[].Prefix)]' --output text) || return 1
    echo "$out"
    [ "$out" = $'l/a.txt,l/b.txt,l/z.txt\tl/sub1/,l/sub2/' ]
}
step "aws s3api list-objects-v2 --prefix --delimiter" api_list_delim
api_list_maxkeys() {
    local out
    out=$(aws s3api list-objects-v2 --bucket "$BA" --prefix l/ --max-keys 2 --no-paginate \
        --query '[join(`,`, Contents[].Key), IsTruncated, KeyCount]' --output text) || return 1
    echo "$out"
    [ "$out" = $'l/a.txt,l/b.txt\tTrue\t2' ]
}
step "aws s3api list-objects-v2 --max-keys 2 (truncated)" api_list_maxkeys
api_list_paged() {
    local out
    out=$(aws s3api list-objects-v2 --bucket "$BA" --prefix l/ --page-size 2 \
        --query 'Contents[].Key' --output text) || return 1
    echo "$out"
    [ "$(tr '\t' '\n' <<<"$out" | tr -s '\n' | paste -sd,)" = \
        "l/a.txt,l/b.txt,l/sub1/c.txt,l/sub1/d.txt,l/sub2/e.txt,l/z.txt" ]
}
step "aws s3api list-objects-v2 --page-size 2 (continuation tokens)" api_list_paged
api_list_maxitems() {
    local out
    out=$(aws s3api list-objects-v2 --bucket "$BA" --prefix l/ --max-items 3 --page-size 2 \
        --output json) || return 1
    echo "$out"
    python3 -c '
import json, sys
d = json.load(sys.stdin)
keys = [c["Key"] for c in d["Contents"]]
assert keys == ["l/a.txt", "l/b.txt", "l/sub1/c.txt"], keys
assert d.get("NextToken"), "NextToken missing"
' <<<"$out"
}
step "aws s3api list-objects-v2 --max-items 3" api_list_maxitems

step "aws s3api copy-object" aws s3api copy-object --bucket "$BA" --key api/copy.txt \
    --copy-source "$BA/api/small.txt"
api_copy_check() {
    rm -f "$DL/copy"
    aws s3api get-object --bucket "$BA" --key api/copy.txt "$DL/copy" --output text || return 1
    cmp "$WORK/small.txt" "$DL/copy"
}
step "aws s3api get-object of the copy + cmp" api_copy_check
step "aws s3api copy-object keeps metadata (COPY directive)" equals blue \
    aws s3api head-object --bucket "$BA" --key api/copy.txt --query Metadata.color --output text
step "aws s3api copy-object of the 100 MiB multipart object" aws s3api copy-object --bucket "$BA" \
    --key api/big-copy.bin --copy-source "$BA/objs/hundred-mib.bin"
api_big_copy_check() {
    rm -f "$DL/bigcopy"
    aws s3 cp "s3://$BA/api/big-copy.bin" "$DL/bigcopy" || return 1
    cmp "$SRC/hundred-mib.bin" "$DL/bigcopy" && rm -f "$DL/bigcopy"
}
step "get the copied 100 MiB object + cmp" api_big_copy_check

step "aws s3api put-object-tagging" aws s3api put-object-tagging --bucket "$BA" --key api/small.txt \
    --tagging 'TagSet=[{Key=project,Value=coffer},{Key=env,Value=e2e}]'
api_get_tagging() {
    local out
    out=$(aws s3api get-object-tagging --bucket "$BA" --key api/small.txt \
        --query 'TagSet[].[Key,Value]' --output text) || return 1
    echo "$out"
    [ "$(tr '\t' = <<<"$out" | sort | paste -sd,)" = "env=e2e,project=coffer" ]
}
step "aws s3api get-object-tagging" api_get_tagging

step "aws s3api delete-objects" aws s3api delete-objects --bucket "$BA" \
    --delete '{"Objects":[{"Key":"api/copy.txt"},{"Key":"api/big-copy.bin"},{"Key":"api/never-existed"}],"Quiet":false}'
step "deleted objects are gone" equals 'api/small.txt' \
    aws s3api list-objects-v2 --bucket "$BA" --prefix api/ --query 'Contents[].Key' --output text

step "aws s3api get-object of a missing key fails with NoSuchKey" expect_fail NoSuchKey \
    aws s3api get-object --bucket "$BA" --key api/does-not-exist "$DL/missing"
step "aws s3api head-object of a missing key fails with 404" expect_fail '404\|Not Found' \
    aws s3api head-object --bucket "$BA" --key api/does-not-exist
step "aws s3 ls of a missing bucket fails with NoSuchBucket" expect_fail NoSuchBucket \
    aws s3 ls "s3://no-such-bucket-e2e/"
wrong_secret() {
    env -u AWS_CA_BUNDLE -u AWS_PROFILE AWS_ACCESS_KEY_ID="$ACCESS_KEY" \
        AWS_SECRET_ACCESS_KEY="wrong-$SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 \
        AWS_CONFIG_FILE="$WORK/aws/config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws/credentials" \
        timeout "$T" aws --endpoint-url "$ENDPOINT" s3api list-buckets
}
step "wrong secret key fails with SignatureDoesNotMatch" expect_fail SignatureDoesNotMatch wrong_secret

step "aws s3 rm --recursive" aws s3 rm --recursive "s3://$BA/"
# (--no-paginate: the paginator drops KeyCount from merged results)
step "bucket is empty after rm --recursive" equals $'0\t0' \
    aws s3api list-objects-v2 --bucket "$BA" --no-paginate \
    --query '[KeyCount, length(Contents || `[]`)]' --output text
step "aws s3 rb" aws s3 rb "s3://$BA"

# ---------------------------------------------------------------------------------------
# rclone
# ---------------------------------------------------------------------------------------
: >"$WORK/rclone.conf"
rclone() {
    env -u AWS_CA_BUNDLE -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
        RCLONE_CONFIG="$WORK/rclone.conf" \
        RCLONE_CONFIG_COFFER_TYPE=s3 \
        RCLONE_CONFIG_COFFER_PROVIDER=Minio \
        RCLONE_CONFIG_COFFER_ENV_AUTH=false \
        RCLONE_CONFIG_COFFER_ACCESS_KEY_ID="$ACCESS_KEY" \
        RCLONE_CONFIG_COFFER_SECRET_ACCESS_KEY="$SECRET_KEY" \
        RCLONE_CONFIG_COFFER_REGION=us-east-1 \
        RCLONE_CONFIG_COFFER_ENDPOINT="$ENDPOINT" \
        RCLONE_CONFIG_COFFER_UPLOAD_CUTOFF=16M \
        RCLONE_CONFIG_COFFER_CHUNK_SIZE=8M \
        timeout "$T" rclone --retries 1 --low-level-retries 1 "$@"
}
BR=rclone-e2e
step "rclone mkdir (bucket)" rclone mkdir "coffer:$BR"
step "rclone copy up (0 B, 1 B, 5 MiB+1, 100 MiB multipart)" rclone copy "$SRC" "coffer:$BR/objs"
rclone_lsf() {
    local out
    out=$(rclone lsf --format ps "coffer:$BR/objs") || return 1
    echo "$out"
    local want f
    want=$(for f in "${FILES[@]}"; do echo "$f;$(stat -c %s "$SRC/$f")"; done | sort)
    [ "$(sort <<<"$out")" = "$want" ]
}
step "rclone lsf names and sizes" rclone_lsf
rclone_multipart_etag() {
    local etag
    etag=$(aws s3api head-object --bucket "$BR" --key objs/hundred-mib.bin --query ETag --output text) || return 1
    echo "ETag $etag"
    [[ $etag =~ ^\"?[0-9a-f]{32}-13\"?$ ]]
}
step "rclone uploaded 100 MiB in 13 parts of 8 MiB (ETag ends -13)" rclone_multipart_etag
step "rclone check (sizes and MD5s, incl. multipart md5chksum metadata)" rclone check "$SRC" "coffer:$BR/objs"
step "rclone copy down" rclone copy "coffer:$BR/objs" "$WORK/rclone-back"
rclone_cmp() {
    local f
    for f in "${FILES[@]}"; do cmp "$SRC/$f" "$WORK/rclone-back/$f" || return 1; done
    rm -rf "$WORK/rclone-back"
}
step "rclone downloads byte-identical (cmp)" rclone_cmp
step "rclone copy tree up" rclone copy "$TREE" "coffer:$BR/tree"
step "rclone check tree" rclone check "$TREE" "coffer:$BR/tree"
step "rclone delete" rclone delete "coffer:$BR"
step "bucket empty after rclone delete" equals '' rclone lsf -R "coffer:$BR"
step "rclone rmdir (bucket)" rclone rmdir "coffer:$BR"

# ---------------------------------------------------------------------------------------
# s3cmd
# ---------------------------------------------------------------------------------------
cat >"$WORK/s3cfg" <<EOF
[default]
access_key = $ACCESS_KEY
secret_key = $SECRET_KEY
host_base = 127.0.0.1:$PORT
host_bucket = 127.0.0.1:$PORT
bucket_location = us-east-1
use_https = False
signature_v2 = False
check_ssl_certificate = False
guess_mime_type = False
progress_meter = False
EOF
s3cmd() {
    env -u AWS_CA_BUNDLE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$WORK" \
        timeout "$T" s3cmd -c "$WORK/s3cfg" --no-progress "$@"
}
BS=s3cmd-e2e
step "s3cmd mb" s3cmd mb "s3://$BS"
for f in "${FILES[@]}"; do
    step "s3cmd put $f" s3cmd put "$SRC/$f" "s3://$BS/objs/$f"
done
s3cmd_ls() {
    local out f size
    out=$(s3cmd ls "s3://$BS/objs/") || return 1
    echo "$out"
    for f in "${FILES[@]}"; do
        size=$(stat -c %s "$SRC/$f")
        grep -Eq " $size +s3://$BS/objs/$f\$" <<<"$out" || { echo "missing: $size $f"; return 1; }
    done
}
step "s3cmd ls names and sizes" s3cmd_ls
s3cmd_ls_buckets() {
    local out
    out=$(s3cmd ls) || return 1
    echo "$out"
    grep -q "s3://$BS\$" <<<"$out"
}
step "s3cmd ls buckets" s3cmd_ls_buckets
s3cmd_get_cmp() {
    rm -f "$DL/$1"
    s3cmd get "s3://$BS/objs/$1" "$DL/$1" && cmp "$SRC/$1" "$DL/$1" && rm -f "$DL/$1"
}
for f in "${FILES[@]}"; do
    step "s3cmd get $f + cmp" s3cmd_get_cmp "$f"
done
step "s3cmd del" s3cmd del "s3://$BS/objs/one.bin" "s3://$BS/objs/empty.bin"
step "s3cmd del --recursive --force" s3cmd del --recursive --force "s3://$BS/"
step "bucket empty after s3cmd del" equals '' s3cmd ls "s3://$BS/"
step "s3cmd rb" s3cmd rb "s3://$BS"

# ---------------------------------------------------------------------------------------
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    failed=$((failed + 1))
    failed_steps+=("server still running at the end")
    echo "FAIL server exited during the test" >&2
    tail -n 40 "$WORK/server.log" >&2
fi
if [ "$failed" -gt 0 ]; then
    printf 'failed step: %s\n' "${failed_steps[@]}" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
