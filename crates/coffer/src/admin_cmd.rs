//! `coffer admin …`: operator commands that work on a data directory directly.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;

/// `coffer admin`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// The KMS behind an object server, through MinIO's admin API (as `mc admin kms`).
    #[command(subcommand)]
    Kms(KmsCommand),
    /// Decrypt one object from a data directory to stdout, without a running server.
    ///
    /// SSE-S3 and SSE-KMS objects are unsealed through the KMS configured by the same
    /// environment variables as `coffer server` (MINIO_KMS_KES_*, MINIO_KMS_SECRET_KEY,
    /// …, or the development key); SSE-C objects need the client's key.
    DecryptObject {
        /// The server's data directory.
        dir: PathBuf,
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// File with the SSE-C key (32 raw bytes or their base64; mode 0600).
        #[arg(long, value_name = "FILE")]
        sse_c_key_file: Option<PathBuf>,
    },
}

/// `coffer admin kms`.
#[derive(Debug, Subcommand)]
pub enum KmsCommand {
    /// Keys: status, create, list.
    #[command(subcommand)]
    Key(crate::client::KmsKeyCommand),
}

/// Runs an admin command.
pub fn run(cmd: AdminCommand, out: crate::client::OutputArgs) -> Result<()> {
    match cmd {
        AdminCommand::Kms(KmsCommand::Key(cmd)) => {
            crate::client::run(out, |c| crate::client::kms_key(c, cmd))
        }
        AdminCommand::DecryptObject {
            dir,
            bucket,
            key,
            sse_c_key_file,
        } => {
            let customer = match &sse_c_key_file {
                Some(path) => Some(customer_key(path)?),
                None => None,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("start runtime")?;
            rt.block_on(async move {
                if !dir.join(&bucket).join("bucket.json").is_file() {
                    bail!(
                        "{}: no bucket {bucket} in this data directory",
                        dir.display()
                    );
                }
                let kms = crate::server_cmd::kms_from_env(Some(&dir), false, None).await?;
                let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout());
                s3_server::recover::decrypt_object(
                    &dir,
                    &bucket,
                    &key,
                    kms,
                    customer.as_ref(),
                    &mut out,
                )
                .await
                .map_err(|e| anyhow!("decrypt-object {bucket}/{key}: {e}"))?;
                Ok(())
            })
        }
    }
}

fn customer_key(path: &std::path::Path) -> Result<s3_server::sse::CustomerKey> {
    use base64::Engine;
    let bytes = crate::secret_file::read(path)?;
    let raw: zeroize::Zeroizing<Vec<u8>> = if bytes.len() == 32 {
        zeroize::Zeroizing::new(bytes.to_vec())
    } else {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| anyhow!("SSE-C key file {}: not 32 bytes or base64", path.display()))?;
        zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| {
                    anyhow!("SSE-C key file {}: not 32 bytes or base64", path.display())
                })?,
        )
    };
    let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
        anyhow!(
            "SSE-C key file {}: the key must be 32 bytes",
            path.display()
        )
    })?;
    Ok(s3_server::sse::CustomerKey::new(key))
}
