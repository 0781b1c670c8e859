//! Bucket versioning: Get/PutBucketVersioning, and the version IDs requests name and
//! responses show.

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::errors::s3;
use super::CofferS3;
use crate::store::versions::{shown_id, valid_version_id};
use crate::store::Versioning;

/// The bucket setting that holds the versioning state (`Enabled` or `Suspended`; absent:
/// never enabled).
pub const SETTING: &str = "versioning";

impl CofferS3 {
    /// The bucket's versioning state.
    pub(crate) async fn versioning(&self, bucket: &str) -> S3Result<Versioning> {
        let state = self
            .store
            .get_bucket_setting(bucket, SETTING)
            .await
            .map_err(s3)?;
        Ok(match state.as_deref() {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            _ => Versioning::Unversioned,
        })
    }
}

/// The version ID a request names (`versionId`), checked: S3 answers a malformed one
/// with 400 InvalidArgument.
pub fn requested(version: Option<&str>) -> S3Result<Option<&str>> {
    match version {
        None => Ok(None),
        Some(v) if valid_version_id(v) => Ok(Some(v)),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid version id specified")),
    }
}

/// The `x-amz-version-id` to answer with for a version: its ID (or `null`) once the
/// bucket has versioning, nothing for a bucket that never had it.
pub fn shown(version_id: Option<&str>, versioning: Versioning) -> Option<String> {
    match (version_id, versioning) {
        (Some(id), _) => Some(id.to_string()),
        (None, Versioning::Unversioned) => None,
        (None, _) => Some(shown_id(None).to_string()),
    }
}

/// GetBucketVersioning.
pub async fn get(
    s: &CofferS3,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    s.store.head_bucket(&req.input.bucket).await.map_err(s3)?;
    let status = match s.versioning(&req.input.bucket).await? {
        Versioning::Unversioned => None,
        Versioning::Enabled => Some(BucketVersioningStatus::ENABLED),
        Versioning::Suspended => Some(BucketVersioningStatus::SUSPENDED),
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        status: status.map(BucketVersioningStatus::from_static),
        ..Default::default()
    }))
}

/// PutBucketVersioning. A bucket with object lock cannot be suspended.
pub async fn put(
    s: &CofferS3,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let i = req.input;
    s.store.head_bucket(&i.bucket).await.map_err(s3)?;
    if i.versioning_configuration
        .mfa_delete
        .as_ref()
        .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
    {
        return Err(s3_error!(
            NotImplemented,
            "MFA delete is not supported by this server"
        ));
    }
    let status = match i
        .versioning_configuration
        .status
        .as_ref()
        .map(|s| s.as_str())
    {
        Some(BucketVersioningStatus::ENABLED) => "Enabled",
        Some(BucketVersioningStatus::SUSPENDED) => "Suspended",
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "versioning status must be Enabled or Suspended"
            ))
        }
    };
    if status == "Suspended" && s.object_lock_enabled(&i.bucket).await? {
        return Err(s3_error!(
            InvalidBucketState,
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
        ));
    }
    s.store
        .set_bucket_setting(&i.bucket, SETTING, Some(status))
        .await
        .map_err(s3)?;
    Ok(S3Response::new(PutBucketVersioningOutput {}))
}
