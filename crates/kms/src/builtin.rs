//! The built-in single-key KMS: `MINIO_KMS_SECRET_KEY=name:base64(32 bytes)`, and the
//! legacy `MINIO_KMS_MASTER_KEY` / `MINIO_SSE_MASTER_KEY=name:hex(32 bytes)` (spec `sse.md`
//! §7.1). Also Coffer's development KMS (see [`crate::dev_key`]).
//!
//! Sealed data keys (frozen formats, MinIO's):
//!
//! ```text
//! secret key, written (76 bytes):
//!   | AES-256-GCM(HMAC-SHA256(K, iv), nonce, DEK, aad = context) 48 | iv 16 | nonce 12 |
//! secret key, read only (2021-04 … 2024-05), JSON text:
//!   {"aead":"AES-256-GCM-HMAC-SHA-256"|"ChaCha20Poly1305","iv":b64(16),"nonce":b64(12),
//!    "bytes":b64(ciphertext ‖ tag)}      ChaCha20 key = HChaCha20(K, iv)
//! legacy master key (64 bytes):
//!   one DARE 2.0 package of the DEK under HMAC-SHA256(K, name ‖ context)
//! ```
//!
//! The per-message crypto is KES's (`kes_proto::SecretKey`), which MinIO's builtin
//! format shares byte for byte.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use kes_proto::{Algorithm, SecretKey, IV_LEN, NONCE_LEN};
use zeroize::{Zeroize, Zeroizing};

use crate::kms::{data_key, matches_pattern, DATA_KEY_LEN};
use crate::{Context, DataKey, Error, Kms, Result};

/// Which sealing a [`BuiltinKms`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `MINIO_KMS_SECRET_KEY`: AES-256-GCM, 76-byte blobs.
    SecretKey,
    /// Legacy `MINIO_KMS_MASTER_KEY`: DARE 2.0, 64-byte blobs (not readable by MinIO today).
    MasterKey,
}

/// One named 32-byte key held in memory. `Debug` shows only the name.
#[derive(Clone)]
pub struct BuiltinKms {
    name: String,
    key: SecretKey,
    form: Form,
}

impl std::fmt::Debug for BuiltinKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinKms")
            .field("name", &self.name)
            .field("form", &self.form)
            .finish_non_exhaustive()
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut out = Zeroizing::new([0u8; N]);
    SystemRandom::new()
        .fill(out.as_mut_slice())
        .map_err(|_| Error::Crypto("random number generator failed"))?;
    Ok(out)
}

fn split_name(s: &str) -> Result<(&str, &str)> {
    match s.trim().split_once(':') {
        Some((name, key)) if !name.is_empty() => Ok((name, key)),
        _ => Err(Error::Config("expected NAME:KEY".into())),
    }
}

impl BuiltinKms {
    /// A secret-key KMS with key `name` and the 32 `key` bytes.
    pub fn new(name: impl Into<String>, key: [u8; 32]) -> Self {
        Self {
            name: name.into(),
            key: SecretKey::new(Algorithm::Aes256, key),
            form: Form::SecretKey,
        }
    }

    /// A fresh random key named `name`.
    pub fn generate_key(name: impl Into<String>) -> Result<Self> {
        Ok(Self::new(name, *random::<32>()?))
    }

    /// Parses `name:base64(32 bytes)` (`MINIO_KMS_SECRET_KEY`). Errors never show the key.
    pub fn from_secret_key(s: &str) -> Result<Self> {
        let (name, b64) =
            split_name(s).map_err(|_| Error::Config("expected NAME:BASE64-KEY".into()))?;
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| Error::Config("the key after ':' is not valid base64".into()))?,
        );
        Ok(Self::new(name, fixed_key(&bytes)?))
    }

    /// Parses the legacy `name:hex(32 bytes)` (`MINIO_KMS_MASTER_KEY`, `MINIO_SSE_MASTER_KEY`).
    pub fn from_master_key(s: &str) -> Result<Self> {
        let (name, hex_key) =
            split_name(s).map_err(|_| Error::Config("expected NAME:HEX-KEY".into()))?;
        let bytes = Zeroizing::new(
            hex::decode(hex_key)
                .map_err(|_| Error::Config("the key after ':' is not valid hex".into()))?,
        );
        let mut kms = Self::new(name, fixed_key(&bytes)?);
        kms.form = Form::MasterKey;
        Ok(kms)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is the legacy master-key form (DARE-sealed data keys).
    pub fn is_legacy_master_key(&self) -> bool {
        self.form == Form::MasterKey
    }

    /// `name:base64(key)`, the `MINIO_KMS_SECRET_KEY` text (to write a key file).
    pub fn to_secret_key_string(&self) -> Zeroizing<String> {
        let b64 =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.key.as_bytes()));
        Zeroizing::new(format!("{}:{}", self.name, b64.as_str()))
    }

    fn check_name(&self, key: &str) -> Result<()> {
        if key == self.name {
            Ok(())
        } else {
            Err(Error::KeyNotFound(key.to_string()))
        }
    }

    /// Seals `dek` in the written 76-byte format with a caller-chosen IV and nonce
    /// (tests reproduce MinIO's vectors with it; production draws them at random).
    pub(crate) fn seal(
        &self,
        dek: &[u8; DATA_KEY_LEN],
        context: &Context,
        iv: [u8; IV_LEN],
        nonce: [u8; NONCE_LEN],
    ) -> Vec<u8> {
        self.key.encrypt_with(dek, &context.to_bytes(), iv, nonce)
    }

    /// The DARE key of the legacy master-key form.
    fn master_key_dare_key(&self, context: &Context) -> dare::Key {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.key.as_bytes());
        let mut mac = hmac::Context::with_key(&key);
        mac.update(self.name.as_bytes());
        mac.update(&context.to_bytes());
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(mac.sign().as_ref());
        dare::Key::new(*k)
    }

    fn open_secret_key(&self, ciphertext: &[u8], context: &Context) -> Result<Zeroizing<Vec<u8>>> {
        let aad = context.to_bytes();
        let key = match legacy_algorithm(ciphertext) {
            Some(Algorithm::ChaCha20) => SecretKey::new(Algorithm::ChaCha20, *self.key.as_bytes()),
            _ => self.key.clone(),
        };
        key.decrypt(ciphertext, &aad)
            .map_err(|_| Error::InvalidCiphertext)
    }

    fn open_master_key(&self, ciphertext: &[u8], context: &Context) -> Result<Zeroizing<Vec<u8>>> {
        let key = self.master_key_dare_key(context);
        dare::decrypt_buffer(&key, 0, ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| Error::InvalidCiphertext)
    }
}

