//! `coffer-bench kes`: the key server's `generate` and `decrypt` against OpenBao transit's
//! `datakey/plaintext` and `decrypt`, over one connection and over `--connections`
//! concurrent ones, with the key cached on both servers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use base64::Engine;
use kms::{ClientIdentity, KesClient, ServerTrust};
use serde_json::{json, Value};

use crate::load::{self, Budget, Call, Conn, Endpoint, Op, Outcome, Proto, Worker};
use crate::procs::{self, BaoServer, CofferServer};
use crate::KesArgs;

/// Key name on both servers.
const KEY: &str = "bench";
/// Associated data of Coffer's data keys (OpenBao's key is not derived: no context).
const CONTEXT: &[u8] = b"my-bucket/my-object";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Generate,
    Decrypt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Coffer,
    OpenBao,
}

/// How the load generator talks to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// HTTP/1.1 over mTLS, one connection per worker.
    H1,
    /// HTTP/2 over mTLS, one connection per worker.
    H2,
    /// HTTP/2 over mTLS, one connection shared by all workers (one stream each).
    H2Shared,
    /// `kms::KesClient` shared by all workers; it picks the protocol and connections.
    Kms,
    /// HTTP/1.1 without TLS, one connection per worker (OpenBao dev server).
    PlainH1,
}

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::H1 => "HTTP/1.1 + mTLS",
            Client::H2 => "HTTP/2 + mTLS",
            Client::H2Shared => "HTTP/2 + mTLS, 1 conn shared",
            Client::Kms => "kms::KesClient (its pool)",
            Client::PlainH1 => "HTTP/1.1, plain",
        }
    }
}

#[derive(Debug)]
struct Scenario {
    api: Api,
    system: System,
    client: Client,
    workers: usize,
    out: Outcome,
    /// Established TCP connections to the server seen at the end of the last run.
    conns_seen: Option<usize>,
}

/// Everything the scenarios need, built once.
struct Setup {
    coffer: CofferServer,
    bao: Option<BaoServer>,
    kes_h1: Endpoint,
    kes_h2: Endpoint,
    bao_ep: Option<Endpoint>,
    kes_generate: Call,
    kes_decrypt: Call,
    kms_ciphertext: Vec<u8>,
    bao_generate: Option<Call>,
    bao_decrypt: Option<Call>,
}

pub async fn main(args: KesArgs) -> Result<()> {
    ensure!(
        args.secs > 0.0 && args.secs <= 600.0,
        "--secs must be in (0, 600]"
    );
    ensure!((1..=20).contains(&args.rounds), "--rounds must be 1..=20");
    ensure!(
        (0.0..=10.0).contains(&args.warmup),
        "--warmup must be in [0, 10]"
    );
    ensure!(
        (1..=256).contains(&args.connections),
        "--connections must be 1..=256"
    );
    let coffer_bin = args.coffer.clone().unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/release/coffer"
        ))
    });
    ensure!(
        coffer_bin.is_file(),
        "{} not found: run `cargo build --release -p coffer` or pass --coffer",
        coffer_bin.display()
    );
    let bao_bin = (!args.no_bao).then(|| {
        args.bao
            .clone()
            .or_else(procs::find_bao)
            .unwrap_or_else(|| PathBuf::from("bao"))
    });

    let setup = set_up(&coffer_bin, bao_bin.as_deref()).await?;
    let budget = Budget {
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.secs / f64::from(args.rounds)),
        max_requests: args.max_requests,
    };

    let mut scenarios = Vec::new();
    let n = args.connections;
    for api in [Api::Generate, Api::Decrypt] {
        for workers in [1, n] {
            let mut clients = vec![Client::H1, Client::H2];
            if workers > 1 {
                clients.push(Client::H2Shared);
            }
            clients.push(Client::Kms);
            for client in clients {
                scenarios.push(Scenario::new(api, System::Coffer, client, workers)?);
            }
            if setup.bao.is_some() {
                scenarios.push(Scenario::new(
                    api,
                    System::OpenBao,
                    Client::PlainH1,
                    workers,
                )?);
            }
        }
    }

    let started = Instant::now();
    for round in 0..args.rounds {
        // Groups of one API and concurrency; the system that goes first flips per round.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, s) in scenarios.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if scenarios[g[0]].api == s.api && scenarios[g[0]].workers == s.workers => {
                    g.push(i)
                }
                _ => groups.push(vec![i]),
            }
        }
        for g in groups {
            let (mut coffer, bao): (Vec<usize>, Vec<usize>) = g
                .into_iter()
                .partition(|i| scenarios[*i].system == System::Coffer);
            let order: Vec<usize> = if round % 2 == 0 {
                coffer.extend(bao);
                coffer
            } else {
                bao.into_iter().chain(coffer).collect()
            };
            for i in order {
                let s = &mut scenarios[i];
                let (out, seen) = run_one(&setup, s, budget).await.with_context(|| {
                    format!(
                        "{:?} {:?} {} x{}",
                        s.api,
                        s.system,
                        s.client.label(),
                        s.workers
                    )
                })?;
                eprintln!(
                    "round {}/{}: {:?} {:?} {:<30} x{:<3} {:>8.0} req/s  p50 {:.3} ms  p99 {:.3} ms  server {} µs/req{}",
                    round + 1,
                    args.rounds,
                    s.api,
                    s.system,
                    s.client.label(),
                    s.workers,
                    out.rate(),
                    out.ms(0.5),
                    out.ms(0.99),
                    us(out.server_us()),
                    if out.errors > 0 { format!("  {} errors", out.errors) } else { String::new() },
                );
                s.out.merge(&out)?;
                s.conns_seen = seen;
            }
        }
    }
    eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    print_report(&scenarios, &args, cores);
    drop(setup);
    Ok(())
}

