//! Put/Get/DeleteBucketLifecycleConfiguration and the `x-amz-expiration` header; the
//! rules themselves and the scanner that applies them are in [`crate::lifecycle`].

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::convert::{self, to_ns};
use super::errors::s3;
use super::CofferS3;
use crate::lifecycle::{self, Clock, Rule};
use crate::store::ObjectMeta;

const MAX_RULES: usize = 1000;
const MAX_ID: usize = 255;

fn invalid(msg: &str) -> s3s::S3Error {
    s3_error!(InvalidArgument, "{msg}")
}

fn positive(days: Option<i32>, what: &str) -> S3Result<Option<i32>> {
    match days {
        Some(d) if d <= 0 => Err(invalid(&format!("{what} must be a positive integer"))),
        other => Ok(other),
    }
}

/// Checks one rule of a request and turns it into its stored form.
fn rule_in(r: LifecycleRule) -> S3Result<Rule> {
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "Status must be Enabled or Disabled"
            ))
        }
    };
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions
            .as_ref()
            .is_some_and(|t| !t.is_empty())
    {
        return Err(s3_error!(
            InvalidStorageClass,
            "transitions are not supported: this server has one storage class"
        ));
    }
    let id = match r.id {
        Some(id) if id.len() > MAX_ID => {
            return Err(invalid("ID length should not exceed allowed limit of 255"))
        }
        Some(id) if !id.is_empty() => id,
        _ => crate::store::versions::new_version_id(),
    };
    let mut rule = Rule {
        id,
        enabled,
        ..Default::default()
    };
    match (r.filter, r.prefix) {
        (Some(_), Some(_)) => {
            return Err(s3_error!(
                MalformedXML,
                "a rule has either a Filter or a Prefix"
            ))
        }
        (None, prefix) => {
            rule.prefix = prefix.unwrap_or_default();
            rule.legacy_prefix = true;
        }
        (Some(f), None) => {
            let conditions = [
                f.prefix.is_some(),
                f.tag.is_some(),
                f.object_size_greater_than.is_some(),
                f.object_size_less_than.is_some(),
                f.and.is_some(),
            ]
            .iter()
            .filter(|x| **x)
            .count();
            // AWS wants several conditions inside an And; RGW (and the public suite)
            // also takes them side by side, or beside an And, meaning all of them.
            rule.prefix = f.prefix.unwrap_or_default();
            rule.size_greater_than = f.object_size_greater_than;
            rule.size_less_than = f.object_size_less_than;
            if let Some(t) = f.tag {
                rule.tags = convert::tags_in(Tagging { tag_set: vec![t] }, 50)?;
            }
            if let Some(and) = f.and {
                let prefix = and.prefix.unwrap_or_default();
                if prefix.starts_with(&rule.prefix) {
                    rule.prefix = prefix;
                } else if !rule.prefix.starts_with(&prefix) {
                    return Err(s3_error!(
                        MalformedXML,
                        "the Filter's prefixes exclude each other"
                    ));
                }
                rule.size_greater_than = and.object_size_greater_than.or(rule.size_greater_than);
                rule.size_less_than = and.object_size_less_than.or(rule.size_less_than);
                if let Some(tags) = and.tags {
                    let mut all = rule.tags.clone();
                    all.extend(convert::tags_in(Tagging { tag_set: tags }, 50)?);
                    all.sort();
                    all.dedup();
                    rule.tags = all;
                }
            }
            rule.and = conditions > 1 || rule.tags.len() > 1;
        }
    }
    if let Some(e) = r.expiration {
        rule.expiration_days = positive(e.days, "Days")?;
        rule.expiration_date_ns = e.date.as_ref().map(to_ns);
        if rule
            .expiration_date_ns
            .is_some_and(|ns| ns.rem_euclid(86_400_000_000_000) != 0)
        {
            return Err(invalid("Date must be at midnight GMT"));
        }
        rule.expired_delete_marker = e.expired_object_delete_marker.unwrap_or(false);
        let given = [
            rule.expiration_days.is_some(),
            rule.expiration_date_ns.is_some(),
            e.expired_object_delete_marker.is_some(),
        ];
        if given.iter().filter(|x| **x).count() != 1 {
            return Err(s3_error!(
                MalformedXML,
                "Expiration takes one of Days, Date and ExpiredObjectDeleteMarker"
            ));
        }
        if rule.expired_delete_marker && !rule.tags.is_empty() {
            return Err(invalid(
                "ExpiredObjectDeleteMarker cannot be combined with a tag filter",
            ));
        }
    }
    if let Some(n) = r.noncurrent_version_expiration {
        rule.noncurrent_days = Some(
            positive(n.noncurrent_days, "NoncurrentDays")?
                .ok_or_else(|| invalid("NoncurrentDays is required"))?,
        );
        rule.newer_noncurrent = match n.newer_noncurrent_versions {
            Some(v) if v <= 0 => return Err(invalid("NewerNoncurrentVersions must be positive")),
            other => other,
        };
    }
    if let Some(a) = r.abort_incomplete_multipart_upload {
        rule.abort_upload_days = Some(
            positive(a.days_after_initiation, "DaysAfterInitiation")?
                .ok_or_else(|| invalid("DaysAfterInitiation is required"))?,
        );
        if !rule.tags.is_empty() {
            return Err(invalid(
                "AbortIncompleteMultipartUpload cannot be combined with a tag filter",
            ));
        }
    }
    let acts = rule.expiration_days.is_some()
        || rule.expiration_date_ns.is_some()
        || rule.expired_delete_marker
        || rule.noncurrent_days.is_some()
        || rule.abort_upload_days.is_some();
    if !acts {
        return Err(invalid("a rule needs at least one action"));
    }
    Ok(rule)
}

