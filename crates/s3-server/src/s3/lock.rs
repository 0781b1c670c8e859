//! Object lock: the bucket's configuration (enabled, default retention), each version's
//! retention and legal hold, and the checks that keep protected versions from being
//! deleted or having their protection weakened.
//!
//! A version under retention until a future instant, or under legal hold, cannot be
//! deleted for good (a delete marker can still cover it). `COMPLIANCE` retention can
//! only be lengthened; `GOVERNANCE` retention can be shortened, removed or the version
//! deleted by a request with `x-amz-bypass-governance-retention: true` from a principal
//! allowed `s3:BypassGovernanceRetention` (the root user, a bucket owner, or whom the
//! bucket policy allows).

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};
use serde::{Deserialize, Serialize};

use super::convert::{timestamp, to_ns};
use super::errors::s3;
use super::{versioning, CofferS3};
use crate::store::{DeleteCheck, ObjectMeta, Retention, StoreError, Versioning};

/// The bucket setting that holds the object-lock configuration (JSON); present once
/// object lock is enabled on the bucket.
pub const SETTING: &str = "object-lock.json";

const GOVERNANCE: &str = "GOVERNANCE";
const COMPLIANCE: &str = "COMPLIANCE";

/// A bucket's object-lock configuration as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Config {
    /// Default retention mode for new versions, with `days` or `years`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Default retention in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i32>,
    /// Default retention in years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<i32>,
}

impl Config {
    /// The retention a new version gets by default, written at `now_ns`.
    fn default_retention(&self, now_ns: i128) -> Option<Retention> {
        let mode = self.mode.clone()?;
        let day = 86_400 * 1_000_000_000i128;
        let span = match (self.days, self.years) {
            (Some(d), _) => i128::from(d) * day,
            (None, Some(y)) => i128::from(y) * 365 * day,
            (None, None) => return None,
        };
        Some(Retention {
            mode,
            until_ns: now_ns + span,
        })
    }
}

fn now_ns() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
}

fn invalid_period(msg: &str) -> s3s::S3Error {
    crate::sse::error("InvalidRetentionPeriod", 400, msg)
}

fn missing_configuration() -> s3s::S3Error {
    s3_error!(InvalidRequest, "Bucket is missing ObjectLockConfiguration")
}

impl CofferS3 {
    /// The bucket's object-lock configuration, if object lock is enabled.
    pub(crate) async fn lock_config(&self, bucket: &str) -> S3Result<Option<Config>> {
        super::json_setting(self.store.as_ref(), bucket, SETTING).await
    }

    /// Whether the bucket has object lock enabled.
    pub(crate) async fn object_lock_enabled(&self, bucket: &str) -> S3Result<bool> {
        Ok(self.lock_config(bucket).await?.is_some())
    }

    /// Turns object lock on for a bucket (versioning on, for good).
    pub(crate) async fn enable_object_lock(&self, bucket: &str, config: &Config) -> S3Result<()> {
        let text = serde_json::to_string(config).map_err(s3s::S3Error::internal_error)?;
        self.store
            .set_bucket_setting(bucket, versioning::SETTING, Some("Enabled"))
            .await
            .map_err(s3)?;
        self.store
            .set_bucket_setting(bucket, SETTING, Some(&text))
            .await
            .map_err(s3)
    }

    /// Whether `req` asks to bypass governance retention and its caller may.
    pub(crate) async fn bypasses_governance<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
    ) -> bool {
        let asked = req
            .headers
            .get("x-amz-bypass-governance-retention")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        asked
            && self
                .authorize_key(req, "s3:BypassGovernanceRetention", bucket, key)
                .await
                .is_ok()
    }
}

/// The object-lock fields a write asks for (`x-amz-object-lock-*`), checked against the
/// bucket, with the bucket's default retention when none is given.
pub(crate) async fn requested(
    s: &CofferS3,
    bucket: &str,
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    legal_hold: Option<&ObjectLockLegalHoldStatus>,
) -> S3Result<(Option<Retention>, bool)> {
    let config = s.lock_config(bucket).await?;
    let asked = mode.is_some() || until.is_some() || legal_hold.is_some();
    let Some(config) = config else {
        if asked {
            return Err(missing_configuration());
        }
        return Ok((None, false));
    };
    let hold = match legal_hold.map(|h| h.as_str()) {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(_) => return Err(s3_error!(InvalidArgument, "invalid legal hold status")),
    };
    let now = now_ns();
    let retention = match (mode, until) {
        (None, None) => config.default_retention(now),
        (Some(mode), Some(until)) => {
            let mode = retention_mode(mode.as_str())
                .ok_or_else(|| s3_error!(InvalidArgument, "Unknown wormMode directive."))?;
            let until_ns = to_ns(until);
            if until_ns <= now {
                return Err(s3_error!(
                    InvalidArgument,
                    "The retain until date must be in the future!"
                ));
            }
            Some(Retention {
                mode: mode.to_string(),
                until_ns,
            })
        }
        _ => {
            return Err(s3_error!(
            InvalidArgument,
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        ))
        }
    };
    Ok((retention, hold))
}