impl Scenario {
    fn new(api: Api, system: System, client: Client, workers: usize) -> Result<Self> {
        Ok(Self {
            api,
            system,
            client,
            workers,
            out: Outcome::new()?,
            conns_seen: None,
        })
    }
}

/// Starts both servers, creates the keys and checks one round trip of each API.
async fn set_up(coffer_bin: &std::path::Path, bao_bin: Option<&std::path::Path>) -> Result<Setup> {
    let coffer = procs::start_coffer(coffer_bin)?;
    eprintln!("coffer kes server on https://{}", coffer.addr);
    let kes_h1 = Endpoint {
        addr: coffer.addr,
        tls: Some(load::tls_config(&coffer.api_key, &coffer.cert, Proto::H1)?),
    };
    let kes_h2 = Endpoint {
        addr: coffer.addr,
        tls: Some(load::tls_config(&coffer.api_key, &coffer.cert, Proto::H2)?),
    };
    let kms = kms_client(&coffer)?;
    kms.create_key(KEY).await?;
    let dk = kms.generate(KEY, CONTEXT).await?;
    ensure!(
        kms.decrypt(KEY, &dk.ciphertext, CONTEXT).await?.as_slice() == dk.plaintext.as_slice(),
        "coffer: decrypt did not return the generated key"
    );
    let kes_generate = Call::post(
        &kes_h1,
        &format!("/v1/key/generate/{KEY}"),
        &json!({ "context": b64(CONTEXT) }),
    )?;
    let kes_decrypt = Call::post(
        &kes_h1,
        &format!("/v1/key/decrypt/{KEY}"),
        &json!({ "ciphertext": b64(&dk.ciphertext), "context": b64(CONTEXT) }),
    )?;

    let (mut bao, mut bao_ep, mut bao_generate, mut bao_decrypt) = (None, None, None, None);
    if let Some(bin) = bao_bin {
        let mut server = procs::start_bao(bin)?;
        let ep = Endpoint {
            addr: server.addr,
            tls: None,
        };
        let (generate, decrypt) = set_up_bao(&mut server, &ep).await?;
        eprintln!("bao dev server on http://{}", server.addr);
        bao = Some(server);
        bao_ep = Some(ep);
        bao_generate = Some(generate);
        bao_decrypt = Some(decrypt);
    }
    Ok(Setup {
        coffer,
        bao,
        kes_h1,
        kes_h2,
        bao_ep,
        kes_generate,
        kes_decrypt,
        kms_ciphertext: dk.ciphertext,
        bao_generate,
        bao_decrypt,
    })
}

