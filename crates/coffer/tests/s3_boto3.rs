//! Runs the boto3 end-to-end suite (tests/e2e/s3_boto3.py) against the real binary.

#[test]
fn boto3_end_to_end() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/e2e/s3_boto3.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("COFFER_BIN", env!("CARGO_BIN_EXE_coffer"))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "boto3 suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
