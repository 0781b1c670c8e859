//! Server-side encryption for `coffer-bench s3 --sse`: the headers each mode sends and
//! expects back, and the key server behind the SSE-S3 row (`coffer kes server` on
//! loopback, with its request counters read before and after each scenario).
//!
//! SSE-S3 is asked for explicitly (`x-amz-server-side-encryption: AES256` on every PUT,
//! as a client would send it), not through `MINIO_KMS_AUTO_ENCRYPTION`. SSE-C sends the
//! customer key on every PUT and GET; Coffer only takes it over plain HTTP when started
//! with `--insecure-sse-c`, which the bench does (every row speaks plain HTTP).

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use hyper::Method;
use kms::{ClientIdentity, KesClient, ServerTrust};

use crate::procs::{self, Proc, TempDir};

/// The SSE-C customer key: the 32 ASCII bytes `coffer-bench SSE-C key, 32 bytes`.
const SSE_C_KEY_B64: &str = "Y29mZmVyLWJlbmNoIFNTRS1DIGtleSwgMzIgYnl0ZXM=";
/// Base64 of the MD5 of that key (`python3 -c 'import base64,hashlib; …'`); the server
/// checks it, so a wrong value fails the first PUT.
const SSE_C_KEY_MD5_B64: &str = "BUgsUohym7hc2nlWQELI4w==";
/// The one algorithm S3 knows for both modes.
const AES256: &str = "AES256";
/// Name of the key the object server generates data keys under (created at its start-up).
pub const KES_KEY_NAME: &str = "bench-key";

const SSE_C_HEADERS: &[(&str, &str)] = &[
    ("x-amz-server-side-encryption-customer-algorithm", AES256),
    ("x-amz-server-side-encryption-customer-key", SSE_C_KEY_B64),
    (
        "x-amz-server-side-encryption-customer-key-md5",
        SSE_C_KEY_MD5_B64,
    ),
];

/// The encryption a row's requests ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sse {
    /// No encryption headers.
    None,
    /// SSE-S3: the server's KMS (or, on SeaweedFS, its own key) protects the object key.
    S3,
    /// SSE-C: the client sends the key with every request.
    C,
}

impl Sse {
    /// Headers a PUT of this mode sends (all `x-amz-*`, so all signed).
    pub fn put_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Sse::None => &[],
            Sse::S3 => &[("x-amz-server-side-encryption", AES256)],
            Sse::C => SSE_C_HEADERS,
        }
    }

    /// Headers a GET of this mode sends.
    pub fn get_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Sse::None | Sse::S3 => &[],
            Sse::C => SSE_C_HEADERS,
        }
    }

    /// The response header (value `AES256`) by which a server confirms that it encrypted
    /// the object (PUT) or decrypted it (GET).
    pub fn confirmation(self) -> Option<&'static str> {
        match self {
            Sse::None => None,
            Sse::S3 => Some("x-amz-server-side-encryption"),
            Sse::C => Some("x-amz-server-side-encryption-customer-algorithm"),
        }
    }

    /// Fails unless `headers` carry this mode's confirmation.
    pub fn check_response(self, headers: &hyper::HeaderMap) -> Result<()> {
        if let Some(name) = self.confirmation() {
            let got = headers.get(name).and_then(|v| v.to_str().ok());
            ensure!(
                got == Some(AES256),
                "response has {name}: {got:?}, expected {AES256}"
            );
        }
        Ok(())
    }

    /// Suffix of the object keys of this mode (rows of one server must not share keys).
    pub fn key_suffix(self) -> &'static str {
        match self {
            Sse::None => "",
            Sse::S3 => "-sse-s3",
            Sse::C => "-sse-c",
        }
    }
}