/// Waits (bounded) until the dev server mounts transit (`bao secrets enable transit`),
/// creates the key (`bao write -f transit/keys/bench`) and checks a round trip.
async fn set_up_bao(server: &mut BaoServer, ep: &Endpoint) -> Result<(Call, Call)> {
    let token = |c: Call| c.header("x-vault-token", "root");
    let mount = token(Call::post(
        ep,
        "/v1/sys/mounts/transit",
        &json!({ "type": "transit" }),
    )?);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    loop {
        server.check_alive()?;
        if Instant::now() > deadline {
            bail!("bao server not ready after 30 s: {last}");
        }
        match load::connect(ep, Proto::H1).await {
            Ok(mut c) => match c.send(&mount).await {
                Ok((s, _)) if s == 200 || s == 204 => break,
                Ok((s, body)) => last = format!("HTTP {s}: {}", String::from_utf8_lossy(&body)),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = load::connect(ep, Proto::H1).await?;
    let create = token(Call::post(
        ep,
        &format!("/v1/transit/keys/{KEY}"),
        &json!({}),
    )?);
    let (s, body) = c.send(&create).await?;
    ensure!(
        s == 200 || s == 204,
        "create transit key: HTTP {s}: {}",
        String::from_utf8_lossy(&body)
    );

    let generate = token(Call::post(
        ep,
        &format!("/v1/transit/datakey/plaintext/{KEY}"),
        &json!({}),
    )?);
    let data = ok_json(c.send(&generate).await?)?;
    let ciphertext = data["data"]["ciphertext"]
        .as_str()
        .ok_or_else(|| anyhow!("datakey: no ciphertext in {data}"))?
        .to_string();
    let plaintext = data["data"]["plaintext"].clone();
    let decrypt = token(Call::post(
        ep,
        &format!("/v1/transit/decrypt/{KEY}"),
        &json!({ "ciphertext": ciphertext }),
    )?);
    let back = ok_json(c.send(&decrypt).await?)?;
    ensure!(
        back["data"]["plaintext"] == plaintext,
        "bao: decrypt did not return the data key"
    );
    Ok((generate, decrypt))
}

fn ok_json((status, body): (u16, bytes::Bytes)) -> Result<Value> {
    ensure!(
        status == 200,
        "HTTP {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(serde_json::from_slice(&body)?)
}

fn kms_client(coffer: &CofferServer) -> Result<KesClient> {
    let identity = ClientIdentity::from_api_key(&coffer.api_key)?;
    let trust = ServerTrust::Roots(vec![coffer.cert.clone().into()]);
    Ok(KesClient::new(
        &[format!("https://{}", coffer.addr)],
        identity,
        &trust,
    )?)
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Opens the scenario's connections (outside the measured window) and runs it once.
async fn run_one(setup: &Setup, s: &Scenario, budget: Budget) -> Result<(Outcome, Option<usize>)> {
    let mut workers = Vec::with_capacity(s.workers);
    let raw = |call: &Option<Call>| call.clone().map(|c| Arc::new(Op::Raw(c)));
    let op = match (s.system, s.api) {
        (System::Coffer, _) if s.client == Client::Kms => Arc::new(match s.api {
            Api::Generate => Op::KmsGenerate {
                name: KEY.into(),
                context: CONTEXT.to_vec(),
            },
            Api::Decrypt => Op::KmsDecrypt {
                name: KEY.into(),
                ciphertext: setup.kms_ciphertext.clone(),
                context: CONTEXT.to_vec(),
            },
        }),
        (System::Coffer, Api::Generate) => Arc::new(Op::Raw(setup.kes_generate.clone())),
        (System::Coffer, Api::Decrypt) => Arc::new(Op::Raw(setup.kes_decrypt.clone())),
        (System::OpenBao, Api::Generate) => raw(&setup.bao_generate).context("no bao")?,
        (System::OpenBao, Api::Decrypt) => raw(&setup.bao_decrypt).context("no bao")?,
    };
    match s.client {
        Client::H1 | Client::H2 | Client::PlainH1 => {
            let (ep, proto) = match s.client {
                Client::H1 => (&setup.kes_h1, Proto::H1),
                Client::H2 => (&setup.kes_h2, Proto::H2),
                _ => (setup.bao_ep.as_ref().context("no bao")?, Proto::H1),
            };
            for _ in 0..s.workers {
                workers.push(Worker::Conn(load::connect(ep, proto).await?));
            }
        }
        Client::H2Shared => {
            let conn: Conn = load::connect(&setup.kes_h2, Proto::H2).await?;
            for _ in 0..s.workers {
                workers.push(Worker::Conn(conn.share()?));
            }
        }
        Client::Kms => {
            let k = Arc::new(kms_client(&setup.coffer)?);
            workers.extend((0..s.workers).map(|_| Worker::Kms(k.clone())));
        }
    }
    let port = setup.coffer.addr.port();
    let probe_coffer = s.system == System::Coffer;
    let pid = match s.system {
        System::Coffer => setup.coffer.pid(),
        System::OpenBao => setup.bao.as_ref().context("no bao")?.pid(),
    };
    load::run(workers, op, budget, pid, || {
        probe_coffer.then(|| procs::established_to(port)).flatten()
    })
    .await
}

fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0}"))
}

fn print_report(scenarios: &[Scenario], args: &KesArgs, cores: usize) {
    println!(
        "\n{cores} cores, load generator on the same machine; {} round(s), {:.1} s measured \
         per scenario, {:.1} s warm-up per run\n",
        args.rounds, args.secs, args.warmup
    );
    println!("| API | system | client | conns | in flight | req/s | p50 ms | p99 ms | server CPU µs/req | bench CPU µs/req | TCP conns seen | errors |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in scenarios {
        let conns = match s.client {
            Client::H2Shared => "1".to_string(),
            Client::Kms => "pool".to_string(),
            _ => s.workers.to_string(),
        };
        let err = match &s.out.first_error {
            Some(e) => format!("{} ({e})", s.out.errors),
            None => s.out.errors.to_string(),
        };
        println!(
            "| {:?} | {:?} | {} | {} | {} | {:.0} | {:.3} | {:.3} | {} | {} | {} | {} |",
            s.api,
            s.system,
            s.client.label(),
            conns,
            s.workers,
            s.out.rate(),
            s.out.ms(0.5),
            s.out.ms(0.99),
            us(s.out.server_us()),
            us(s.out.client_us()),
            s.conns_seen.map_or("-".to_string(), |n| n.to_string()),
            err,
        );
    }

    let find = |api, system, client, workers| {
        scenarios.iter().find(|s| {
            s.api == api && s.system == system && s.client == client && s.workers == workers
        })
    };
    println!("\nCoffer against OpenBao (same API, same number of callers):\n");
    println!("| API | in flight | OpenBao req/s | Coffer h1 req/s | ratio h1 | Coffer h2 req/s | ratio h2 | OpenBao p50 ms | Coffer h1 p50 ms | Coffer h2 p50 ms | server CPU/req OpenBao ÷ Coffer h1 |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for api in [Api::Generate, Api::Decrypt] {
        for workers in [1, args.connections] {
            let (Some(b), Some(h1), Some(h2)) = (
                find(api, System::OpenBao, Client::PlainH1, workers),
                find(api, System::Coffer, Client::H1, workers),
                find(api, System::Coffer, Client::H2, workers),
            ) else {
                continue;
            };
            let ratio = |x: &Scenario| {
                if b.out.rate() > 0.0 {
                    format!("{:.2}", x.out.rate() / b.out.rate())
                } else {
                    "-".into()
                }
            };
            let cpu_ratio = match (b.out.server_us(), h1.out.server_us()) {
                (Some(b), Some(c)) if c > 0.0 => format!("{:.2}", b / c),
                _ => "-".into(),
            };
            println!(
                "| {api:?} | {workers} | {:.0} | {:.0} | **{}** | {:.0} | **{}** | {:.3} | {:.3} | {:.3} | {cpu_ratio} |",
                b.out.rate(),
                h1.out.rate(),
                ratio(h1),
                h2.out.rate(),
                ratio(h2),
                b.out.ms(0.5),
                h1.out.ms(0.5),
                h2.out.ms(0.5),
            );
        }
    }
}
