//! Bucket default encryption (`?encryption`, spec/sse.md §5.3): validated into one rule,
//! stored as a bucket setting, applied to writes that ask for no encryption.

use s3s::dto::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use s3s::{s3_error, S3Result};
use serde::{Deserialize, Serialize};

/// The bucket setting that holds the configuration.
pub const SETTING: &str = "encryption.json";

/// The stored configuration: the algorithm and, for `aws:kms`, the key as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// `AES256` or `aws:kms`.
    pub algorithm: String,
    /// The KMS key as the client sent it (an `arn:aws:kms:` prefix is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

/// What the configuration applies to a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Default {
    /// SSE-S3.
    S3,
    /// SSE-KMS with this key (prefix trimmed).
    Kms(String),
}

fn malformed(detail: &str) -> s3s::S3Error {
    s3_error!(MalformedXML, "{detail}")
}

impl Config {
    /// Validates a PutBucketEncryption body as MinIO does.
    pub fn from_request(c: ServerSideEncryptionConfiguration) -> S3Result<Self> {
        let [rule] = <[ServerSideEncryptionRule; 1]>::try_from(c.rules)
            .map_err(|_| malformed("only one server-side encryption rule is allowed at a time"))?;
        let by_default = rule
            .apply_server_side_encryption_by_default
            .ok_or_else(|| malformed("Unknown SSE algorithm"))?;
        let algorithm = by_default.sse_algorithm.as_str().to_string();
        let key = by_default.kms_master_key_id.filter(|k| !k.is_empty());
        match algorithm.as_str() {
            "AES256" if key.is_some() => Err(malformed("MasterKeyID is allowed with aws:kms only")),
            "AES256" => Ok(Self {
                algorithm,
                kms_key: None,
            }),
            "aws:kms" => {
                let key = key.ok_or_else(|| malformed("MasterKeyID is missing with aws:kms"))?;
                if key != key.trim() || key.chars().any(char::is_whitespace) {
                    return Err(malformed("MasterKeyID contains unsupported characters"));
                }
                Ok(Self {
                    algorithm,
                    kms_key: Some(key),
                })
            }
            _ => Err(malformed("Unknown SSE algorithm")),
        }
    }

    /// The configuration as GetBucketEncryption returns it.
    pub fn to_response(&self) -> ServerSideEncryptionConfiguration {
        ServerSideEncryptionConfiguration {
            rules: vec![ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                    sse_algorithm: ServerSideEncryption::from(self.algorithm.clone()),
                    kms_master_key_id: self.kms_key.clone(),
                }),
                bucket_key_enabled: None,
            }],
        }
    }

    /// What it applies to a write that asks for no encryption.
    pub fn default(&self) -> Default {
        match &self.kms_key {
            Some(k) => Default::Kms(k.strip_prefix("arn:aws:kms:").unwrap_or(k).to_string()),
            None => Default::S3,
        }
    }

    /// The KMS key a test `generate` must succeed with before the configuration is
    /// accepted (`None` for AES256).
    pub fn kms_key(&self) -> Option<&str> {
        self.kms_key
            .as_deref()
            .map(|k| k.strip_prefix("arn:aws:kms:").unwrap_or(k))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(rules: Vec<(&str, Option<&str>)>) -> ServerSideEncryptionConfiguration {
        ServerSideEncryptionConfiguration {
            rules: rules
                .into_iter()
                .map(|(a, k)| ServerSideEncryptionRule {
                    apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                        sse_algorithm: ServerSideEncryption::from(a.to_string()),
                        kms_master_key_id: k.map(str::to_string),
                    }),
                    bucket_key_enabled: None,
                })
                .collect(),
        }
    }

    #[test]
    fn rules_are_validated() {
        let ok = Config::from_request(config(vec![("AES256", None)])).unwrap();
        assert_eq!(ok.default(), Default::S3);
        let kms = Config::from_request(config(vec![("aws:kms", Some("arn:aws:kms:k1"))])).unwrap();
        assert_eq!(kms.default(), Default::Kms("k1".into()));
        assert_eq!(
            kms.to_response().rules[0]
                .apply_server_side_encryption_by_default
                .as_ref()
                .unwrap()
                .kms_master_key_id
                .as_deref(),
            Some("arn:aws:kms:k1")
        );
        for bad in [
            vec![("AES256", None), ("AES256", None)],
            vec![("AES256", Some("k"))],
            vec![("aws:kms", None)],
            vec![("aws:kms", Some(" k"))],
            vec![("AES192", None)],
            vec![],
        ] {
            let e = Config::from_request(config(bad)).unwrap_err();
            assert_eq!(e.code().as_str(), "MalformedXML");
        }
    }
}
