//! JSON request and response bodies of the key API (spec §1.3, §2).
//!
//! Byte fields are standard padded base64; JSON `null` or an absent field reads as empty.
//! Unknown fields are ignored, as Go's decoder does. Fields holding plaintext or key material
//! are `Zeroizing`. Every type both serialises and deserialises, so servers and clients can
//! share them.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{Algorithm, SecretKey};
use crate::error::ApiError;
use crate::timestamp::Timestamp;

/// `/v1/key/generate/<name>` request (the body itself is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// Associated data, used verbatim.
    #[serde(default, with = "crate::b64")]
    pub context: Vec<u8>,
}

/// `/v1/key/generate/<name>` response.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateResponse {
    /// The new 32-byte data key.
    #[serde(
        default,
        serialize_with = "crate::b64::serialize_secret",
        deserialize_with = "crate::b64::deserialize_secret"
    )]
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The data key encrypted under the named key.
    #[serde(default, with = "crate::b64")]
    pub ciphertext: Vec<u8>,
}

/// `/v1/key/encrypt/<name>` request.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptRequest {
    /// Data to encrypt.
    #[serde(
        default,
        serialize_with = "crate::b64::serialize_secret",
        deserialize_with = "crate::b64::deserialize_secret"
    )]
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Associated data, used verbatim.
    #[serde(default, with = "crate::b64")]
    pub context: Vec<u8>,
}

/// `/v1/key/encrypt/<name>` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptResponse {
    /// The ciphertext (raw format).
    #[serde(default, with = "crate::b64")]
    pub ciphertext: Vec<u8>,
}

/// `/v1/key/decrypt/<name>` request. A `version` field is accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecryptRequest {
    /// Ciphertext in any accepted format.
    #[serde(default, with = "crate::b64")]
    pub ciphertext: Vec<u8>,
    /// Associated data, used verbatim.
    #[serde(default, with = "crate::b64")]
    pub context: Vec<u8>,
}

/// `/v1/key/decrypt/<name>` response.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecryptResponse {
    /// The decrypted data.
    #[serde(
        default,
        serialize_with = "crate::b64::serialize_secret",
        deserialize_with = "crate::b64::deserialize_secret"
    )]
    pub plaintext: Zeroizing<Vec<u8>>,
}

/// `/v1/key/hmac/<name>` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmacRequest {
    /// Message to authenticate.
    #[serde(default, with = "crate::b64")]
    pub message: Vec<u8>,
}

/// `/v1/key/hmac/<name>` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmacResponse {
    /// HMAC-SHA256 of the message (32 bytes).
    #[serde(default, with = "crate::b64")]
    pub hmac: Vec<u8>,
}

/// `/v1/key/import/<name>` request: HEAD `{"key","cipher"}` or E1–E3 `{"bytes","algorithm"}`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    /// The key bytes (must be 32). Also read from `bytes`.
    #[serde(
        default,
        alias = "bytes",
        serialize_with = "crate::b64::serialize_secret",
        deserialize_with = "crate::b64::deserialize_secret"
    )]
    pub key: Zeroizing<Vec<u8>>,
    /// Algorithm name as sent; empty means AES256. Also read from `algorithm`.
    #[serde(default, alias = "algorithm", deserialize_with = "null_as_empty")]
    pub cipher: String,
}

impl ImportRequest {
    /// Validates the request into a key: 406 `algorithm '<c>' is not supported` for an unknown
    /// cipher, 406 `invalid key size for '<c>'` unless the key is 32 bytes.
    pub fn to_secret_key(&self) -> Result<SecretKey, ApiError> {
        let algorithm = if self.cipher.is_empty() {
            Algorithm::Aes256
        } else {
            Algorithm::parse(&self.cipher)
                .ok_or_else(|| ApiError::unsupported_algorithm(&self.cipher))?
        };
        let bytes: [u8; 32] = self
            .key
            .as_slice()
            .try_into()
            .map_err(|_| ApiError::invalid_key_size(&self.cipher))?;
        Ok(SecretKey::new(algorithm, bytes))
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// `/v1/key/describe/<name>` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeKeyResponse {
    /// Key name.
    pub name: String,
    /// `AES256` or `ChaCha20`.
    pub algorithm: Algorithm,
    /// Creation time; written as Go's zero time `0001-01-01T00:00:00Z` when unknown.
    #[serde(with = "created_at", default)]
    pub created_at: Option<Timestamp>,
    /// Creating identity; omitted when unknown (legacy keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

mod created_at {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        t.unwrap_or(Timestamp::GO_ZERO).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let t = Option::<Timestamp>::deserialize(d)?;
        Ok(t.filter(|t| *t != Timestamp::GO_ZERO))
    }
}

/// Response of the HEAD list APIs (`/v1/key/list/`, `/v1/policy/list/`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResponse {
    /// Sorted names (always an array, never `null`).
    #[serde(default, deserialize_with = "null_as_empty_vec")]
    pub names: Vec<String>,
    /// First name of the next page; omitted when empty.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub continue_at: String,
}

