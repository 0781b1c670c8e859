//! `coffer-bench s3`: PUT and GET throughput and latency of `coffer server` against the
//! s3s sample server (`s3s-fs`) and SeaweedFS (`weed server -s3`), each on its own
//! temporary data directory, plus the server's peak memory while one large object streams
//! through it.
//!
//! The load generator signs every request itself (SigV4, `UNSIGNED-PAYLOAD` for object
//! bodies, see `coffer_bench::sigv4`), speaks HTTP/1.1 over one keep-alive connection per
//! worker, streams PUT bodies from one shared 1 MiB buffer and counts GET bodies without
//! keeping them, so its own memory stays small whatever the object size.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use coffer_bench::sigv4::{self, Credentials, ToSign};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, HOST};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::load::Outcome;
use crate::procs::{self, cpu_seconds, status_kib, Proc, TempDir};
use crate::S3Args;

const ACCESS_KEY: &str = "benchadmin";
const SECRET_KEY: &str = "bench-secret-key-do-not-use";
const BUCKET: &str = "bench";
const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
const GIB: f64 = (1u64 << 30) as f64;
/// How long a server may take to answer its first bucket creation.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A worker gives up after this many failed requests.
const MAX_ERRORS: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Coffer,
    S3sFs,
    Seaweed,
}

impl System {
    fn label(self) -> &'static str {
        match self {
            System::Coffer => "coffer",
            System::S3sFs => "s3s-fs",
            System::Seaweed => "SeaweedFS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Put,
    Get,
}

impl Verb {
    fn label(self) -> &'static str {
        match self {
            Verb::Put => "PUT",
            Verb::Get => "GET",
        }
    }
}

/// How long a scenario runs after its warm-up.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// Warm up for the first duration, then measure for the second.
    Time(Duration, Duration),
    /// One unmeasured request per worker, then this many measured ones each.
    Count(u64),
}

#[derive(Debug)]
struct Scenario {
    system: System,
    verb: Verb,
    size: u64,
    workers: usize,
    out: Option<Outcome>,
    /// Bytes moved by the measured requests.
    bytes: u64,
    skipped: Option<String>,
}

/// A running server under test.
#[derive(Debug)]
struct Server {
    system: System,
    addr: SocketAddr,
    log: PathBuf,
    proc: Proc,
    _dir: TempDir,
}

impl Server {
    fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn check_alive(&mut self) -> Result<()> {
        let what = self.system.label();
        self.proc.check_alive(what).map_err(|e| {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            anyhow::anyhow!("{e}; log tail: {}", tail.join(" | "))
        })
    }
}

/// The binaries to run.
#[derive(Debug, Clone)]
struct Bins {
    coffer: PathBuf,
    s3s_fs: Option<PathBuf>,
    weed: Option<PathBuf>,
}