/// A `coffer kes server` on loopback for the SSE-S3 row: a filesystem keystore in a
/// temporary directory, a self-signed server certificate, and one client identity that is
/// both the object server's and the bench's (it reads `/v1/metrics` as admin).
pub struct KeyServer {
    /// `https://127.0.0.1:PORT`.
    pub endpoint: String,
    client_cert: PathBuf,
    client_key: PathBuf,
    ca: PathBuf,
    /// The server's stdout: its audit log, one JSON object per request.
    audit_log: PathBuf,
    audit_read: u64,
    generate: u64,
    decrypt: u64,
    kms_errors: u64,
    client: KesClient,
    proc: Proc,
    _dir: TempDir,
}

impl std::fmt::Debug for KeyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyServer")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Counters of a key server at one moment (all since its start).
#[derive(Debug, Clone, Copy, Default)]
pub struct KmsCounters {
    /// Successful requests of any kind (`kes_http_request_success` in `/v1/metrics`).
    pub success: u64,
    /// Requests answered 4xx or 5xx (`kes_http_request_error` + `_failure`).
    pub failed: u64,
    /// `/v1/key/generate/…` requests (audit log).
    pub generate: u64,
    /// `/v1/key/decrypt/…` requests (audit log).
    pub decrypt: u64,
    /// generate/decrypt requests not answered 200 (audit log).
    pub kms_errors: u64,
    /// CPU seconds the key server has used.
    pub cpu: Option<f64>,
}

impl KmsCounters {
    /// What happened between `before` and `self`. The metrics request that took `before`
    /// is itself counted after it answered, so it is taken off `success`.
    pub fn since(&self, before: &KmsCounters) -> KmsCounters {
        KmsCounters {
            success: self
                .success
                .saturating_sub(before.success)
                .saturating_sub(1),
            failed: self.failed.saturating_sub(before.failed),
            generate: self.generate - before.generate,
            decrypt: self.decrypt - before.decrypt,
            kms_errors: self.kms_errors - before.kms_errors,
            cpu: self.cpu.zip(before.cpu).map(|(b, a)| b - a),
        }
    }
}

