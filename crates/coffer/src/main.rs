//! `coffer`: one binary for the object server, the key server and their clients.
//!
//! This file only parses the command line and dispatches; each role lives in its own
//! module or crate.

mod admin_cmd;
mod client;
mod dare_cmd;
mod kes_cmd;
mod logging;
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
    #[command(flatten)]
    out: client::OutputArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the S3 object server on a data directory.
    Server(server_cmd::ServerArgs),
    /// Run the S3 object server on another S3 service (scale-out: several gateways, one
    /// namespace; the service only ever sees ciphertext and sealed records).
    #[command(subcommand)]
    Gateway(server_cmd::GatewayCommand),
    /// Offline work on DARE streams (the format encrypted objects are stored in).
    #[command(subcommand)]
    Dare(dare_cmd::DareCommand),
    /// The KES-compatible key server and its admin client.
    #[command(subcommand)]
    Kes(kes_cmd::KesCommand),
    /// Operator commands: KMS keys of a server (`admin kms key`), offline recovery.
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
    /// Manage aliases: names for S3 endpoints and their credentials.
    #[command(subcommand)]
    Alias(client::AliasCommand),
    /// Make buckets.
    Mb(client::MbArgs),
    /// Remove buckets.
    Rb(client::RbArgs),
    /// List buckets, objects and versions.
    Ls(client::LsArgs),
    /// Copy files and objects.
    Cp(client::CpArgs),
    /// Copy only what differs between two directories or prefixes.
    Mirror(client::MirrorArgs),
    /// Print objects to stdout.
    Cat(client::CatArgs),
    /// Print the first lines of an object.
    Head(client::HeadArgs),
    /// Show an object's (or bucket's) information, encryption included.
    Stat(client::StatArgs),
    /// Remove objects.
    Rm(client::RmArgs),
    /// Set, list and remove tags of objects and buckets.
    #[command(subcommand)]
    Tag(client::TagCommand),
    /// Bytes and objects under a prefix.
    Du(client::DuArgs),
    /// A bucket's default encryption.
    #[command(subcommand)]
    Encrypt(client::EncryptCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let out = cli.out;
    let result = match cli.command {
        Command::Server(args) => server_cmd::run(args),
        Command::Gateway(cmd) => server_cmd::run_gateway(cmd),
        Command::Dare(cmd) => dare_cmd::run(cmd),
        Command::Kes(cmd) => kes_cmd::run(cmd),
        Command::Admin(cmd) => admin_cmd::run(cmd, out),
        Command::Alias(cmd) => client::run(out, |c| client::alias(c, cmd)),
        Command::Mb(args) => client::run(out, |c| client::mb(c, args)),
        Command::Rb(args) => client::run(out, |c| client::rb(c, args)),
        Command::Ls(args) => client::run(out, |c| client::ls(c, args)),
        Command::Cp(args) => client::run(out, |c| client::cp(c, args)),
        Command::Mirror(args) => client::run(out, |c| client::mirror(c, args)),
        Command::Cat(args) => client::run(out, |c| client::cat(c, args)),
        Command::Head(args) => client::run(out, |c| client::head(c, args)),
        Command::Stat(args) => client::run(out, |c| client::stat(c, args)),
        Command::Rm(args) => client::run(out, |c| client::rm(c, args)),
        Command::Tag(cmd) => client::run(out, |c| client::tag(c, cmd)),
        Command::Du(args) => client::run(out, |c| client::du(c, args)),
        Command::Encrypt(cmd) => client::run(out, |c| client::encrypt(c, cmd)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if out.json {
                eprintln!("{}", client::error_json(&e));
            } else {
                // One line: the chain of causes, outermost first.
                eprintln!("coffer: {e:#}");
            }
            if e.chain().any(|c| c.to_string().starts_with("interrupted;")) {
                return ExitCode::from(130);
            }
            ExitCode::FAILURE
        }
    }
}
