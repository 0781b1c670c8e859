//! Block Public Access (Get/Put/DeletePublicAccessBlock) and GetBucketPolicyStatus.
//!
//! A bucket policy is *public* when one of its Allow statements names every principal
//! (`"*"` or `{"AWS": "*"}`) without a condition. With `BlockPublicPolicy` such a policy
//! is refused (403); with `RestrictPublicBuckets` anonymous requests are refused whatever
//! the policy says. `BlockPublicAcls` and `IgnorePublicAcls` are kept and reported; ACLs
//! are disabled anyway ([`super::acl`]). A bucket without a configuration blocks nothing,
//! as in MinIO (AWS has blocked public access on new buckets since 2023).

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};
use serde::{Deserialize, Serialize};

use super::errors::s3;
use super::CofferS3;
use crate::store::ObjectStore;

/// The bucket setting that holds the configuration (JSON).
pub const SETTING: &str = "public-access-block.json";

/// A bucket's Block Public Access configuration.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Config {
    /// `BlockPublicAcls`.
    pub block_public_acls: bool,
    /// `IgnorePublicAcls`.
    pub ignore_public_acls: bool,
    /// `BlockPublicPolicy`.
    pub block_public_policy: bool,
    /// `RestrictPublicBuckets`.
    pub restrict_public_buckets: bool,
}

/// The bucket's configuration, if it has one.
pub async fn config_of(store: &dyn ObjectStore, bucket: &str) -> S3Result<Option<Config>> {
    super::json_setting(store, bucket, SETTING).await
}

/// Whether a policy document grants anything to everyone, unconditionally.
pub fn is_public(policy: &serde_json::Value) -> bool {
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        s @ serde_json::Value::Object(_) => vec![s.clone()],
        _ => return false,
    };
    statements.iter().any(|s| {
        let everyone = |p: &serde_json::Value| match p {
            serde_json::Value::String(s) => s == "*",
            serde_json::Value::Array(a) => a.iter().any(|x| x == "*"),
            _ => false,
        };
        let principal = &s["Principal"];
        s["Effect"] == "Allow"
            && (everyone(principal) || everyone(&principal["AWS"]))
            && s.get("Condition")
                .is_none_or(|c| c.as_object().is_none_or(|o| o.is_empty()))
    })
}

/// Refuses a public policy on a bucket that blocks them.
pub async fn check_policy(
    store: &dyn ObjectStore,
    bucket: &str,
    policy: &serde_json::Value,
) -> S3Result<()> {
    let blocks = config_of(store, bucket)
        .await?
        .is_some_and(|c| c.block_public_policy);
    if blocks && is_public(policy) {
        return Err(s3_error!(
            AccessDenied,
            "The bucket blocks public policies (BlockPublicPolicy)"
        ));
    }
    Ok(())
}

/// Whether the bucket refuses anonymous requests (`RestrictPublicBuckets`).
pub async fn restricts_anonymous(store: &dyn ObjectStore, bucket: &str) -> bool {
    config_of(store, bucket)
        .await
        .is_ok_and(|c| c.is_some_and(|c| c.restrict_public_buckets))
}

/// GetPublicAccessBlock.
pub async fn get(
    s: &CofferS3,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let bucket = &req.input.bucket;
    s.store.head_bucket(bucket).await.map_err(s3)?;
    let c = config_of(s.store.as_ref(), bucket).await?.ok_or_else(|| {
        crate::sse::error(
            "NoSuchPublicAccessBlockConfiguration",
            404,
            "The public access block configuration was not found",
        )
    })?;
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(c.block_public_acls),
            ignore_public_acls: Some(c.ignore_public_acls),
            block_public_policy: Some(c.block_public_policy),
            restrict_public_buckets: Some(c.restrict_public_buckets),
        }),
    }))
}

/// PutPublicAccessBlock.
pub async fn put(
    s: &CofferS3,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let i = req.input;
    s.store.head_bucket(&i.bucket).await.map_err(s3)?;
    let c = i.public_access_block_configuration;
    let config = Config {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    let text = serde_json::to_string(&config).map_err(s3s::S3Error::internal_error)?;
    s.store
        .set_bucket_setting(&i.bucket, SETTING, Some(&text))
        .await
        .map_err(s3)?;
    Ok(S3Response::new(PutPublicAccessBlockOutput::default()))
}

/// DeletePublicAccessBlock.
pub async fn delete(
    s: &CofferS3,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    let bucket = &req.input.bucket;
    s.store.head_bucket(bucket).await.map_err(s3)?;
    s.store
        .set_bucket_setting(bucket, SETTING, None)
        .await
        .map_err(s3)?;
    Ok(S3Response::new(DeletePublicAccessBlockOutput::default()))
}

/// GetBucketPolicyStatus.
pub async fn policy_status(
    s: &CofferS3,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let bucket = &req.input.bucket;
    s.store.head_bucket(bucket).await.map_err(s3)?;
    // No policy: not public (RGW's answer; AWS answers NoSuchBucketPolicy).
    let text = s
        .store
        .get_bucket_setting(bucket, super::POLICY)
        .await
        .map_err(s3)?
        .unwrap_or_default();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(is_public(&doc)),
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_means_everyone_unconditionally() {
        let doc = |p: serde_json::Value, cond: bool| {
            let mut s = serde_json::json!({"Effect": "Allow", "Principal": p, "Action": "s3:GetObject",
                                           "Resource": "arn:aws:s3:::b/*"});
            if cond {
                s["Condition"] = serde_json::json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}});
            }
            serde_json::json!({"Version": "2012-10-17", "Statement": [s]})
        };
        assert!(is_public(&doc(serde_json::json!("*"), false)));
        assert!(is_public(&doc(serde_json::json!({"AWS": "*"}), false)));
        assert!(is_public(&doc(serde_json::json!({"AWS": ["*"]}), false)));
        assert!(!is_public(&doc(serde_json::json!("*"), true)));
        assert!(!is_public(&doc(
            serde_json::json!({"AWS": "arn:aws:iam::x:root"}),
            false
        )));
    }
}