fn retention_mode(mode: &str) -> Option<&'static str> {
    match mode {
        GOVERNANCE => Some(GOVERNANCE),
        COMPLIANCE => Some(COMPLIANCE),
        _ => None,
    }
}

/// Whether a version may be deleted for good now.
pub(crate) fn deletable(v: &ObjectMeta, bypass: bool) -> Result<(), StoreError> {
    if v.legal_hold {
        return Err(StoreError::Locked);
    }
    match &v.retention {
        Some(r) if r.until_ns > now_ns() && (r.mode != GOVERNANCE || !bypass) => {
            Err(StoreError::Locked)
        }
        _ => Ok(()),
    }
}

/// A delete's object-lock check, joined with its other conditions.
pub(crate) fn delete_check(other: Option<DeleteCheck>, bypass: bool) -> DeleteCheck {
    Box::new(move |v: &ObjectMeta, permanent: bool| {
        if let Some(other) = &other {
            other(v, permanent)?;
        }
        if permanent {
            deletable(v, bypass)?;
        }
        Ok(())
    })
}

/// The object-lock headers of GET and HEAD: (mode, retain-until, legal hold).
pub(crate) fn headers_of(
    meta: &ObjectMeta,
) -> (
    Option<ObjectLockMode>,
    Option<Timestamp>,
    Option<ObjectLockLegalHoldStatus>,
) {
    let (mode, until) = match &meta.retention {
        Some(r) => (
            Some(ObjectLockMode::from(r.mode.clone())),
            Some(timestamp(r.until_ns)),
        ),
        None => (None, None),
    };
    let hold = meta
        .legal_hold
        .then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON));
    (mode, until, hold)
}

/// The version a retention or legal-hold request reads, in a bucket with object lock.
async fn version_in_locked_bucket(
    s: &CofferS3,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<ObjectMeta> {
    if !s.object_lock_enabled(bucket).await? {
        return Err(missing_configuration());
    }
    let version = versioning::requested(version_id)?;
    s.store.head_object(bucket, key, version).await.map_err(s3)
}

/// Changes the object-lock fields of a version, in a bucket with object lock.
async fn update_in_locked_bucket(
    s: &CofferS3,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    update: crate::store::MetaUpdate,
) -> S3Result<()> {
    let version = versioning::requested(version_id)?;
    s.store
        .update_meta(bucket, key, version, update)
        .await
        .map_err(s3)?;
    Ok(())
}

/// PutObjectLockConfiguration. On a bucket created without object lock it is allowed
/// once versioning is enabled (as AWS allows since 2023).
pub async fn put_config(
    s: &CofferS3,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let i = req.input;
    s.store.head_bucket(&i.bucket).await.map_err(s3)?;
    let malformed = || s3_error!(MalformedXML, "invalid object lock configuration");
    let conf = i.object_lock_configuration.ok_or_else(malformed)?;
    if conf.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some(ObjectLockEnabled::ENABLED) {
        return Err(malformed());
    }
    let mut config = Config::default();
    if let Some(rule) = conf.rule {
        let d = rule.default_retention.ok_or_else(malformed)?;
        let mode = d
            .mode
            .as_ref()
            .and_then(|m| retention_mode(m.as_str()))
            .ok_or_else(malformed)?;
        match (d.days, d.years) {
            (Some(_), Some(_)) | (None, None) => return Err(malformed()),
            (Some(n), None) | (None, Some(n)) if n <= 0 => {
                return Err(invalid_period(
                    "the default retention period must be a positive integer",
                ))
            }
            (Some(n), None) if n > 36_500 => return Err(invalid_period("at most 36500 days")),
            (None, Some(n)) if n > 100 => return Err(invalid_period("at most 100 years")),
            (days, years) => {
                config.days = days;
                config.years = years;
            }
        }
        config.mode = Some(mode.to_string());
    }
    if !s.object_lock_enabled(&i.bucket).await?
        && s.versioning(&i.bucket).await? != Versioning::Enabled
    {
        return Err(s3_error!(
            InvalidBucketState,
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
        ));
    }
    s.enable_object_lock(&i.bucket, &config).await?;
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

/// GetObjectLockConfiguration.
pub async fn get_config(
    s: &CofferS3,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let bucket = &req.input.bucket;
    s.store.head_bucket(bucket).await.map_err(s3)?;
    let config = s.lock_config(bucket).await?.ok_or_else(|| {
        s3_error!(
            ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket"
        )
    })?;
    let rule = config.mode.as_ref().map(|mode| ObjectLockRule {
        default_retention: Some(DefaultRetention {
            mode: Some(ObjectLockRetentionMode::from(mode.clone())),
            days: config.days,
            years: config.years,
        }),
    });
    Ok(S3Response::new(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule,
        }),
    }))
}

