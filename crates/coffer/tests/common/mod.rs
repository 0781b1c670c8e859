//! Helpers for end-to-end tests: temporary directories, key servers started as real
//! processes on 127.0.0.1, KES clients with generated identities.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kes_proto::apikey::ApiKey;
use kms::{ClientIdentity, KesClient, ServerTrust};

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!(
            "coffer-e2e-{tag}-{}-{}",
            std::process::id(),
            rand_u64()
        ));
        std::fs::create_dir_all(&d).expect("create temp dir");
        Self(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).expect("random");
    u64::from_le_bytes(b)
}

/// A process started by a test, killed by pid when dropped.
pub struct Proc {
    pub child: Child,
    pub addr: String,
    /// Everything the process wrote to stderr so far.
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `coffer kes server` with `args` and waits (bounded) for its listen address.
pub fn start_kes(args: &[&str]) -> Proc {
    start_kes_in(args, None)
}

/// Like [`start_kes`], with a working directory.
pub fn start_kes_in(args: &[&str], cwd: Option<&Path>) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd
        .arg("kes")
        .arg("server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start coffer kes server");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut l) = sink.lock() {
                l.push(line.clone());
            }
            if let Some(addr) = line.strip_prefix("coffer kes server listening on https://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(Ok(addr.to_string()));
                }
            } else if let Some(tx) = tx.as_ref() {
                let _ = tx.send(Err(line));
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut errors = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(addr)) => {
                return Proc {
                    child,
                    addr,
                    stderr: lines,
                }
            }
            Ok(Err(line)) => errors.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("key server did not start: {}", errors.join(" | "));
            }
        }
    }
}

/// Runs `coffer` to completion; returns (success, stdout, stderr).
pub fn coffer(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .env_remove("KES_SERVER")
        .env_remove("KES_API_KEY")
        .env_remove("MINIO_KMS_KES_ENDPOINT")
        .env_remove("MINIO_KMS_KES_API_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("run coffer");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A server certificate for 127.0.0.1, written as PEM files in `dir`.
pub fn server_cert(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let (cert, key) = kes_proto::apikey::self_signed_server_cert(
        &["127.0.0.1".to_string(), "localhost".to_string()],
        1,
    )
    .expect("server cert");
    let cert_path = dir.join("server.crt");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, pem("CERTIFICATE", &cert)).expect("write cert");
    std::fs::write(&key_path, pem("PRIVATE KEY", &key)).expect("write key");
    (cert_path, key_path, cert)
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        body.join("\n")
    )
}

/// A KES client speaking for `key`, trusting `server_cert`.
pub fn kes_client(addr: &str, key: &ApiKey, server_cert: &[u8]) -> KesClient {
    let identity = ClientIdentity::from_api_key(key).expect("client identity");
    let trust = ServerTrust::Roots(vec![server_cert.to_vec().into()]);
    KesClient::new(&[format!("https://{addr}")], identity, &trust).expect("client")
}

/// Runs one of the Python end-to-end suites in `tests/e2e/` against this build of the
/// binary; it must end with `N passed, 0 failed`.
pub fn run_python_suite(script: &str, what: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/e2e")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .env("COFFER_BIN", env!("CARGO_BIN_EXE_coffer"))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
