//! [`Kms`] over one or more KES servers (Coffer's own or MinIO KES), as MinIO's `MinKES`
//! backend: the context's canonical bytes go to the server as associated data and the
//! ciphertext it returns is stored verbatim.

use hyper::Method;
use kes_proto::ApiError;
use zeroize::Zeroizing;

use crate::kms::{data_key, DATA_KEY_LEN};
use crate::{Context, DataKey, Error, KesClient, Kms, Result};

/// A KES-backed KMS.
#[derive(Debug)]
pub struct KesKms {
    client: KesClient,
    default_key: String,
}

impl KesKms {
    /// Uses `client`, with `default_key` for SSE-S3 and SSE-KMS without a key id.
    pub fn new(client: KesClient, default_key: impl Into<String>) -> Self {
        Self {
            client,
            default_key: default_key.into(),
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &KesClient {
        &self.client
    }
}

/// KES names a missing key with a plain 404; give it the key's name.
fn key_error(key: &str, e: Error) -> Error {
    match e {
        Error::Api(a) if a.status == 404 && a.message == ApiError::KEY_NOT_FOUND.message => {
            Error::KeyNotFound(key.to_string())
        }
        Error::Api(a) if a.status == 400 && a.message == ApiError::KEY_EXISTS.message => {
            Error::KeyExists(key.to_string())
        }
        e => e,
    }
}

#[async_trait::async_trait]
impl Kms for KesKms {
    fn kind(&self) -> &'static str {
        "KES"
    }

    fn default_key(&self) -> &str {
        &self.default_key
    }

    async fn generate(&self, key: &str, context: &Context) -> Result<DataKey> {
        let dek = self
            .client
            .generate(key, &context.to_bytes())
            .await
            .map_err(|e| key_error(key, e))?;
        Ok(DataKey {
            key_id: key.to_string(),
            plaintext: data_key(&dek.plaintext)?,
            ciphertext: dek.ciphertext,
        })
    }

    async fn decrypt(
        &self,
        key: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>> {
        let plaintext = self
            .client
            .decrypt(key, ciphertext, &context.to_bytes())
            .await
            .map_err(|e| match key_error(key, e) {
                // Any other 400 on decrypt: the ciphertext or context is at fault.
                Error::Api(a) if a.status == 400 => Error::InvalidCiphertext,
                e => e,
            })?;
        data_key(&plaintext)
    }

    async fn create_key(&self, key: &str) -> Result<()> {
        self.client
            .create_key(key)
            .await
            .map_err(|e| key_error(key, e))
    }

    async fn list_keys(&self, pattern: &str) -> Result<Vec<String>> {
        self.client.list_keys(pattern).await
    }

    async fn status(&self) -> Result<Vec<(String, bool)>> {
        let endpoints = self.client.endpoints();
        let mut out = Vec::with_capacity(endpoints.len());
        let mut refused = 0;
        for endpoint in endpoints {
            let status = match self
                .client
                .send_to(endpoint, Method::GET, "/v1/status", None)
                .await
            {
                Ok(r) => r.status,
                Err(_) => 0,
            };
            refused += usize::from(status == 403);
            out.push((endpoint.clone(), status == 200));
        }
        // Every server answered but none lets us see its status: a policy problem, which
        // "offline" would hide.
        if refused == endpoints.len() {
            return Err(Error::Api(ApiError::NOT_ALLOWED));
        }
        Ok(out)
    }
}
