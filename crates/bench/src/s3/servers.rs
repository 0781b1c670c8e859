//! The S3 servers under test, each a child process on a free loopback port with its own
//! temporary data directory, and the bounded wait until one takes requests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use super::client::Client;
use super::sse::{KeyServer, Sse};
use super::{payload_chunk, ACCESS_KEY, KIB, SECRET_KEY};
use crate::procs::{self, Proc, TempDir};

/// How long a server may take to answer its first bucket creation.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A server implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Coffer,
    /// Another `coffer` binary (`--coffer-before`): the same run's before/after figures.
    CofferBefore,
    S3sFs,
    Seaweed,
    /// `coffer gateway s3` over the run's SeaweedFS.
    Gateway,
    /// Two `coffer gateway s3` over the run's SeaweedFS, clients split between them.
    Gateway2,
}

impl System {
    pub fn label(self) -> &'static str {
        match self {
            System::Coffer => "coffer",
            System::CofferBefore => "coffer before",
            System::S3sFs => "s3s-fs",
            System::Seaweed => "SeaweedFS",
            System::Gateway => "coffer gateway",
            System::Gateway2 => "2 coffer gateways",
        }
    }
}

/// One row of the tables: a system and the encryption its requests ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub system: System,
    pub sse: Sse,
}

impl Row {
    pub const fn new(system: System, sse: Sse) -> Self {
        Self { system, sse }
    }

    pub fn label(self) -> &'static str {
        match (self.system, self.sse) {
            (System::Coffer, Sse::S3) => "coffer SSE-S3 (KES)",
            (System::Coffer, Sse::C) => "coffer SSE-C",
            (System::Seaweed, Sse::S3) => "SeaweedFS SSE-S3",
            (System::Seaweed, Sse::C) => "SeaweedFS SSE-C",
            (System::S3sFs, Sse::S3) => "s3s-fs SSE-S3",
            (System::S3sFs, Sse::C) => "s3s-fs SSE-C",
            (System::CofferBefore, Sse::S3) => "coffer before SSE-S3",
            (System::CofferBefore, Sse::C) => "coffer before SSE-C",
            (System::Gateway, Sse::S3) => "coffer gateway SSE-S3",
            (System::Gateway, Sse::C) => "coffer gateway SSE-C",
            (System::Gateway2, Sse::S3) => "2 coffer gateways SSE-S3",
            (System::Gateway2, Sse::C) => "2 coffer gateways SSE-C",
            (s, Sse::None) => s.label(),
        }
    }
}

/// The binaries to run.
#[derive(Debug, Clone)]
pub struct Bins {
    pub coffer: PathBuf,
    pub coffer_before: Option<PathBuf>,
    pub s3s_fs: Option<PathBuf>,
    pub weed: Option<PathBuf>,
}

/// How a server is set up for encryption.
#[derive(Debug, Clone, Copy)]
pub enum Setup<'a> {
    /// No KMS (`coffer server --no-dev-kms`; the baselines as they come).
    Plain,
    /// Coffer with `--insecure-sse-c` (SSE-C over plain HTTP), no KMS.
    SseC,
    /// Coffer with this key server as its KMS.
    Kes(&'a KeyServer),
    /// SeaweedFS with this SSE-S3 key-encryption key (64 hex digits, `WEED_S3_SSE_KEK`).
    WeedKek(&'a str),
    /// Coffer gateways over the SeaweedFS `backend`, with this key server as their KMS.
    Gateway {
        backend: &'a Server,
        kes: &'a KeyServer,
    },
}

/// A running server under test.
#[derive(Debug)]
pub struct Server {
    pub system: System,
    /// The encryption mode of a Coffer server's row (each Coffer row has its own
    /// server); `Sse::None` for the baselines, whose one server takes every mode.
    pub coffer_sse: Sse,
    pub addr: SocketAddr,
    /// The data directory.
    pub data: PathBuf,
    log: PathBuf,
    proc: Proc,
    /// More nodes of the same system (a second gateway), which clients share.
    more: Vec<(SocketAddr, Proc)>,
    /// Processes whose CPU counts as this system's too (a gateway's backend).
    also_cpu: Vec<u32>,
    _dir: TempDir,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Every process whose CPU time is this system's.
    pub fn pids(&self) -> Vec<u32> {
        std::iter::once(self.proc.pid())
            .chain(self.more.iter().map(|(_, p)| p.pid()))
            .chain(self.also_cpu.iter().copied())
            .collect()
    }

    /// The addresses clients may use, spread over in turn.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        std::iter::once(self.addr)
            .chain(self.more.iter().map(|(a, _)| *a))
            .collect()
    }

    /// Whether this server takes the requests of `row`.
    pub fn serves(&self, row: Row) -> bool {
        let own_server = matches!(
            self.system,
            System::Coffer | System::Gateway | System::Gateway2
        );
        self.system == row.system && (!own_server || self.coffer_sse == row.sse)
    }

    pub fn check_alive(&mut self) -> Result<()> {
        let what = self.system.label();
        let log = self.log.clone();
        let with_log = |e: anyhow::Error| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            anyhow::anyhow!("{e}; log tail: {}", tail.join(" | "))
        };
        self.proc.check_alive(what).map_err(with_log)?;
        for (_, p) in &mut self.more {
            p.check_alive(what).map_err(with_log)?;
        }
        Ok(())
    }
}

