//! End-to-end: the stock S3 command-line clients (aws-cli, rclone, s3cmd) against a real
//! `coffer server`, by running `tests/e2e/cli_clients.sh` (which starts and stops its own
//! server on 127.0.0.1). The tools are installed by `scripts/test`.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn aws_cli_rclone_and_s3cmd_round_trips() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tests/e2e/cli_clients.sh");
    assert!(script.is_file(), "missing {}", script.display());

    let out = Command::new("bash")
        .arg(&script)
        .current_dir(&root)
        .env("COFFER_BIN", env!("CARGO_BIN_EXE_coffer"))
        .env_remove("E2E_KEEP_GOING")
        .output()
        .expect("run bash tests/e2e/cli_clients.sh");

    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");

    let summary = stdout.lines().last().unwrap_or("");
    assert!(
        out.status.success(),
        "tests/e2e/cli_clients.sh failed ({}): {summary}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    assert!(
        summary.ends_with(" passed, 0 failed") && !summary.starts_with("0 "),
        "unexpected summary line: {summary:?}"
    );
}