pub async fn main(args: S3Args) -> Result<()> {
    ensure!(
        args.secs > 0.0 && args.secs <= 120.0,
        "--secs must be in (0, 120]"
    );
    ensure!(
        (0.0..=10.0).contains(&args.warmup),
        "--warmup must be in [0, 10]"
    );
    ensure!(
        (1..=128).contains(&args.concurrency),
        "--concurrency must be 1..=128"
    );
    ensure!(
        (1..=256).contains(&args.large_ops),
        "--large-ops must be 1..=256"
    );
    ensure!(args.stream_gib <= 64, "--stream-gib must be at most 64");
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let coffer = args
        .coffer
        .clone()
        .unwrap_or_else(|| root.join("target/release/coffer"));
    ensure!(
        coffer.is_file(),
        "{} not found: run `cargo build --release -p coffer` or pass --coffer",
        coffer.display()
    );
    let pick = |skip: bool, given: &Option<PathBuf>, default: &str| -> Result<Option<PathBuf>> {
        if skip {
            return Ok(None);
        }
        let p = given.clone().unwrap_or_else(|| PathBuf::from(default));
        ensure!(
            p.is_file(),
            "{} not found (see the module docs, or skip it)",
            p.display()
        );
        Ok(Some(p))
    };
    let bins = Bins {
        coffer,
        s3s_fs: pick(args.no_s3s_fs, &args.s3s_fs, "/work/bench-tools/bin/s3s-fs")?,
        weed: pick(args.no_weed, &args.weed, "/work/bench-tools/weed")?,
    };
    let mut systems = vec![System::Coffer];
    if bins.s3s_fs.is_some() {
        systems.push(System::S3sFs);
    }
    if bins.weed.is_some() {
        systems.push(System::Seaweed);
    }

    // Every system keeps running through the matrix (each on its own data directory), so
    // scenarios can alternate between them without restarts.
    let mut servers = Vec::new();
    for &system in &systems {
        let mut server = start(system, &bins)?;
        let t = Instant::now();
        prepare(&mut server).await?;
        eprintln!(
            "{} on http://{} ready in {:.1} s (pid {})",
            system.label(),
            server.addr,
            t.elapsed().as_secs_f64(),
            server.pid()
        );
        servers.push(server);
    }
    let chunk = payload_chunk();
    for server in &mut servers {
        for size in [4 * KIB, MIB, 64 * MIB] {
            let mut c = Client::connect(server.addr).await?;
            c.put(&get_key(size), size, &chunk)
                .await
                .with_context(|| format!("{}: put {}", server.system.label(), get_key(size)))?;
        }
    }

    let time_plan = Plan::Time(
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.secs),
    );
    let mut scenarios: Vec<Scenario> = Vec::new();
    for size in [4 * KIB, MIB, 64 * MIB] {
        for verb in [Verb::Put, Verb::Get] {
            for workers in [1, args.concurrency] {
                for &system in &systems {
                    scenarios.push(Scenario {
                        system,
                        verb,
                        size,
                        workers,
                        out: None,
                        bytes: 0,
                        skipped: None,
                    });
                }
            }
        }
    }

    let started = Instant::now();
    let budget = Duration::from_secs_f64(args.max_total_secs);
    let n_sys = systems.len();
    for (g, group) in scenarios.chunks_mut(n_sys).enumerate() {
        // The system that goes first rotates from one scenario to the next.
        for k in 0..n_sys {
            let s = &mut group[(g + k) % n_sys];
            if started.elapsed() > budget {
                s.skipped = Some("total time budget spent".into());
                continue;
            }
            let plan = if s.size >= 64 * MIB {
                Plan::Count((args.large_ops / s.workers as u64).max(1))
            } else {
                time_plan
            };
            let Some(server) = servers.iter_mut().find(|x| x.system == s.system) else {
                continue;
            };
            server.check_alive()?;
            match run(server, s.verb, s.size, s.workers, plan, &chunk).await {
                Ok((out, bytes)) => {
                    eprintln!(
                        "{:<9} {} {:>6} x{:<3} {:>8.1} MiB/s {:>8.0} ops/s  p50 {:>8.2} ms  p99 {:>8.2} ms  server {} s/GiB{}",
                        s.system.label(),
                        s.verb.label(),
                        size_label(s.size),
                        s.workers,
                        mib_s(bytes, out.secs),
                        out.rate(),
                        out.ms(0.5),
                        out.ms(0.99),
                        opt(cpu_per_gib(&out, bytes), 2),
                        if out.errors > 0 {
                            format!("  {} errors: {}", out.errors, out.first_error.clone().unwrap_or_default())
                        } else {
                            String::new()
                        },
                    );
                    s.out = Some(out);
                    s.bytes = bytes;
                }
                Err(e) => {
                    eprintln!(
                        "{} {} {} x{} failed: {e:#}",
                        s.system.label(),
                        s.verb.label(),
                        size_label(s.size),
                        s.workers
                    );
                    s.skipped = Some(format!("failed: {e:#}"));
                }
            }
        }
    }
    eprintln!(
        "matrix measured in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    drop(servers);

    let mut memory = Vec::new();
    if args.stream_gib > 0 {
        let mut which = vec![System::Coffer];
        if args.stream_all {
            which.extend(systems.iter().copied().filter(|s| *s != System::Coffer));
        }
        for system in which {
            match stream(system, &bins, args.stream_gib * 1024 * MIB, &chunk).await {
                Ok(m) => memory.push(m),
                Err(e) => eprintln!("{} streaming failed: {e:#}", system.label()),
            }
        }
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    print_report(&scenarios, &systems, &memory, &args, cores);
    Ok(())
}

/// The body of every PUT: one 1 MiB buffer of pseudo-random bytes, repeated (and cut).
fn payload_chunk() -> Bytes {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut v = Vec::with_capacity(MIB as usize);
    while v.len() < MIB as usize {
        // xorshift64*: cheap bytes that no server can compress or deduplicate by accident.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    Bytes::from(v)
}

fn get_key(size: u64) -> String {
    format!("get-{size}")
}

fn size_label(size: u64) -> String {
    if size >= 1024 * MIB {
        format!("{}GiB", size / (1024 * MIB))
    } else if size >= MIB {
        format!("{}MiB", size / MIB)
    } else {
        format!("{}KiB", size / KIB)
    }
}

/// Per-request deadline: 10 s plus the object at 10 MiB/s.
fn request_timeout(size: u64) -> Duration {
    Duration::from_secs(10) + Duration::from_secs_f64(size as f64 / (10.0 * MIB as f64))
}

/// Starts `system` on a free loopback port with its own temporary data directory.
fn start(system: System, bins: &Bins) -> Result<Server> {
    let tag = match system {
        System::Coffer => "s3-coffer",
        System::S3sFs => "s3-s3sfs",
        System::Seaweed => "s3-weed",
    };
    let dir = TempDir::new(tag)?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let addr = procs::free_port()?;
    let log = dir.path().join("server.log");
    let out = std::fs::File::create(&log)?;
    let mut cmd;
    match system {
        System::Coffer => {
            cmd = Command::new(&bins.coffer);
            cmd.arg("server")
                .arg(&data)
                .args(["--address", &addr.to_string(), "--quiet"])
                .env("MINIO_ROOT_USER", ACCESS_KEY)
                .env("MINIO_ROOT_PASSWORD", SECRET_KEY);
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
                .env("HOME", dir.path());
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
        addr,
        log,
        proc: Proc::new(child),
        _dir: dir,
    })
}

/// Waits (bounded) until the server creates the bucket, then checks one PUT/GET round trip.
async fn prepare(server: &mut Server) -> Result<()> {
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
        match Client::connect(server.addr).await {
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
    let mut c = Client::connect(server.addr).await?;
    // A new bucket may take a moment to take writes on SeaweedFS: retry the first PUT.
    let mut tries = 0;
    loop {
        match c.put("hello", 4 * KIB, &chunk).await {
            Ok(()) => break,
            Err(e) if tries < 50 => {
                last = format!("{e:#}");
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                c = Client::connect(server.addr).await?;
            }
            Err(e) => bail!("first PUT: {e:#} (earlier: {last})"),
        }
    }
    let n = c.get("hello", 4 * KIB).await?;
    ensure!(n == 4 * KIB, "GET returned {n} bytes");
    Ok(())
}

/// Runs one scenario; returns its outcome and the bytes moved by measured requests.
async fn run(
    server: &Server,
    verb: Verb,
    size: u64,
    workers: usize,
    plan: Plan,
    chunk: &Bytes,
) -> Result<(Outcome, u64)> {
    let mut clients = Vec::with_capacity(workers);
    for _ in 0..workers {
        clients.push(Client::connect(server.addr).await?);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(workers + 1));
    let mut tasks = Vec::new();
    for (w, mut c) in clients.into_iter().enumerate() {
        let barrier = barrier.clone();
        let chunk = chunk.clone();
        let addr = server.addr;
        let key = match verb {
            Verb::Put => format!("put-{size}-w{w}"),
            Verb::Get => get_key(size),
        };
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::new()?;
            // Warm-up, unmeasured; a failure here fails the scenario.
            match plan {
                Plan::Time(warmup, _) => {
                    let end = Instant::now() + warmup;
                    loop {
                        op(&mut c, verb, &key, size, &chunk).await?;
                        if Instant::now() >= end {
                            break;
                        }
                    }
                }
                Plan::Count(_) => op(&mut c, verb, &key, size, &chunk).await?,
            }
            barrier.wait().await;
            let t_start = Instant::now();
            let mut done = 0u64;
            loop {
                let more = match plan {
                    Plan::Time(_, secs) => Instant::now() < t_start + secs,
                    Plan::Count(n) => done < n,
                };
                if !more || out.errors >= MAX_ERRORS {
                    break;
                }
                let t0 = Instant::now();
                let r = op(&mut c, verb, &key, size, &chunk).await;
                let t1 = Instant::now();
                done += 1;
                let err = match r {
                    Ok(()) => {
                        let us =
                            u64::try_from(t1.duration_since(t0).as_micros()).unwrap_or(u64::MAX);
                        out.hist.saturating_record(us.max(1));
                        continue;
                    }
                    Err(e) => format!("{e:#}"),
                };
                out.errors += 1;
                if out.first_error.is_none() {
                    out.first_error = Some(err);
                }
                // The connection may be unusable after a failure.
                if let Ok(fresh) = Client::connect(addr).await {
                    c = fresh;
                }
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let bound = match plan {
        Plan::Time(w, s) => w + s + request_timeout(size) * 2,
        Plan::Count(n) => request_timeout(size) * (n as u32 + 2),
    };
    let wait_start = tokio::time::timeout(bound, barrier.wait()).await;
    if wait_start.is_err() {
        for t in &tasks {
            t.abort();
        }
        // A worker that failed its warm-up never reaches the barrier: report its error.
        for t in tasks {
            if let Ok(Err(e)) = t.await {
                return Err(e);
            }
        }
        bail!("warm-up did not finish within {bound:?}");
    }
    let pid = server.pid().to_string();
    let cpu0 = cpu_seconds(&pid);
    let client0 = cpu_seconds("self");
    let t0 = Instant::now();
    let mut total = Outcome::new()?;
    for t in tasks {
        let out = tokio::time::timeout(bound, t)
            .await
            .context("scenario did not finish in time")???;
        total.merge(&out)?;
    }
    total.secs = t0.elapsed().as_secs_f64();
    total.server_cpu = cpu_seconds(&pid).zip(cpu0).map(|(b, a)| b - a);
    total.client_cpu = cpu_seconds("self").zip(client0).map(|(b, a)| b - a);
    let bytes = total.hist.len() * size;
    Ok((total, bytes))
}

/// One request of a scenario, bounded by `request_timeout`.
async fn op(c: &mut Client, verb: Verb, key: &str, size: u64, chunk: &Bytes) -> Result<()> {
    let fut = async {
        match verb {
            Verb::Put => c.put(key, size, chunk).await,
            Verb::Get => {
                let n = c.get(key, size).await?;
                ensure!(n == size, "GET returned {n} of {size} bytes");
                Ok(())
            }
        }
    };
    match tokio::time::timeout(request_timeout(size), fut).await {
        Ok(r) => r,
        Err(_) => bail!("request timed out"),
    }
}

/// Peak memory of one server while one large object streams through it.
#[derive(Debug)]
struct Memory {
    system: System,
    size: u64,
    /// VmHWM after start-up and one small PUT/GET, KiB.
    base_kib: Option<u64>,
    /// VmHWM after the PUT, KiB.
    put_kib: Option<u64>,
    /// VmHWM after the GET, KiB.
    get_kib: Option<u64>,
    put_mib_s: f64,
    get_mib_s: f64,
    /// VmHWM of the load generator at the end, KiB.
    bench_kib: Option<u64>,
}

/// Starts a fresh `system`, PUTs one `size`-byte object from the repeated chunk and GETs it
/// back, reading the server's peak resident set before and after each.
async fn stream(system: System, bins: &Bins, size: u64, chunk: &Bytes) -> Result<Memory> {
    let mut server = start(system, bins)?;
    prepare(&mut server).await?;
    let pid = server.pid();
    let base_kib = status_kib(pid, "VmHWM");
    let mut c = Client::connect(server.addr).await?;
    let t = Instant::now();
    tokio::time::timeout(request_timeout(size), c.put("stream", size, chunk))
        .await
        .context("PUT timed out")??;
    let put_secs = t.elapsed().as_secs_f64();
    let put_kib = status_kib(pid, "VmHWM");
    server.check_alive()?;
    let t = Instant::now();
    let n = tokio::time::timeout(request_timeout(size), c.get("stream", size))
        .await
        .context("GET timed out")??;
    ensure!(n == size, "GET returned {n} of {size} bytes");
    let get_secs = t.elapsed().as_secs_f64();
    let get_kib = status_kib(pid, "VmHWM");
    let m = Memory {
        system,
        size,
        base_kib,
        put_kib,
        get_kib,
        put_mib_s: mib_s(size, put_secs),
        get_mib_s: mib_s(size, get_secs),
        bench_kib: status_kib(std::process::id(), "VmHWM"),
    };
    eprintln!(
        "{} streaming {}: VmHWM {} -> {} (PUT, {:.0} MiB/s) -> {} MiB (GET, {:.0} MiB/s)",
        system.label(),
        size_label(size),
        kib_mib(m.base_kib),
        kib_mib(m.put_kib),
        m.put_mib_s,
        kib_mib(m.get_kib),
        m.get_mib_s
    );
    Ok(m)
}

/// A request body of `left` bytes cut from a repeated chunk, streamed frame by frame.
#[derive(Debug)]
struct Payload {
    chunk: Bytes,
    left: u64,
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let me = self.get_mut();
        if me.left == 0 || me.chunk.is_empty() {
            return Poll::Ready(None);
        }
        let n = me.left.min(me.chunk.len() as u64);
        me.left -= n;
        Poll::Ready(Some(Ok(Frame::data(me.chunk.slice(..n as usize)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// One HTTP/1.1 keep-alive connection that signs its requests.
#[derive(Debug)]
struct Client {
    send: http1::SendRequest<Payload>,
    host: String,
    creds: Credentials,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Result<Self> {
        let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .context("connect timed out")??;
        tcp.set_nodelay(true)?;
        let (send, conn) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(Self {
            send,
            host: addr.to_string(),
            creds: Credentials {
                access_key: ACCESS_KEY.into(),
                secret_key: SECRET_KEY.into(),
                region: "us-east-1".into(),
            },
        })
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Payload,
    ) -> Result<Response<Incoming>> {
        let hash = if body.left > 0 {
            sigv4::UNSIGNED_PAYLOAD
        } else {
            sigv4::EMPTY_SHA256
        };
        let date = sigv4::amz_date_now();
        let auth = sigv4::authorization(
            &self.creds,
            &ToSign {
                method: method.as_str(),
                host: &self.host,
                path,
                query: "",
                headers: &[],
                payload_hash: hash,
                amz_date: &date,
            },
        );
        let mut b = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, &self.host)
            .header("x-amz-date", &date)
            .header("x-amz-content-sha256", hash)
            .header(AUTHORIZATION, auth);
        if method == Method::PUT {
            b = b.header(CONTENT_LENGTH, body.left);
        }
        let req = b.body(body)?;
        self.send.ready().await?;
        Ok(self.send.send_request(req).await?)
    }

    async fn create_bucket(&mut self) -> Result<(u16, String)> {
        let empty = Payload {
            chunk: Bytes::new(),
            left: 0,
        };
        let resp = self
            .request(Method::PUT, &format!("/{BUCKET}"), empty)
            .await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    async fn put(&mut self, key: &str, size: u64, chunk: &Bytes) -> Result<()> {
        let body = Payload {
            chunk: chunk.clone(),
            left: size,
        };
        let resp = self
            .request(Method::PUT, &format!("/{BUCKET}/{key}"), body)
            .await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        ensure!(
            status == 200,
            "PUT HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }

    /// GETs `key` and counts its body without keeping it.
    async fn get(&mut self, key: &str, size: u64) -> Result<u64> {
        let empty = Payload {
            chunk: Bytes::new(),
            left: 0,
        };
        let resp = self
            .request(Method::GET, &format!("/{BUCKET}/{key}"), empty)
            .await?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if status != 200 {
            let text = body.collect().await?.to_bytes();
            bail!("GET HTTP {status}: {}", String::from_utf8_lossy(&text));
        }
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                n += data.len() as u64;
                ensure!(n <= size, "GET body longer than {size} bytes");
            }
        }
        Ok(n)
    }
}

fn mib_s(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / MIB as f64 / secs
    } else {
        0.0
    }
}

/// Server CPU seconds per GiB moved; `None` below 100 ms of CPU (10 ms ticks).
fn cpu_per_gib(out: &Outcome, bytes: u64) -> Option<f64> {
    out.server_cpu
        .filter(|c| *c >= 0.1 && bytes > 0)
        .map(|c| c / (bytes as f64 / GIB))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn kib_mib(v: Option<u64>) -> String {
    v.map_or("-".into(), |k| format!("{:.0}", k as f64 / 1024.0))
}

fn print_report(
    scenarios: &[Scenario],
    systems: &[System],
    memory: &[Memory],
    args: &S3Args,
    cores: usize,
) {
    println!(
        "\n{cores} cores, load generator on the same machine; {:.1} s measured per scenario \
         after {:.1} s warm-up (64 MiB: {} requests per system and concurrency after one \
         warm-up request per worker)\n",
        args.secs, args.warmup, args.large_ops
    );
    println!("| object | op | conc | system | MiB/s | ops/s | p50 ms | p99 ms | server CPU s/GiB | server CPU µs/op | bench CPU s/GiB | errors |");
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for s in scenarios {
        let Some(out) = &s.out else {
            println!(
                "| {} | {} | {} | {} | - | - | - | - | - | - | - | {} |",
                size_label(s.size),
                s.verb.label(),
                s.workers,
                s.system.label(),
                s.skipped.clone().unwrap_or_default()
            );
            continue;
        };
        let err = match &out.first_error {
            Some(e) => format!("{} ({e})", out.errors),
            None => out.errors.to_string(),
        };
        let bench_cpu = out
            .client_cpu
            .filter(|c| *c >= 0.1 && s.bytes > 0)
            .map(|c| c / (s.bytes as f64 / GIB));
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} |",
            size_label(s.size),
            s.verb.label(),
            s.workers,
            s.system.label(),
            mib_s(s.bytes, out.secs),
            out.rate(),
            out.ms(0.5),
            out.ms(0.99),
            opt(cpu_per_gib(out, s.bytes), 2),
            opt(out.server_us(), 0),
            opt(bench_cpu, 2),
            err
        );
    }

    let find = |system: System, verb: Verb, size: u64, workers: usize| {
        scenarios
            .iter()
            .find(|s| {
                s.system == system && s.verb == verb && s.size == size && s.workers == workers
            })
            .and_then(|s| s.out.as_ref().map(|o| (mib_s(s.bytes, o.secs), o)))
    };
    let has = |s: System| systems.contains(&s);
    println!(
        "\nCoffer against the baselines (throughput ratio = coffer MiB/s ÷ baseline MiB/s):\n"
    );
    println!("| object | op | conc | coffer MiB/s | s3s-fs MiB/s | SeaweedFS MiB/s | ÷ s3s-fs | ÷ SeaweedFS | p99 ms coffer / s3s-fs / SeaweedFS | server CPU s/GiB coffer / s3s-fs / SeaweedFS |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---|---|");
    for size in [4 * KIB, MIB, 64 * MIB] {
        for verb in [Verb::Put, Verb::Get] {
            for workers in [1, args.concurrency] {
                let Some((c, co)) = find(System::Coffer, verb, size, workers) else {
                    continue;
                };
                let b = has(System::S3sFs)
                    .then(|| find(System::S3sFs, verb, size, workers))
                    .flatten();
                let w = has(System::Seaweed)
                    .then(|| find(System::Seaweed, verb, size, workers))
                    .flatten();
                let ratio = |x: Option<(f64, &Outcome)>| match x {
                    Some((m, _)) if m > 0.0 => format!("**{:.2}**", c / m),
                    _ => "-".into(),
                };
                let mib =
                    |x: Option<(f64, &Outcome)>| x.map_or("-".into(), |(m, _)| format!("{m:.1}"));
                let p99 = |x: Option<(f64, &Outcome)>| {
                    x.map_or("-".into(), |(_, o)| format!("{:.2}", o.ms(0.99)))
                };
                let cpu = |x: Option<(f64, &Outcome)>| {
                    x.map_or("-".into(), |(m, o)| {
                        opt(cpu_per_gib(o, (m * o.secs * MIB as f64) as u64), 2)
                    })
                };
                println!(
                    "| {} | {} | {} | {c:.1} | {} | {} | {} | {} | {} / {} / {} | {} / {} / {} |",
                    size_label(size),
                    verb.label(),
                    workers,
                    mib(b),
                    mib(w),
                    ratio(b),
                    ratio(w),
                    p99(Some((c, co))),
                    p99(b),
                    p99(w),
                    cpu(Some((c, co))),
                    cpu(b),
                    cpu(w),
                );
            }
        }
    }

    if !memory.is_empty() {
        println!(
            "\nServer peak resident set (VmHWM) while one object streams through a fresh server:\n"
        );
        println!("| system | object | VmHWM after start MiB | after PUT MiB | after GET MiB | PUT MiB/s | GET MiB/s | bench VmHWM MiB |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        for m in memory {
            println!(
                "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {} |",
                m.system.label(),
                size_label(m.size),
                kib_mib(m.base_kib),
                kib_mib(m.put_kib),
                kib_mib(m.get_kib),
                m.put_mib_s,
                m.get_mib_s,
                kib_mib(m.bench_kib),
            );
        }
    }
}