/// Starts `system` on a free loopback port with its own temporary data directory.
pub fn start(system: System, setup: Setup<'_>, bins: &Bins) -> Result<Server> {
    let tag = match system {
        System::Coffer => "s3-coffer",
        System::CofferBefore => "s3-coffer-before",
        System::S3sFs => "s3-s3sfs",
        System::Seaweed => "s3-weed",
        System::Gateway | System::Gateway2 => "s3-gateway",
    };
    let dir = TempDir::new(tag)?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let addr = procs::free_port()?;
    let log = dir.path().join("server.log");
    let out = std::fs::File::create(&log)?;
    let mut coffer_sse = Sse::None;
    let mut cmd;
    match system {
        System::Coffer | System::CofferBefore => {
            cmd = Command::new(if system == System::Coffer {
                &bins.coffer
            } else {
                bins.coffer_before
                    .as_ref()
                    .context("no --coffer-before binary")?
            });
            cmd.arg("server")
                .arg(&data)
                .args(["--address", &addr.to_string(), "--quiet"]);
            // Only what is set here configures the server: no KMS or user settings of the
            // caller's environment, and a configuration directory of its own, so no
            // development key is ever written to the caller's home.
            for (k, _) in std::env::vars_os() {
                let name = k.to_string_lossy();
                if name.starts_with("MINIO_") || name.starts_with("COFFER_") {
                    cmd.env_remove(&k);
                }
            }
            let config = dir.path().join("config");
            std::fs::create_dir_all(&config)?;
            cmd.env("XDG_CONFIG_HOME", &config)
                .env("MINIO_ROOT_USER", ACCESS_KEY)
                .env("MINIO_ROOT_PASSWORD", SECRET_KEY);
            match setup {
                Setup::Plain | Setup::WeedKek(_) | Setup::Gateway { .. } => {
                    cmd.arg("--no-dev-kms");
                }
                Setup::SseC => {
                    cmd.args(["--no-dev-kms", "--insecure-sse-c"]);
                    coffer_sse = Sse::C;
                }
                Setup::Kes(kes) => {
                    cmd.envs(kes.object_server_env());
                    coffer_sse = Sse::S3;
                }
            }
        }
        System::Gateway | System::Gateway2 => {
            let Setup::Gateway { backend, kes } = setup else {
                bail!("a gateway needs a backend and a key server");
            };
            coffer_sse = Sse::S3;
            let nodes = if system == System::Gateway2 { 2 } else { 1 };
            let config = dir.path().join("config");
            std::fs::create_dir_all(&config)?;
            let gateway = |addr: SocketAddr, out: std::fs::File| -> Result<Proc> {
                let mut cmd = Command::new(&bins.coffer);
                cmd.args(["gateway", "s3"])
                    .arg(format!("http://{}/coffer-bench-gateway", backend.addr))
                    .args(["--address", &addr.to_string(), "--quiet"]);
                for (k, _) in std::env::vars_os() {
                    let name = k.to_string_lossy();
                    if name.starts_with("MINIO_")
                        || name.starts_with("COFFER_")
                        || name.starts_with("AWS_")
                    {
                        cmd.env_remove(&k);
                    }
                }
                cmd.env("XDG_CONFIG_HOME", &config)
                    .env("MINIO_ROOT_USER", ACCESS_KEY)
                    .env("MINIO_ROOT_PASSWORD", SECRET_KEY)
                    .env("COFFER_BACKEND_ACCESS_KEY", ACCESS_KEY)
                    .env("COFFER_BACKEND_SECRET_KEY", SECRET_KEY)
                    .envs(kes.object_server_env());
                let child = cmd
                    .stdin(Stdio::null())
                    .stdout(out.try_clone()?)
                    .stderr(out)
                    .spawn()
                    .context("start coffer gateway")?;
                Ok(Proc::new(child))
            };
            let proc = gateway(addr, out.try_clone()?)?;
            let mut more = Vec::new();
            for _ in 1..nodes {
                let a = procs::free_port()?;
                more.push((a, gateway(a, out.try_clone()?)?));
            }
            // Clients of every node: each must take connections before the run.
            for a in std::iter::once(addr).chain(more.iter().map(|(a, _)| *a)) {
                let deadline = Instant::now() + START_TIMEOUT;
                while std::net::TcpStream::connect(a).is_err() {
                    ensure!(Instant::now() < deadline, "gateway on {a} did not start");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            return Ok(Server {
                system,
                coffer_sse,
                addr,
                data: backend.data.clone(),
                log,
                proc,
                more,
                also_cpu: vec![backend.pid()],
                _dir: dir,
            });
        }
        System::S3sFs => {
            let bin = bins.s3s_fs.as_ref().context("no s3s-fs binary")?;
            cmd = Command::new(bin);
            cmd.args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&data);
        }
        System::Seaweed => {
            let bin = bins.weed.as_ref().context("no weed binary")?;
            let config = dir.path().join("s3.json");
            let identities = serde_json::json!({
                "identities": [{
                    "name": "bench",
                    "credentials": [{ "accessKey": ACCESS_KEY, "secretKey": SECRET_KEY }],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }]
            });
            std::fs::write(&config, serde_json::to_vec_pretty(&identities)?)?;
            let port = |name: &str| -> Result<String> {
                Ok(format!("-{name}={}", procs::free_port()?.port()))
            };
            cmd = Command::new(bin);
            cmd.arg("server")
                .arg(format!("-dir={}", data.display()))
                .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
                .arg(port("master.port")?)
                .arg(port("master.port.grpc")?)
                .arg(port("volume.port")?)
                .arg(port("volume.port.grpc")?)
                .arg(port("filer.port")?)
                .arg(port("filer.port.grpc")?)
                .arg("-s3")
                .arg(format!("-s3.port={}", addr.port()))
                .arg(port("s3.port.grpc")?)
                .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
                .arg(format!("-s3.config={}", config.display()))
                .arg(format!(
                    "-s3.localSocket={}",
                    dir.path().join("s3.sock").display()
                ))
                .arg("-master.volumeSizeLimitMB=1024")
                // Overwritten objects keep their space until a vacuum; the default cap of
                // 8 volumes (8 GiB here) fills up during a --sse run and PUTs fail with
                // 500. 0 lets the volume server size the cap to the free disk space.
                .arg("-volume.max=0")
                .env("HOME", dir.path());
            // SeaweedFS's SSE-S3 is off unless a key-encryption key is configured
            // (`s3.sse.kek` in security.toml, or this variable); it needs no KMS.
            if let Setup::WeedKek(kek) = setup {
                cmd.env("WEED_S3_SSE_KEK", kek);
            }
        }
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("start {}", system.label()))?;
    Ok(Server {
        system,
        coffer_sse,
        addr,
        data,
        log,
        proc: Proc::new(child),
        more: Vec::new(),
        also_cpu: Vec::new(),
        _dir: dir,
    })
}

/// Waits (bounded) until the server creates the bucket, then checks one PUT/GET round trip.
pub async fn prepare(server: &mut Server) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::new();
    loop {
        server.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "{} not ready after {START_TIMEOUT:?}: {last}",
                server.system.label()
            );
        }
        match Client::connect(server.addr, Sse::None).await {
            Ok(mut c) => match c.create_bucket().await {
                Ok((200, _)) => break,
                Ok((409, body)) if body.contains("BucketAlreadyOwnedByYou") => break,
                Ok((s, body)) => last = format!("HTTP {s}: {body}"),
                Err(e) => last = format!("{e:#}"),
            },
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let chunk = payload_chunk();
    let mut c = Client::connect(server.addr, Sse::None).await?;
    // A new bucket may take a moment to take writes on SeaweedFS: retry the first PUT.
    let mut tries = 0;
    loop {
        match c.put("hello", 4 * KIB, &chunk).await {
            Ok(()) => break,
            Err(e) if tries < 50 => {
                last = format!("{e:#}");
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                c = Client::connect(server.addr, Sse::None).await?;
            }
            Err(e) => bail!("first PUT: {e:#} (earlier: {last})"),
        }
    }
    let n = c.get("hello", 4 * KIB).await?;
    ensure!(n == 4 * KIB, "GET returned {n} bytes");
    Ok(())
}
