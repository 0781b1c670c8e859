//! `coffer-bench s3`: PUT and GET throughput and latency of `coffer server` against the
//! s3s sample server (`s3s-fs`) and SeaweedFS (`weed server -s3`), each on its own
//! temporary data directory, plus the server's peak memory while one large object streams
//! through it. With `--sse`, the encryption comparison instead: Coffer without
//! encryption, with SSE-S3 (a `coffer kes server` on loopback as KMS) and with SSE-C,
//! SeaweedFS without encryption and with its SSE-S3, and the KMS calls per object.
//!
//! The load generator signs every request itself (SigV4, `UNSIGNED-PAYLOAD` for object
//! bodies, see `coffer_bench::sigv4`), speaks HTTP/1.1 over one keep-alive connection per
//! worker, streams PUT bodies from one shared 1 MiB buffer and counts GET bodies without
//! keeping them, so its own memory stays small whatever the object size.

mod client;
mod report;
mod servers;
mod sse;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;

use crate::load::Outcome;
use crate::procs::{cpu_seconds, status_kib};
use crate::S3Args;
use client::Client;
use servers::{prepare, start, Bins, Row, Server, Setup, System};
use sse::{KeyServer, KmsCounters, Sse};

const ACCESS_KEY: &str = "benchadmin";
const SECRET_KEY: &str = "bench-secret-key-do-not-use";
const BUCKET: &str = "bench";
const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
const GIB: f64 = (1u64 << 30) as f64;
/// A worker gives up after this many failed requests.
const MAX_ERRORS: u64 = 20;
/// Seed of the pseudo-random bytes every PUT body is cut from.
const PAYLOAD_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

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
    row: Row,
    verb: Verb,
    size: u64,
    workers: usize,
    out: Option<Outcome>,
    /// Bytes moved by the measured requests.
    bytes: u64,
    /// Successful requests, warm-up included (the objects a KMS call count is divided by).
    objects: u64,
    /// Key server counters over the scenario, warm-up included (SSE-S3 on Coffer only).
    kms: Option<KmsCounters>,
    skipped: Option<String>,
}

