//! `coffer`: one binary for the object server, the key server and their clients.
//!
//! This file only parses the command line and dispatches; each role lives in its own
//! module or crate.

mod admin_cmd;
mod dare_cmd;
mod kes_cmd;
mod pem;
mod secret_file;
mod server_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Coffer: an S3-compatible object store that encrypts with keys from a KMS, and a
/// KES-compatible key server.
#[derive(Debug, Parser)]
#[command(name = "coffer", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the S3 object server on a data directory.
    Server(server_cmd::ServerArgs),
    /// Offline work on DARE streams (the format encrypted objects are stored in).
    #[command(subcommand)]
    Dare(dare_cmd::DareCommand),
    /// The KES-compatible key server and its admin client.
    #[command(subcommand)]
    Kes(kes_cmd::KesCommand),
    /// Operator commands on a data directory (offline recovery).
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => server_cmd::run(args),
        Command::Dare(cmd) => dare_cmd::run(cmd),
        Command::Kes(cmd) => kes_cmd::run(cmd),
        Command::Admin(cmd) => admin_cmd::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of causes, outermost first.
            eprintln!("coffer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