/// PutObjectRetention.
pub async fn put_retention(
    s: &CofferS3,
    req: S3Request<PutObjectRetentionInput>,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let bypass = s
        .bypasses_governance(&req, &req.input.bucket, &req.input.key)
        .await;
    let i = req.input;
    if !s.object_lock_enabled(&i.bucket).await? {
        return Err(missing_configuration());
    }
    let malformed = || s3_error!(MalformedXML, "invalid retention");
    let r = i.retention.ok_or_else(malformed)?;
    let new = match (r.mode, r.retain_until_date) {
        (Some(mode), Some(until)) => Some(Retention {
            mode: retention_mode(mode.as_str())
                .ok_or_else(malformed)?
                .to_string(),
            until_ns: to_ns(&until),
        }),
        (None, None) => None,
        _ => return Err(malformed()),
    };
    if new.as_ref().is_some_and(|n| n.until_ns <= now_ns()) {
        return Err(s3_error!(
            InvalidArgument,
            "The retain until date must be in the future!"
        ));
    }
    update_in_locked_bucket(
        s,
        &i.bucket,
        &i.key,
        i.version_id.as_deref(),
        Box::new(move |m: &mut ObjectMeta| {
            if let Some(old) = m.retention.as_ref().filter(|o| o.until_ns > now_ns()) {
                let weaker = new
                    .as_ref()
                    .is_none_or(|n| n.until_ns < old.until_ns || n.mode != old.mode);
                let allowed = match old.mode.as_str() {
                    COMPLIANCE => !weaker,
                    _ => !weaker || bypass,
                };
                if !allowed {
                    return Err(StoreError::Locked);
                }
            }
            m.retention = new;
            Ok(())
        }),
    )
    .await?;
    Ok(S3Response::new(PutObjectRetentionOutput::default()))
}

/// GetObjectRetention.
pub async fn get_retention(
    s: &CofferS3,
    req: S3Request<GetObjectRetentionInput>,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let i = req.input;
    let meta = version_in_locked_bucket(s, &i.bucket, &i.key, i.version_id.as_deref()).await?;
    let r = meta.retention.ok_or_else(|| {
        s3_error!(
            NoSuchObjectLockConfiguration,
            "The specified object does not have a ObjectLock configuration"
        )
    })?;
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from(r.mode)),
            retain_until_date: Some(timestamp(r.until_ns)),
        }),
    }))
}

/// PutObjectLegalHold.
pub async fn put_legal_hold(
    s: &CofferS3,
    req: S3Request<PutObjectLegalHoldInput>,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let i = req.input;
    if !s.object_lock_enabled(&i.bucket).await? {
        return Err(missing_configuration());
    }
    let hold = match i
        .legal_hold
        .and_then(|h| h.status)
        .as_ref()
        .map(|s| s.as_str())
    {
        Some("ON") => true,
        Some("OFF") => false,
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "legal hold status must be ON or OFF"
            ))
        }
    };
    update_in_locked_bucket(
        s,
        &i.bucket,
        &i.key,
        i.version_id.as_deref(),
        Box::new(move |m: &mut ObjectMeta| {
            m.legal_hold = hold;
            Ok(())
        }),
    )
    .await?;
    Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
}

/// GetObjectLegalHold.
pub async fn get_legal_hold(
    s: &CofferS3,
    req: S3Request<GetObjectLegalHoldInput>,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let i = req.input;
    let meta = version_in_locked_bucket(s, &i.bucket, &i.key, i.version_id.as_deref()).await?;
    let status = if meta.legal_hold {
        ObjectLockLegalHoldStatus::ON
    } else {
        ObjectLockLegalHoldStatus::OFF
    };
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold {
            status: Some(ObjectLockLegalHoldStatus::from_static(status)),
        }),
    }))
}