fn null_as_empty_vec<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

macro_rules! redacted_debug {
    ($($ty:ident { $($field:ident),* }),* $(,)?) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    )*};
}

redacted_debug! {
    GenerateResponse { ciphertext },
    EncryptRequest { context },
    DecryptResponse {},
    ImportRequest { cipher },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn null_absent_and_unknown_fields() {
        let r: GenerateRequest = serde_json::from_str("{}").unwrap();
        assert!(r.context.is_empty());
        let r: GenerateRequest =
            serde_json::from_str(r#"{"context":null,"version":"v1","x":[1]}"#).unwrap();
        assert!(r.context.is_empty());
        let r: DecryptRequest =
            serde_json::from_str(r#"{"ciphertext":"AAEC","context":"e30=","version":""}"#).unwrap();
        assert_eq!(r.ciphertext, vec![0, 1, 2]);
        assert_eq!(r.context, b"{}".to_vec());
        assert!(serde_json::from_str::<HmacRequest>(r#"{"message":"not base64"}"#).is_err());
        let r: EncryptRequest = serde_json::from_str(r#"{"plaintext":null}"#).unwrap();
        assert!(r.plaintext.is_empty());
    }

    #[test]
    fn responses_serialize_like_go() {
        let resp = GenerateResponse {
            plaintext: Zeroizing::new(vec![0xff]),
            ciphertext: vec![1, 2, 3],
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"plaintext":"/w==","ciphertext":"AQID"}"#
        );
        assert!(!format!("{resp:?}").contains("255"));
        let list = ListResponse {
            names: vec!["a".into()],
            continue_at: String::new(),
        };
        assert_eq!(serde_json::to_string(&list).unwrap(), r#"{"names":["a"]}"#);
        let empty: ListResponse = serde_json::from_str(r#"{"names":null}"#).unwrap();
        assert!(empty.names.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"names":[]}"#);
    }

    #[test]
    fn describe_key() {
        let legacy = DescribeKeyResponse {
            name: "k".into(),
            algorithm: Algorithm::Aes256,
            created_at: None,
            created_by: None,
        };
        let json = serde_json::to_string(&legacy).unwrap();
        assert_eq!(
            json,
            r#"{"name":"k","algorithm":"AES256","created_at":"0001-01-01T00:00:00Z"}"#
        );
        assert_eq!(
            serde_json::from_str::<DescribeKeyResponse>(&json).unwrap(),
            legacy
        );
        let new = DescribeKeyResponse {
            name: "k".into(),
            algorithm: Algorithm::ChaCha20,
            created_at: Some(Timestamp {
                seconds: 1_704_067_200,
                nanos: 0,
            }),
            created_by: Some("id".into()),
        };
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(
            json,
            r#"{"name":"k","algorithm":"ChaCha20","created_at":"2024-01-01T00:00:00Z","created_by":"id"}"#
        );
        assert_eq!(
            serde_json::from_str::<DescribeKeyResponse>(&json).unwrap(),
            new
        );
    }

    #[test]
    fn import_bodies() {
        const K: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let head: ImportRequest =
            serde_json::from_str(&format!(r#"{{"key":"{K}","cipher":"AES256"}}"#)).unwrap();
        assert_eq!(head.to_secret_key().unwrap().algorithm(), Algorithm::Aes256);
        let e3: ImportRequest = serde_json::from_str(&format!(
            r#"{{"bytes":"{K}","algorithm":"XCHACHA20-POLY1305"}}"#
        ))
        .unwrap();
        assert_eq!(e3.to_secret_key().unwrap().algorithm(), Algorithm::ChaCha20);
        let e1: ImportRequest = serde_json::from_str(&format!(r#"{{"bytes":"{K}"}}"#)).unwrap();
        let key = e1.to_secret_key().unwrap();
        assert_eq!(key.algorithm(), Algorithm::Aes256);
        assert_eq!(key.as_bytes()[31], 31);

        let short: ImportRequest =
            serde_json::from_str(r#"{"key":"AAECAwQFBgcICQoLDA0ODw==","cipher":"AES256"}"#)
                .unwrap();
        assert_eq!(
            short.to_secret_key().unwrap_err(),
            ApiError::new(406, "invalid key size for 'AES256'")
        );
        let des: ImportRequest =
            serde_json::from_str(&format!(r#"{{"key":"{K}","cipher":"DES"}}"#)).unwrap();
        assert_eq!(
            des.to_secret_key().unwrap_err(),
            ApiError::new(406, "algorithm 'DES' is not supported")
        );
        assert!(!format!("{head:?}").contains("AAEC"));
    }
}