/// A stored rule as the API shows it.
fn rule_out(r: &Rule) -> LifecycleRule {
    let tag = |(k, v): &(String, String)| Tag {
        key: Some(k.clone()),
        value: Some(v.clone()),
    };
    let filter = (!r.legacy_prefix).then(|| {
        if r.and {
            LifecycleRuleFilter {
                and: Some(LifecycleRuleAndOperator {
                    prefix: Some(r.prefix.clone()),
                    tags: (!r.tags.is_empty()).then(|| r.tags.iter().map(tag).collect()),
                    object_size_greater_than: r.size_greater_than,
                    object_size_less_than: r.size_less_than,
                }),
                ..Default::default()
            }
        } else {
            LifecycleRuleFilter {
                prefix: (!r.prefix.is_empty()).then(|| r.prefix.clone()),
                tag: r.tags.first().map(tag),
                object_size_greater_than: r.size_greater_than,
                object_size_less_than: r.size_less_than,
                ..Default::default()
            }
        }
    });
    let expiration =
        (r.expiration_days.is_some() || r.expiration_date_ns.is_some() || r.expired_delete_marker)
            .then(|| LifecycleExpiration {
                days: r.expiration_days,
                date: r.expiration_date_ns.map(convert::timestamp),
                expired_object_delete_marker: r.expired_delete_marker.then_some(true),
            });
    LifecycleRule {
        id: Some(r.id.clone()),
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        prefix: r.legacy_prefix.then(|| r.prefix.clone()),
        filter,
        expiration,
        noncurrent_version_expiration: r.noncurrent_days.map(|d| NoncurrentVersionExpiration {
            noncurrent_days: Some(d),
            newer_noncurrent_versions: r.newer_noncurrent,
        }),
        abort_incomplete_multipart_upload: r.abort_upload_days.map(|d| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: Some(d),
            }
        }),
        noncurrent_version_transitions: None,
        transitions: None,
    }
}

/// PutBucketLifecycleConfiguration (also the older PutBucketLifecycle, same request).
pub async fn put(
    s: &CofferS3,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let i = req.input;
    s.store.head_bucket(&i.bucket).await.map_err(s3)?;
    let conf = i
        .lifecycle_configuration
        .ok_or_else(|| s3_error!(MalformedXML, "missing LifecycleConfiguration"))?;
    if conf.rules.is_empty() || conf.rules.len() > MAX_RULES {
        return Err(s3_error!(
            MalformedXML,
            "a lifecycle configuration has 1 to 1000 rules"
        ));
    }
    let rules = conf
        .rules
        .into_iter()
        .map(rule_in)
        .collect::<S3Result<Vec<Rule>>>()?;
    let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(invalid(
            "Rule ID must be unique. Found same ID for more than one rule",
        ));
    }
    let text = serde_json::to_string(&rules).map_err(s3s::S3Error::internal_error)?;
    s.store
        .set_bucket_setting(&i.bucket, lifecycle::SETTING, Some(&text))
        .await
        .map_err(s3)?;
    Ok(S3Response::new(
        PutBucketLifecycleConfigurationOutput::default(),
    ))
}

/// GetBucketLifecycleConfiguration.
pub async fn get(
    s: &CofferS3,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let bucket = &req.input.bucket;
    s.store.head_bucket(bucket).await.map_err(s3)?;
    let rules = lifecycle::rules_of(s.store.as_ref(), bucket)
        .await
        .map_err(s3)?;
    if rules.is_empty() {
        return Err(s3_error!(
            NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist"
        ));
    }
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(rules.iter().map(rule_out).collect()),
        ..Default::default()
    }))
}

/// DeleteBucketLifecycle.
pub async fn delete(
    s: &CofferS3,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    let bucket = &req.input.bucket;
    s.store.head_bucket(bucket).await.map_err(s3)?;
    s.store
        .set_bucket_setting(bucket, lifecycle::SETTING, None)
        .await
        .map_err(s3)?;
    Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
}

/// The `x-amz-expiration` header for the current version `meta` of a bucket's object,
/// if a rule expires it: `expiry-date="<HTTP date>", rule-id="<id>"`. The date follows
/// S3's rule (days after the write, rounded up to midnight UTC), whatever day length the
/// scanner uses for tests.
pub async fn expiration_header(s: &CofferS3, bucket: &str, meta: &ObjectMeta) -> Option<String> {
    let rules = lifecycle::rules_of(s.store.as_ref(), bucket).await.ok()?;
    let (at, id) = lifecycle::expiry(&rules, meta, &Clock::new(lifecycle::DAY))?;
    let mut date = Vec::new();
    convert::timestamp(at)
        .format(TimestampFormat::HttpDate, &mut date)
        .ok()?;
    let date = String::from_utf8(date).ok()?;
    Some(format!("expiry-date=\"{date}\", rule-id=\"{id}\""))
}
