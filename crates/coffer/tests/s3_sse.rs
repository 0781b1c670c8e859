//! Runs the server-side encryption end-to-end suite (tests/e2e/s3_sse.py) against the
//! real binary: SSE-S3, SSE-KMS, SSE-C, bucket default encryption, auto-encryption and
//! the KMS guide quick start with two `coffer kes server` processes.

#[test]
fn sse_end_to_end() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/e2e/s3_sse.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("COFFER_BIN", env!("CARGO_BIN_EXE_coffer"))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SSE suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
