//! The interface the object server uses: one data key per object, sealed by a KMS.

use zeroize::Zeroizing;

use crate::{Context, Error, Result};

/// Length of every data key.
pub const DATA_KEY_LEN: usize = 32;

/// A fresh data key: the plaintext encrypts one object, the ciphertext is stored beside it.
pub struct DataKey {
    /// The KMS key the data key is sealed under (stored as `…-Kms-Key-Id`).
    pub key_id: String,
    /// The 32-byte key; zeroized on drop, never printed.
    pub plaintext: Zeroizing<[u8; DATA_KEY_LEN]>,
    /// The sealed key, opaque; only the same KMS key and context unseal it.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// A key management system as the object server sees it.
#[async_trait::async_trait]
pub trait Kms: Send + Sync + std::fmt::Debug {
    /// Short name of the backend for status output: "KES", "MinIO builtin", "Vault transit".
    fn kind(&self) -> &'static str;

    /// The default key (SSE-S3, SSE-KMS without key id).
    fn default_key(&self) -> &str;

    /// A fresh 32-byte data key sealed under `key`, bound to `context`.
    async fn generate(&self, key: &str, context: &Context) -> Result<DataKey>;

    /// Unseals a data key's ciphertext made by `generate` under `key` with the same context.
    async fn decrypt(
        &self,
        key: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>>;

    /// Creates a key ([`Error::KeyExists`] if it exists; [`Error::NotSupported`] where the
    /// backend cannot).
    async fn create_key(&self, key: &str) -> Result<()>;

    /// Key names matching a pattern (`*` = all, `prefix*`).
    async fn list_keys(&self, pattern: &str) -> Result<Vec<String>>;

    /// Per-endpoint reachability: (endpoint, online?).
    async fn status(&self) -> Result<Vec<(String, bool)>>;
}

/// Copies a data key a backend returned into a fixed array; any length but 32 is a
/// protocol error (the caller's bytes are left for it to zeroize).
pub(crate) fn data_key(plaintext: &[u8]) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>> {
    let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    if plaintext.len() != DATA_KEY_LEN {
        return Err(Error::Protocol(format!(
            "data key of {} bytes, expected {DATA_KEY_LEN}",
            plaintext.len()
        )));
    }
    key.copy_from_slice(plaintext);
    Ok(key)
}

/// Whether `name` matches a list pattern: `*` or empty = all, `prefix*` = prefix,
/// anything else = exactly that name.
pub(crate) fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern.is_empty() || pattern == name,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_are_32_bytes() {
        assert_eq!(*data_key(&[7; 32]).unwrap(), [7; 32]);
        for len in [0, 16, 31, 33, 64] {
            let err = data_key(&vec![0; len]).unwrap_err();
            assert!(err.to_string().contains(&format!("{len} bytes")), "{err}");
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let k = DataKey {
            key_id: "k".into(),
            plaintext: Zeroizing::new([0xab; 32]),
            ciphertext: vec![1, 2, 3],
        };
        let s = format!("{k:?}");
        assert!(s.contains("ciphertext_len: 3") && !s.contains("171"), "{s}");
    }

    #[test]
    fn patterns() {
        for (p, n, want) in [
            ("*", "a", true),
            ("", "a", true),
            ("my-*", "my-key", true),
            ("my-*", "other", false),
            ("my-key", "my-key", true),
            ("my-k", "my-key", false),
        ] {
            assert_eq!(matches_pattern(p, n), want, "{p} {n}");
        }
    }
}
