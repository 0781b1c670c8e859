//! Runs the versioning and object-lock end-to-end suite (tests/e2e/s3_versioning.py)
//! against the real binary: versions of plain and encrypted objects, delete markers,
//! version listings, object lock, and a crash test during versioned writes.

#[test]
fn versioning_end_to_end() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/e2e/s3_versioning.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("COFFER_BIN", env!("CARGO_BIN_EXE_coffer"))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "versioning suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
