//! `coffer dare encrypt|decrypt`: DARE streams from stdin to stdout, for offline
//! recovery and inspection of stored objects.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dare::io::{DecryptReader, EncryptReader};
use dare::{Key, Sealer};
use zeroize::Zeroizing;

/// DARE subcommands.
#[derive(Debug, Subcommand)]
pub enum DareCommand {
    /// Encrypt stdin into a DARE 2.0 stream (AES-256-GCM, random nonce) on stdout.
    Encrypt(KeyArgs),
    /// Decrypt a DARE 1.0 or 2.0 stream from stdin to stdout. Only authenticated
    /// plaintext is written; any error exits non-zero with one line naming it.
    Decrypt(KeyArgs),
}

/// Where the key comes from, and the first sequence number.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("key_source").required(true).multiple(false)))]
pub struct KeyArgs {
    /// The 256-bit key as 64 hex characters (visible to other local users in the
    /// process list; prefer --key-file).
    #[arg(long, value_name = "HEX", group = "key_source")]
    key: Option<String>,
    /// A file holding the key as 64 hex characters or 32 raw bytes; must not be
    /// accessible by group or others.
    #[arg(long, value_name = "FILE", group = "key_source")]
    key_file: Option<PathBuf>,
    /// Sequence number of the first package: 0 for a whole stream, k to decrypt a
    /// stream that starts at package k.
    #[arg(long, value_name = "N", default_value_t = 0)]
    sequence: u32,
}

/// Runs a DARE subcommand.
pub fn run(cmd: DareCommand) -> Result<()> {
    match cmd {
        DareCommand::Encrypt(args) => {
            let key = load_key(&args)?;
            let sealer = Sealer::new(&key, args.sequence)?;
            let reader = EncryptReader::encrypt(io::stdin().lock(), sealer);
            pump(reader).context("encrypt")
        }
        DareCommand::Decrypt(args) => {
            let key = load_key(&args)?;
            let reader = DecryptReader::decrypt(io::stdin().lock(), &key, args.sequence);
            pump(reader).context("decrypt")
        }
    }
}

/// Copies `reader` to stdout, mapping DARE errors to their one-line message.
fn pump(mut reader: impl Read) -> Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(dare::Error::from_io(e).into()),
        };
        out.write_all(&buf[..n]).context("write to stdout")?;
    }
    out.flush().context("write to stdout")?;
    Ok(())
}

fn load_key(args: &KeyArgs) -> Result<Key> {
    match (&args.key, &args.key_file) {
        (Some(hex_key), None) => parse_hex_key(hex_key.as_bytes()),
        (None, Some(path)) => {
            let bytes = crate::secret_file::read(path)?;
            if bytes.len() == 32 {
                return Ok(Key::from_slice(&bytes)?);
            }
            parse_hex_key(bytes.trim_ascii())
                .with_context(|| format!("key file {}", path.display()))
        }
        _ => bail!("give exactly one of --key or --key-file"),
    }
}

fn parse_hex_key(text: &[u8]) -> Result<Key> {
    let text = text.trim_ascii();
    if text.len() != 64 {
        bail!(
            "key must be 64 hex characters (32 bytes), got {} characters",
            text.len()
        );
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, &mut bytes[..])
        .map_err(|_| anyhow::anyhow!("key is not valid hex"))?;
    Ok(Key::new(*bytes))
}