fn fixed_key(bytes: &[u8]) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| Error::Config(format!("the key is {} bytes, expected 32", bytes.len())))
}

/// The cipher a legacy JSON ciphertext names; `None` for the binary format (MinIO's test:
/// starts with `{`, ends with `}`, parses). An unknown `aead` reads as AES and so fails.
fn legacy_algorithm(ciphertext: &[u8]) -> Option<Algorithm> {
    #[derive(serde::Deserialize)]
    struct Legacy {
        aead: String,
    }
    if ciphertext.first() != Some(&b'{') || ciphertext.last() != Some(&b'}') {
        return None;
    }
    let legacy: Legacy = serde_json::from_slice(ciphertext).ok()?;
    match legacy.aead.as_str() {
        "ChaCha20Poly1305" => Some(Algorithm::ChaCha20),
        _ => Some(Algorithm::Aes256),
    }
}

#[async_trait::async_trait]
impl Kms for BuiltinKms {
    fn kind(&self) -> &'static str {
        "MinIO builtin"
    }

    fn default_key(&self) -> &str {
        &self.name
    }

    async fn generate(&self, key: &str, context: &Context) -> Result<DataKey> {
        self.check_name(key)?;
        let dek = random::<DATA_KEY_LEN>()?;
        let ciphertext = match self.form {
            Form::SecretKey => {
                let iv = random::<IV_LEN>()?;
                let nonce = random::<NONCE_LEN>()?;
                self.seal(&dek, context, *iv, *nonce)
            }
            Form::MasterKey => {
                let sealer = dare::Sealer::new(&self.master_key_dare_key(context), 0)
                    .map_err(|_| Error::Crypto("cannot seal the data key"))?;
                dare::encrypt_buffer(sealer, dek.as_slice())
                    .map_err(|_| Error::Crypto("cannot seal the data key"))?
            }
        };
        Ok(DataKey {
            key_id: self.name.clone(),
            plaintext: dek,
            ciphertext,
        })
    }

    async fn decrypt(
        &self,
        key: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>> {
        self.check_name(key)?;
        // A master key also opens what MinIO sealed while MINIO_KMS_MASTER_KEY was an
        // alias of the secret key (2021-04 … 2021-06).
        let is_dare = ciphertext.len() == 64 && ciphertext.first() == Some(&0x20);
        let mut plaintext = match self.form {
            Form::MasterKey if is_dare => self.open_master_key(ciphertext, context)?,
            _ => self.open_secret_key(ciphertext, context)?,
        };
        let key = data_key(&plaintext).map_err(|_| Error::InvalidCiphertext);
        plaintext.zeroize();
        key
    }

    async fn create_key(&self, key: &str) -> Result<()> {
        if key == self.name {
            Err(Error::KeyExists(key.to_string()))
        } else {
            Err(Error::NotSupported(
                "the built-in KMS has exactly one key and cannot create others".into(),
            ))
        }
    }

    async fn list_keys(&self, pattern: &str) -> Result<Vec<String>> {
        Ok(if matches_pattern(pattern, &self.name) {
            vec![self.name.clone()]
        } else {
            Vec::new()
        })
    }

    async fn status(&self) -> Result<Vec<(String, bool)>> {
        Ok(vec![("127.0.0.1".to_string(), true)])
    }
}

#[cfg(test)]
#[path = "builtin_tests.rs"]
mod tests;
