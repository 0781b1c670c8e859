//! Runs the server-side encryption end-to-end suite (tests/e2e/s3_sse.py) against the
//! real binary: SSE-S3, SSE-KMS, SSE-C, bucket default encryption, auto-encryption and
//! the KMS guide quick start with two `coffer kes server` processes.

mod common;

#[test]
fn sse_end_to_end() {
    common::run_python_suite("s3_sse.py", "SSE");
}