/// What the set-up check of one row found.
#[derive(Debug)]
struct AtRest {
    row: Row,
    /// A 32-byte run of the object's plaintext was found in the data directory.
    plaintext_found: bool,
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
    // Baseline binaries live outside the sources: $COFFER_BENCH_TOOLS, else
    // target/bench-tools in the repository.
    let tools = std::env::var_os("COFFER_BENCH_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/bench-tools"));
    let pick = |skip: bool, given: &Option<PathBuf>, default: &str| -> Result<Option<PathBuf>> {
        if skip {
            return Ok(None);
        }
        let p = given.clone().unwrap_or_else(|| tools.join(default));
        ensure!(
            p.is_file(),
            "{} not found (see the module docs, or skip it)",
            p.display()
        );
        Ok(Some(p))
    };
    if let Some(p) = &args.coffer_before {
        ensure!(p.is_file(), "{} not found", p.display());
    }
    // Both comparisons encrypt; they time every size and need a key server.
    let encrypted = args.sse || args.gateway;
    let bins = Bins {
        coffer,
        coffer_before: args.coffer_before.clone(),
        // s3s-fs has no server-side encryption: not part of the --sse comparison.
        s3s_fs: pick(args.no_s3s_fs || encrypted, &args.s3s_fs, "bin/s3s-fs")?,
        weed: pick(args.no_weed, &args.weed, "weed")?,
    };
    let mut rows = vec![Row::new(System::Coffer, Sse::None)];
    if args.gateway {
        ensure!(
            bins.weed.is_some(),
            "--gateway needs SeaweedFS as the gateways' backend (no --no-weed)"
        );
        rows = vec![
            Row::new(System::Seaweed, Sse::None),
            Row::new(System::Seaweed, Sse::S3),
            Row::new(System::Gateway, Sse::S3),
            Row::new(System::Gateway2, Sse::S3),
        ];
    } else if bins.coffer_before.is_some() {
        rows.push(Row::new(System::CofferBefore, Sse::None));
    }
    if args.sse {
        rows.push(Row::new(System::Coffer, Sse::S3));
        rows.push(Row::new(System::Coffer, Sse::C));
    }
    if bins.s3s_fs.is_some() {
        rows.push(Row::new(System::S3sFs, Sse::None));
    }
    if bins.weed.is_some() && !args.gateway {
        rows.push(Row::new(System::Seaweed, Sse::None));
        if args.sse {
            rows.push(Row::new(System::Seaweed, Sse::S3));
        }
    }
    let sizes: &[u64] = if encrypted {
        &[MIB, 64 * MIB]
    } else {
        &[4 * KIB, MIB, 64 * MIB]
    };

    let mut kes = if encrypted {
        let t = Instant::now();
        let k = KeyServer::start(&bins.coffer).await?;
        eprintln!(
            "coffer kes server on {} ready in {:.1} s (pid {})",
            k.endpoint,
            t.elapsed().as_secs_f64(),
            k.pid()
        );
        Some(k)
    } else {
        None
    };
    let weed_kek = encrypted.then(|| hex::encode(random_bytes::<32>()));

    // Every server keeps running through the matrix (each on its own data directory), so
    // scenarios can alternate between them without restarts. Each Coffer row has its own
    // server; SeaweedFS serves its rows from one (with the KEK set when one asks SSE-S3).
    let mut servers: Vec<Server> = Vec::new();
    for &row in &rows {
        if servers.iter().any(|s| s.serves(row)) {
            continue;
        }
        let setup = match (row.system, row.sse) {
            (System::Coffer, Sse::S3) => Setup::Kes(kes.as_ref().context("no key server")?),
            (System::Coffer, Sse::C) => Setup::SseC,
            (System::Seaweed, _) => match &weed_kek {
                Some(kek) => Setup::WeedKek(kek),
                None => Setup::Plain,
            },
            (System::Gateway | System::Gateway2, _) => Setup::Gateway {
                backend: servers
                    .iter()
                    .find(|s| s.system == System::Seaweed)
                    .context("a gateway row needs the SeaweedFS row first")?,
                kes: kes.as_ref().context("no key server")?,
            },
            _ => Setup::Plain,
        };
        let mut server = start(row.system, setup, &bins)?;
        let t = Instant::now();
        prepare(&mut server).await?;
        eprintln!(
            "{} on http://{} ready in {:.1} s (pid {})",
            row.label(),
            server.addr,
            t.elapsed().as_secs_f64(),
            server.pid()
        );
        servers.push(server);
    }
    let mut at_rest = Vec::new();
    if encrypted {
        for (i, &row) in rows.iter().enumerate() {
            let server = server_of(&mut servers, row)?;
            at_rest.push(check_row(server, row, i as u64).await?);
        }
    }
    let chunk = payload_chunk();
    for &row in &rows {
        let server = server_of(&mut servers, row)?;
        for &size in sizes {
            let mut c = Client::connect(server.addr, row.sse).await?;
            c.put(&get_key(size, row.sse), size, &chunk)
                .await
                .with_context(|| format!("{}: put {}", row.label(), get_key(size, row.sse)))?;
        }
    }

    let time_plan = Plan::Time(
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.secs),
    );
    let mut scenarios: Vec<Scenario> = Vec::new();
    for &size in sizes {
        for verb in [Verb::Put, Verb::Get] {
            for workers in [1, args.concurrency] {
                let label = format!("{} {} x{workers}", size_label(size), verb.label());
                let words: Vec<&str> = label.split(' ').collect();
                let chosen = |o: &String| o.split_whitespace().all(|w| words.contains(&w));
                if !args.only.is_empty() && !args.only.iter().any(chosen) {
                    continue;
                }
                for &row in &rows {
                    scenarios.push(Scenario {
                        row,
                        verb,
                        size,
                        workers,
                        out: None,
                        bytes: 0,
                        objects: 0,
                        kms: None,
                        skipped: None,
                    });
                }
            }
        }
    }

    let started = Instant::now();
    let budget = Duration::from_secs_f64(args.max_total_secs);
    let n_rows = rows.len();
    for (g, group) in scenarios.chunks_mut(n_rows).enumerate() {
        // The row that goes first rotates from one scenario to the next.
        for k in 0..n_rows {
            let s = &mut group[(g + k) % n_rows];
            if started.elapsed() > budget {
                s.skipped = Some("total time budget spent".into());
                continue;
            }
            // The encryption comparison times every size (a request started in the window
            // runs to its end), so 64 MiB figures rest on as many seconds as the others.
            let plan = if s.size >= 64 * MIB && !encrypted {
                Plan::Count((args.large_ops / s.workers as u64).max(1))
            } else {
                time_plan
            };
            let server = server_of(&mut servers, s.row)?;
            server.check_alive()?;
            // The key server's counters around the SSE-S3 scenarios of Coffer.
            let mut kms = kes.as_mut().filter(|_| {
                s.row.sse == Sse::S3
                    && matches!(
                        s.row.system,
                        System::Coffer | System::Gateway | System::Gateway2
                    )
            });
            let before = match kms.as_mut() {
                Some(k) => Some(k.counters().await?),
                None => None,
            };
            let result = run(server, s.row, s.verb, s.size, s.workers, plan, &chunk).await;
            if let (Some(k), Some(b)) = (kms, before) {
                s.kms = Some(k.counters().await?.since(&b));
            }
            match result {
                Ok(m) => {
                    let out = m.out;
                    eprintln!(
                        "{:<20} {} {:>6} x{:<3} {:>8.1} MiB/s {:>8.0} ops/s  p50 {:>8.2} ms  p99 {:>8.2} ms  server {} s/GiB{}{}",
                        s.row.label(),
                        s.verb.label(),
                        size_label(s.size),
                        s.workers,
                        mib_s(m.bytes, out.secs),
                        out.rate(),
                        out.ms(0.5),
                        out.ms(0.99),
                        opt(cpu_per_gib(&out, m.bytes), 2),
                        match &s.kms {
                            Some(k) => format!(
                                "  KMS: {} generate, {} decrypt for {} objects",
                                k.generate, k.decrypt, m.objects
                            ),
                            None => String::new(),
                        },
                        if out.errors > 0 {
                            format!("  {} errors: {}", out.errors, out.first_error.clone().unwrap_or_default())
                        } else {
                            String::new()
                        },
                    );
                    s.out = Some(out);
                    s.bytes = m.bytes;
                    s.objects = m.objects;
                }
                Err(e) => {
                    eprintln!(
                        "{} {} {} x{} failed: {e:#}",
                        s.row.label(),
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
    // The single-stream PUT ceiling: MD5 (every plaintext PUT's ETag) of the same bytes,
    // in this process, right after the matrix.
    let md5_ceiling = md5_mib_s(&chunk);
    eprintln!("MD5 of the PUT payload in the bench process: {md5_ceiling:.0} MiB/s");
    let mut memory = Vec::new();
    drop(servers);
    if args.gateway && args.stream_gib > 0 {
        // A fresh SeaweedFS and a fresh gateway over it: the matrix's SeaweedFS has no
        // free volume left for 4 GiB more on this disk (overwritten space waits for a
        // vacuum) and answers 500 "No writable volumes".
        let row = Row::new(System::Gateway, Sse::S3);
        let result = async {
            let mut weed = start(System::Seaweed, Setup::Plain, &bins)?;
            prepare(&mut weed).await?;
            let kes = kes.as_ref().context("no key server")?;
            let setup = Setup::Gateway {
                backend: &weed,
                kes,
            };
            let mut gateway = start(System::Gateway, setup, &bins)?;
            prepare(&mut gateway).await?;
            measure_stream(&mut gateway, row.sse, args.stream_gib * 1024 * MIB, &chunk).await
        }
        .await;
        match result {
            Ok(m) => memory.push(m),
            Err(e) => eprintln!("{} streaming failed: {e:#}", row.label()),
        }
    }
    drop(kes);

    if args.stream_gib > 0 && !args.gateway {
        let mut which = vec![System::Coffer];
        if args.stream_all {
            which.extend(
                rows.iter()
                    .map(|r| r.system)
                    .filter(|s| *s != System::Coffer),
            );
            which.dedup();
        }
        for system in which {
            match stream(system, &bins, args.stream_gib * 1024 * MIB, &chunk).await {
                Ok(m) => memory.push(m),
                Err(e) => eprintln!("{} streaming failed: {e:#}", system.label()),
            }
        }
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    report::print(
        &scenarios,
        &rows,
        &memory,
        &at_rest,
        &args,
        cores,
        md5_ceiling,
    );
    Ok(())
}

/// The server that takes the requests of `row`.
fn server_of(servers: &mut [Server], row: Row) -> Result<&mut Server> {
    servers
        .iter_mut()
        .find(|s| s.serves(row))
        .with_context(|| format!("no server for {}", row.label()))
}

/// PUTs a 4 KiB object of bytes no other object has with the row's encryption, reads it
/// back, and looks for a run of its plaintext in the server's data directory.
async fn check_row(server: &mut Server, row: Row, seed: u64) -> Result<AtRest> {
    let body = pseudo_random(PAYLOAD_SEED ^ (seed + 1).wrapping_mul(0x1000_0001), 4 * KIB);
    let key = format!("marker{}", row.sse.key_suffix());
    let mut c = Client::connect(server.addr, row.sse).await?;
    c.put(&key, 4 * KIB, &body)
        .await
        .with_context(|| format!("{}: first PUT", row.label()))?;
    let back = c
        .get_bytes(&key)
        .await
        .with_context(|| format!("{}: first GET", row.label()))?;
    ensure!(
        back == body,
        "{}: the object read back differs from the one written",
        row.label()
    );
    let plaintext_found = sse::found_at_rest(&server.data, &body[1000..1032])?;
    eprintln!(
        "{}: round trip ok; plaintext {} in the data directory",
        row.label(),
        if plaintext_found {
            "found"
        } else {
            "not found"
        }
    );
    if row.sse != Sse::None && plaintext_found {
        bail!(
            "{}: the object's plaintext is stored in {}: the server did not encrypt it",
            row.label(),
            server.data.display()
        );
    }
    Ok(AtRest {
        row,
        plaintext_found,
    })
}

/// `N` random bytes from the operating system's generator.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // Only the SeaweedFS KEK comes from here; a failure leaves zeros, still a valid key.
    let _ = aws_lc_rs::rand::fill(&mut b);
    b
}

/// The body of every PUT: one 1 MiB buffer of pseudo-random bytes, repeated (and cut).
/// MD5 throughput over 64 MiB of `chunk` repeated, median of three passes.
fn md5_mib_s(chunk: &Bytes) -> f64 {
    use md5::Digest as _;
    let mut rates: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let mut h = md5::Md5::new();
            for _ in 0..64 {
                h.update(chunk);
            }
            std::hint::black_box(h.finalize());
            (64 * chunk.len() as u64) as f64 / MIB as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[1]
}

fn payload_chunk() -> Bytes {
    pseudo_random(PAYLOAD_SEED, MIB)
}

/// `len` bytes of xorshift64*: cheap bytes that no server can compress or deduplicate by
/// accident.
fn pseudo_random(seed: u64, len: u64) -> Bytes {
    let mut x = seed.max(1);
    let mut v = Vec::with_capacity(len as usize + 8);
    while (v.len() as u64) < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len as usize);
    Bytes::from(v)
}

fn get_key(size: u64, sse: Sse) -> String {
    format!("get-{size}{}", sse.key_suffix())
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

/// What one scenario measured.
#[derive(Debug)]
struct Measured {
    out: Outcome,
    /// Bytes moved by the measured requests.
    bytes: u64,
    /// Successful requests, warm-up included.
    objects: u64,
}

/// Runs one scenario.
async fn run(
    server: &Server,
    row: Row,
    verb: Verb,
    size: u64,
    workers: usize,
    plan: Plan,
    chunk: &Bytes,
) -> Result<Measured> {
    let mut clients = Vec::with_capacity(workers);
    let addrs = server.addrs();
    for w in 0..workers {
        clients.push(Client::connect(addrs[w % addrs.len()], row.sse).await?);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(workers + 1));
    let mut tasks = Vec::new();
    for (w, mut c) in clients.into_iter().enumerate() {
        let barrier = barrier.clone();
        let chunk = chunk.clone();
        let addr = addrs[w % addrs.len()];
        let key = match verb {
            Verb::Put => format!("put-{size}-w{w}{}", row.sse.key_suffix()),
            Verb::Get => get_key(size, row.sse),
        };
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::new()?;
            // Warm-up, unmeasured; a failure here fails the scenario.
            let mut warm = 0u64;
            match plan {
                Plan::Time(warmup, _) => {
                    let end = Instant::now() + warmup;
                    loop {
                        op(&mut c, verb, &key, size, &chunk).await?;
                        warm += 1;
                        if Instant::now() >= end {
                            break;
                        }
                    }
                }
                Plan::Count(_) => {
                    op(&mut c, verb, &key, size, &chunk).await?;
                    warm += 1;
                }
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
                if let Ok(fresh) = Client::connect(addr, row.sse).await {
                    c = fresh;
                }
            }
            Ok::<_, anyhow::Error>((out, warm))
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
    let pids: Vec<String> = server.pids().iter().map(u32::to_string).collect();
    let cpu_all = || -> Option<f64> { pids.iter().map(|p| cpu_seconds(p)).sum() };
    let cpu0 = cpu_all();
    let client0 = cpu_seconds("self");
    let t0 = Instant::now();
    let mut total = Outcome::new()?;
    let mut warm = 0;
    for t in tasks {
        let (out, w) = tokio::time::timeout(bound, t)
            .await
            .context("scenario did not finish in time")???;
        total.merge(&out)?;
        warm += w;
    }
    total.secs = t0.elapsed().as_secs_f64();
    total.server_cpu = cpu_all().zip(cpu0).map(|(b, a)| b - a);
    total.client_cpu = cpu_seconds("self").zip(client0).map(|(b, a)| b - a);
    let bytes = total.hist.len() * size;
    let objects = warm + total.hist.len();
    Ok(Measured {
        out: total,
        bytes,
        objects,
    })
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

/// Starts a fresh `system` (no encryption), PUTs one `size`-byte object from the repeated
/// chunk and GETs it back, reading the server's peak resident set before and after each.
async fn stream(system: System, bins: &Bins, size: u64, chunk: &Bytes) -> Result<Memory> {
    let mut server = start(system, Setup::Plain, bins)?;
    prepare(&mut server).await?;
    measure_stream(&mut server, Sse::None, size, chunk).await
}

/// PUTs one `size`-byte object through `server` and GETs it back, reading the server's
/// peak resident set before and after each.
async fn measure_stream(server: &mut Server, sse: Sse, size: u64, chunk: &Bytes) -> Result<Memory> {
    let system = server.system;
    let pid = server.pid();
    let base_kib = status_kib(pid, "VmHWM");
    let mut c = Client::connect(server.addr, sse).await?;
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
