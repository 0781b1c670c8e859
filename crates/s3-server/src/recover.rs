//! Offline recovery: decrypt one object straight from a data directory, without a
//! running server, with the KMS (SSE-S3, SSE-KMS) or the client's key (SSE-C).
//! `coffer admin decrypt-object` is built on it; docs/FORMAT.md describes the same steps
//! for tools written from scratch.

use std::io::Write;
use std::path::Path;

use futures_util::StreamExt;

use crate::sse::{CustomerKey, Sse};
use crate::store::{fs, ByteStream};

/// What can go wrong recovering an object.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The record could not be read.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The key could not be unsealed or the data did not authenticate.
    #[error("{0}")]
    Decrypt(String),
    /// Writing the plaintext failed.
    #[error("write: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes the plaintext of `bucket/key` stored under `root` to `out`; returns its size.
/// An unencrypted object is copied as it is.
pub async fn decrypt_object(
    root: &Path,
    bucket: &str,
    key: &str,
    kms: Option<std::sync::Arc<dyn kms::Kms>>,
    customer: Option<&CustomerKey>,
    out: &mut (dyn Write + Send),
) -> Result<u64, RecoverError> {
    let (meta, dir) = fs::read_record(root, bucket, key, None)?;
    let mut stored: ByteStream = fs::data_stream(&dir, &meta);
    if let Some(record) = &meta.encryption {
        let sse = Sse::new(kms, false);
        let opened = sse.open(bucket, key, record, customer).await.map_err(|e| {
            RecoverError::Decrypt(e.message().unwrap_or("cannot unseal").to_string())
        })?;
        let (_, decrypt) = opened
            .reader(bucket, &meta, &(0..meta.size))
            .map_err(|e| RecoverError::Decrypt(e.message().unwrap_or("bad record").to_string()))?;
        stored = decrypt(stored);
    }
    let mut n = 0u64;
    while let Some(chunk) = stored.next().await {
        let chunk = chunk.map_err(|e| RecoverError::Decrypt(e.to_string()))?;
        out.write_all(&chunk)?;
        n += chunk.len() as u64;
    }
    out.flush()?;
    Ok(n)
}
