//! Start-up: the KMS self-test and the development key.

use std::path::Path;

use subtle::ConstantTimeEq as _;

use crate::{secret_file, BuiltinKms, Context, Error, ErrorKind, Kms, Result};

/// Name of the key [`dev_key`] creates.
pub const DEV_KEY_NAME: &str = "coffer-default";

/// The start-up check of MinIO (spec `sse.md` §7.3, `kes-api.md` §7.2): generate a data
/// key under the default key with an empty context; if the key does not exist, create it
/// (tolerating "exists" and "not authorized", as another node or an operator may own it)
/// and generate again; then decrypt the data key and compare.
pub async fn self_test(kms: &dyn Kms) -> Result<()> {
    let key = kms.default_key();
    let context = Context::new();
    let dek = match kms.generate(key, &context).await {
        Ok(dek) => dek,
        Err(e) if e.kind() == ErrorKind::KeyNotFound => {
            match kms.create_key(key).await {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), ErrorKind::KeyExists | ErrorKind::NotAuthorized) => {}
                Err(e) => return Err(e),
            }
            kms.generate(key, &context).await?
        }
        Err(e) => return Err(e),
    };
    let plaintext = kms.decrypt(key, &dek.ciphertext, &context).await?;
    if !bool::from(plaintext.ct_eq(&*dek.plaintext)) {
        return Err(Error::Protocol(format!(
            "self-test: a data key of '{key}' decrypted to different bytes"
        )));
    }
    Ok(())
}

/// The development KMS of `coffer server` without KMS variables: a built-in key kept in
/// `path` (outside the data directory). An existing file must hold `name:base64(32 bytes)`
/// and be mode 0600; a missing one is created, with its directories, holding a fresh key
/// named [`DEV_KEY_NAME`]. Two servers starting at once end up with the same key.
pub fn dev_key(path: &Path) -> Result<BuiltinKms> {
    if !path.exists() {
        let fresh = BuiltinKms::generate_key(DEV_KEY_NAME)?;
        let mut text = fresh.to_secret_key_string();
        text.push('\n');
        let created = secret_file::create_new(path, text.as_bytes()).map_err(|e| {
            Error::Config(format!(
                "cannot create KMS key file {}: {e}",
                path.display()
            ))
        })?;
        if created {
            return Ok(fresh);
        }
    }
    let text = secret_file::read(path).map_err(|e| Error::Config(format!("KMS key file: {e}")))?;
    BuiltinKms::from_secret_key(&text)
        .map_err(|e| Error::Config(format!("KMS key file {}: {e}", path.display())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use zeroize::Zeroizing;

    use super::*;
    use crate::secret_file::tests::TempDir;
    use crate::{DataKey, DATA_KEY_LEN};

    #[tokio::test]
    async fn self_test_passes_on_the_builtin_kms() {
        let kms = BuiltinKms::generate_key("k").unwrap();
        self_test(&kms).await.unwrap();
    }

    /// A KMS whose default key appears only when created.
    #[derive(Debug, Default)]
    struct Lazy {
        created: AtomicUsize,
        create_answer: Option<ErrorKind>,
        corrupt: bool,
    }

    #[async_trait::async_trait]
    impl Kms for Lazy {
        fn kind(&self) -> &'static str {
            "test"
        }
        fn default_key(&self) -> &str {
            "k"
        }
        async fn generate(&self, key: &str, _: &Context) -> Result<DataKey> {
            if self.created.load(Ordering::SeqCst) == 0 {
                return Err(Error::KeyNotFound(key.into()));
            }
            Ok(DataKey {
                key_id: key.into(),
                plaintext: Zeroizing::new([1; DATA_KEY_LEN]),
                ciphertext: vec![1],
            })
        }
        async fn decrypt(&self, _: &str, _: &[u8], _: &Context) -> Result<Zeroizing<[u8; 32]>> {
            Ok(Zeroizing::new([u8::from(!self.corrupt); 32]))
        }
        async fn create_key(&self, key: &str) -> Result<()> {
            self.created.fetch_add(1, Ordering::SeqCst);
            match self.create_answer {
                Some(ErrorKind::KeyExists) => Err(Error::KeyExists(key.into())),
                Some(ErrorKind::NotAuthorized) => Err(Error::Api(kes_proto::ApiError::NOT_ALLOWED)),
                Some(_) => Err(Error::Unreachable("down".into())),
                None => Ok(()),
            }
        }
        async fn list_keys(&self, _: &str) -> Result<Vec<String>> {
            Ok(Vec::new())
        }
        async fn status(&self) -> Result<Vec<(String, bool)>> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn self_test_creates_a_missing_default_key() {
        for answer in [
            None,
            Some(ErrorKind::KeyExists),
            Some(ErrorKind::NotAuthorized),
        ] {
            let kms = Lazy {
                create_answer: answer,
                ..Lazy::default()
            };
            self_test(&kms).await.unwrap();
            assert_eq!(kms.created.load(Ordering::SeqCst), 1);
        }
        let down = Lazy {
            create_answer: Some(ErrorKind::Unavailable),
            ..Lazy::default()
        };
        assert_eq!(
            self_test(&down).await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
        let corrupt = Lazy {
            corrupt: true,
            ..Lazy::default()
        };
        assert!(self_test(&corrupt).await.is_err());
    }

    #[tokio::test]
    #[cfg(unix)]
    async fn dev_key_is_created_once_and_reloaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("devkey");
        let path = dir.0.join("state/kms/key");
        let a = dev_key(&path).unwrap();
        assert_eq!(a.name(), DEV_KEY_NAME);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = dev_key(&path).unwrap();
        let ctx = Context::object("b", "b/o");
        let dek = a.generate(DEV_KEY_NAME, &ctx).await.unwrap();
        assert_eq!(
            *b.decrypt(DEV_KEY_NAME, &dek.ciphertext, &ctx)
                .await
                .unwrap(),
            *dek.plaintext
        );

        crate::secret_file::tests::chmod(&path, 0o640);
        let err = dev_key(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        crate::secret_file::tests::chmod(&path, 0o600);
        std::fs::write(&path, "garbage").unwrap();
        assert!(dev_key(&path).is_err());
    }
}