impl KeyServer {
    /// Makes the identities with `coffer kes identity new`, writes the config and starts
    /// `coffer kes server --config FILE`, waiting (bounded) for its listen line.
    pub async fn start(coffer: &Path) -> Result<Self> {
        let dir = TempDir::new("sse-kes")?;
        let d = dir.path();
        let (kes_key, kes_cert) = (d.join("kes.key"), d.join("kes.crt"));
        let (client_key, client_cert) = (d.join("c.key"), d.join("c.crt"));
        identity_new(
            coffer,
            &kes_key,
            &kes_cert,
            &["--ip", "127.0.0.1", "kes-server"],
        )?;
        let identity = identity_new(coffer, &client_key, &client_cert, &["coffer-bench"])?;
        let addr = procs::free_port()?;
        // The file of the brief, with the audit log written to stdout (its default for
        // YAML files) so the bench can tell generate from decrypt calls.
        let config = format!(
            "address: {addr}\n\
             admin:\n  identity: {identity}\n\
             tls:\n  key: {key}\n  cert: {cert}\n\
             log:\n  audit: on\n\
             keystore:\n  fs:\n    path: {keys}\n",
            key = kes_key.display(),
            cert = kes_cert.display(),
            keys = d.join("keys").display(),
        );
        let cfg_path = d.join("kes.yml");
        std::fs::write(&cfg_path, config)?;
        let audit_log = d.join("audit.log");
        let child = Command::new(coffer)
            .args(["kes", "server", "--config"])
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&audit_log)?)
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {} kes server", coffer.display()))?;
        let (proc, listen) =
            procs::wait_for_listen(child, "coffer kes server listening on https://")?;
        let endpoint = format!("https://{listen}");
        let client = KesClient::new(
            std::slice::from_ref(&endpoint),
            ClientIdentity::from_files(&client_cert, &client_key)?,
            &ServerTrust::from_path(&kes_cert)?,
        )?;
        let mut me = Self {
            endpoint,
            client_cert,
            client_key,
            ca: kes_cert,
            audit_log,
            audit_read: 0,
            generate: 0,
            decrypt: 0,
            kms_errors: 0,
            client,
            proc,
            _dir: dir,
        };
        me.counters().await.context("first read of /v1/metrics")?;
        Ok(me)
    }

    /// Process id of the key server.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The environment that points `coffer server` at this key server (the key is
    /// created by the object server's start-up self-test).
    pub fn object_server_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MINIO_KMS_KES_ENDPOINT", self.endpoint.clone()),
            (
                "MINIO_KMS_KES_CERT_FILE",
                self.client_cert.display().to_string(),
            ),
            (
                "MINIO_KMS_KES_KEY_FILE",
                self.client_key.display().to_string(),
            ),
            ("MINIO_KMS_KES_CAPATH", self.ca.display().to_string()),
            ("MINIO_KMS_KES_KEY_NAME", KES_KEY_NAME.to_string()),
        ]
    }

    /// Reads `/v1/metrics` (mutual TLS, admin identity) and the audit lines written since
    /// the last call.
    pub async fn counters(&mut self) -> Result<KmsCounters> {
        self.proc.check_alive("coffer kes server")?;
        let r = self
            .client
            .send(Method::GET, "/v1/metrics", None)
            .await
            .context("GET /v1/metrics")?;
        ensure!(r.status == 200, "GET /v1/metrics: HTTP {}", r.status);
        let text = String::from_utf8_lossy(&r.body);
        let success = family_sum(&text, "kes_http_request_success");
        let failed = family_sum(&text, "kes_http_request_error")
            + family_sum(&text, "kes_http_request_failure");
        // Every audit line is written before its response leaves the server, and every
        // KMS call of a finished S3 request has been answered: the file is complete up to
        // this metrics request.
        self.read_audit()?;
        Ok(KmsCounters {
            success,
            failed,
            generate: self.generate,
            decrypt: self.decrypt,
            kms_errors: self.kms_errors,
            cpu: procs::cpu_seconds(&self.pid().to_string()),
        })
    }

    fn read_audit(&mut self) -> Result<()> {
        let mut f = std::fs::File::open(&self.audit_log)?;
        f.seek(SeekFrom::Start(self.audit_read))?;
        let mut r = BufReader::new(f);
        let mut line = String::new();
        loop {
            line.clear();
            let n = r.read_line(&mut line)?;
            // A line still being written is read again next time.
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            self.audit_read += n as u64;
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let path = v["request"]["path"].as_str().unwrap_or("");
            let ok = v["response"]["code"].as_u64() == Some(200);
            if path.starts_with("/v1/key/generate/") {
                self.generate += 1;
            } else if path.starts_with("/v1/key/decrypt/") {
                self.decrypt += 1;
            } else {
                continue;
            }
            if !ok {
                self.kms_errors += 1;
            }
        }
        Ok(())
    }
}

/// `coffer kes identity new --key KEY --cert CERT ARGS…`; returns the identity it prints
/// after "Your Identity:".
fn identity_new(coffer: &Path, key: &Path, cert: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(coffer)
        .args(["kes", "identity", "new", "--key"])
        .arg(key)
        .arg("--cert")
        .arg(cert)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {} kes identity new", coffer.display()))?;
    if !out.status.success() {
        bail!(
            "coffer kes identity new: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text
        .split("Your Identity:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .context("no \"Your Identity:\" in the output of coffer kes identity new")?;
    ensure!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "identity {id:?} is not 64 hex digits"
    );
    Ok(id.to_string())
}

/// Sum of the samples of one counter family in a Prometheus text exposition.
fn family_sum(text: &str, family: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Whether `needle` occurs in any file under `dir` (files above 1 GiB are skipped): the
/// check that an encrypting row really stores no plaintext.
pub fn found_at_rest(dir: &Path, needle: &[u8]) -> Result<bool> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("read {}", d.display()))? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() && e.metadata()?.len() <= 1 << 30 {
                let Ok(bytes) = std::fs::read(e.path()) else {
                    continue;
                };
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}
