//! Multipart uploads.

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::body::Expect;
use super::convert::{self, etag, timestamp};
use super::copy_source::{self, copy_conditions};
use super::errors::s3;
use super::objects::{body_stream, requested_meta};
use super::{checksum, write, CofferS3};
use crate::sse::{headers as sse_headers, Requested, ResponseHeaders};
use crate::sse_response_headers;

/// Largest part number S3 allows.
const MAX_PART: i32 = 10_000;

/// CreateMultipartUpload.
pub async fn create(
    s: &CofferS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let asked = sse_headers::requested(&req.headers, false)?;
    super::acl::check_acl!(
        in s,
        req.input,
        grant_full_control,
        grant_read,
        grant_read_acp,
        grant_write_acp
    )?;
    let i = req.input;
    let algorithm = i
        .checksum_algorithm
        .as_ref()
        .map(|a| a.as_str().to_ascii_uppercase());
    let checksum_type = match (&algorithm, &i.checksum_type) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(s3_error!(
                InvalidRequest,
                "x-amz-checksum-type needs x-amz-checksum-algorithm"
            ))
        }
        (Some(a), t) => {
            let t = t.as_ref().map_or(checksum::default_type(a), |t| t.as_str());
            checksum::check_type(a, t)?;
            Some(t.to_string())
        }
    };
    let mut meta = requested_meta(
        i.content_type.map(|c| c.to_string()),
        i.content_encoding,
        i.content_disposition,
        i.content_language,
        i.cache_control,
        i.expires.as_ref(),
        i.website_redirect_location,
        i.metadata,
        i.tagging.as_deref(),
    )?;
    (meta.retention, meta.legal_hold) = super::lock::requested(
        s,
        &i.bucket,
        i.object_lock_mode.as_ref(),
        i.object_lock_retain_until_date.as_ref(),
        i.object_lock_legal_hold_status.as_ref(),
    )
    .await?;
    // The algorithm every part is hashed with, and the type of the object's checksum.
    meta.checksum = algorithm.clone().map(|a| (a, String::new()));
    meta.checksum_type.clone_from(&checksum_type);
    let asked = s.sse.resolve(asked, s.bucket_encryption(&i.bucket).await?);
    let sealing = s.sse.seal(&i.bucket, &i.key, &asked, true).await?;
    meta.encryption = sealing.as_ref().map(|s| s.record().clone());
    let id = s
        .store
        .create_multipart(&i.bucket, &i.key, meta)
        .await
        .map_err(s3)?;
    if let Some(sealing) = &sealing {
        s.sse.remember_upload(&id, sealing.object_key());
    }
    let customer = match &asked {
        Requested::C(c) => Some(c),
        _ => None,
    };
    let mut out = CreateMultipartUploadOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(id),
        checksum_algorithm: algorithm.map(ChecksumAlgorithm::from),
        checksum_type: checksum_type.map(ChecksumType::from),
        ..Default::default()
    };
    let h = ResponseHeaders::of(sealing.as_ref().map(|s| s.record()), customer);
    out.ssekms_encryption_context = h.context.clone();
    sse_response_headers!(out, h);
    Ok(S3Response::new(out))
}

fn check_part_number(n: i32) -> S3Result<()> {
    if (1..=MAX_PART).contains(&n) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

/// The upload a part goes to (its initial record) and how the part is encrypted; checks
/// the part number and the part's SSE-C headers against the upload.
async fn part_target(
    s: &CofferS3,
    bucket: &str,
    key: &str,
    upload: &str,
    number: i32,
    customer: Option<&crate::sse::CustomerKey>,
) -> S3Result<(crate::store::ObjectMeta, Option<crate::sse::Sealing>)> {
    check_part_number(number)?;
    let meta = s.store.upload_meta(bucket, key, upload).await.map_err(s3)?;
    let sealing = s
        .sse
        .seal_part(bucket, key, upload, &meta, customer, number)
        .await?;
    Ok((meta, sealing))
}

/// UploadPart.
pub async fn upload_part(
    s: &CofferS3,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let customer = sse_headers::customer_key(&req.headers, false)?;
    let i = req.input;
    let (upload, sealing) = part_target(
        s,
        &i.bucket,
        &i.key,
        &i.upload_id,
        i.part_number,
        customer.as_ref(),
    )
    .await?;
    let sent = checksum::requested(
        checksum::sent!(i),
        i.checksum_algorithm.as_ref(),
        &req.headers,
    )?;
    let expect = Expect {
        content_md5: convert::content_md5(i.content_md5.as_deref())?,
        content_length: i.content_length.and_then(|n| u64::try_from(n).ok()),
        checksum: part_checksum(&upload, sent)?,
        ..Default::default()
    };
    let (part, part_checksum) = write::part(
        s,
        &i.bucket,
        &i.key,
        &i.upload_id,
        i.part_number,
        write::Incoming {
            plaintext: body_stream(i.body),
            expect,
            sealing,
        },
    )
    .await?;
    let mut out = UploadPartOutput {
        e_tag: Some(etag(&part.etag)),
        ..Default::default()
    };
    super::objects::set_checksum!(out, part_checksum);
    let h = ResponseHeaders::of(upload.encryption.as_ref(), customer.as_ref());
    sse_response_headers!(out, h);
    Ok(S3Response::new(out))
}

/// UploadPartCopy (with optional source range).
pub async fn upload_part_copy(
    s: &CofferS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    // Before the copy source is resolved (which may cost a KMS call).
    check_part_number(req.input.part_number)?;
    let customer = sse_headers::customer_key(&req.headers, false)?;
    let i = &req.input;
    let src = copy_source::resolve(s, &req, &i.copy_source, copy_conditions!(i)).await?;
    let i = req.input;
    let span = match &i.copy_source_range {
        None => None,
        Some(r) => Some(copy_source_range(r, src.meta.size)?),
    };
    let (upload, sealing) = part_target(
        s,
        &i.bucket,
        &i.key,
        &i.upload_id,
        i.part_number,
        customer.as_ref(),
    )
    .await?;
    let length = span
        .as_ref()
        .map(|r| r.end - r.start)
        .unwrap_or(src.meta.size);
    let body = src.open(s, span).await?;
    let expect = Expect {
        content_length: Some(length),
        checksum: part_checksum(&upload, None)?,
        ..Default::default()
    };
    let (part, part_checksum) = write::part(
        s,
        &i.bucket,
        &i.key,
        &i.upload_id,
        i.part_number,
        write::Incoming {
            plaintext: body,
            expect,
            sealing,
        },
    )
    .await?;
    let mut out = UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag(&part.etag)),
            last_modified: Some(timestamp(part.modified_ns)),
            ..Default::default()
        }),
        ..Default::default()
    };
    if let Some(r) = out.copy_part_result.as_mut() {
        super::objects::set_checksum!(r, part_checksum);
    }
    sse_response_headers!(
        out,
        ResponseHeaders::of(upload.encryption.as_ref(), customer.as_ref())
    );
    Ok(S3Response::new(out))
}

/// Parses `x-amz-copy-source-range: bytes=a-b` against the source's size.
fn copy_source_range(r: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let bad = || s3_error!(InvalidArgument, "invalid x-amz-copy-source-range");
    let r = r.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = r.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.parse().map_err(|_| bad())?;
    let b: u64 = b.parse().map_err(|_| bad())?;
    if a > b || b >= size {
        return Err(s3_error!(InvalidRange));
    }
    Ok(a..b + 1)
}

/// CompleteMultipartUpload.
pub async fn complete(
    s: &CofferS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let i = req.input;
    let completed = i
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.clone())
        .unwrap_or_default();
    let parts: Vec<(i32, String)> = completed
        .iter()
        .map(|p| {
            (
                p.part_number.unwrap_or(0),
                p.e_tag
                    .as_ref()
                    .map(|e| e.value().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    if parts.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "You must specify at least one part"
        ));
    }

    let check = super::objects::put_preconditions(
        s,
        &i.bucket,
        &i.key,
        i.if_match.clone(),
        i.if_none_match.clone(),
    )
    .await?;
    let object_checksum = completed_checksum(s, &i, &completed).await?;
    let versioning = s.versioning(&i.bucket).await?;
    let rules = crate::store::WriteRules { versioning, check };
    let stored = match s
        .store
        .complete_multipart(
            &i.bucket,
            &i.key,
            &i.upload_id,
            &parts,
            object_checksum,
            rules,
        )
        .await
    {
        Ok(stored) => stored,
        // A repeated Complete of an upload that already made the current object (a
        // retry after a lost response) gets the same answer again, as in S3.
        Err(crate::store::StoreError::NoSuchUpload) => {
            match s.store.head_object(&i.bucket, &i.key, None).await {
                Ok(m)
                    if m.upload_id.as_deref() == Some(i.upload_id.as_str())
                        && same_parts(&m.parts, &parts) =>
                {
                    m
                }
                _ => return Err(s3_error!(NoSuchUpload)),
            }
        }
        Err(e) => return Err(s3(e)),
    };
    s.sse.forget_upload(&i.upload_id);
    let mut out = CompleteMultipartUploadOutput {
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        e_tag: Some(etag(&stored.etag)),
        location: Some(format!("/{}/{}", i.bucket, i.key)),
        version_id: stored.version_id.clone(),
        checksum_type: stored
            .checksum
            .as_ref()
            .map(|_| ChecksumType::from(checksum_type_of(&stored).to_string())),
        ..Default::default()
    };
    if stored.encryption.is_none() {
        super::objects::set_checksum!(out, stored.checksum);
    }
    let h = ResponseHeaders::of(stored.encryption.as_ref(), None);
    out.server_side_encryption = h
        .algorithm
        .map(|a| ServerSideEncryption::from(a.to_string()));
    out.ssekms_key_id = h.kms_key_id;
    Ok(S3Response::new(out))
}

/// The checksum a part is hashed with: the one the request sends, which must be of the
/// upload's algorithm when the upload has one; else the upload's, computed.
fn part_checksum(
    upload: &crate::store::ObjectMeta,
    sent: Option<(String, Option<String>)>,
) -> S3Result<Option<(String, Option<String>)>> {
    let wanted = upload.checksum.as_ref().map(|(a, _)| a.clone());
    match (sent, wanted) {
        (Some((a, _)), Some(w)) if a != w => Err(s3_error!(
            InvalidRequest,
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            w.to_ascii_lowercase(),
            a.to_ascii_lowercase()
        )),
        (Some(sent), _) => Ok(Some(sent)),
        (None, Some(w)) => Ok(Some((w, None))),
        (None, None) => Ok(None),
    }
}

/// A part's checksum of `algorithm`, when it has one that can be shown.
fn part_value(p: &crate::store::PartInfo, algorithm: &str, plain: bool) -> Option<String> {
    match &p.checksum {
        Some((a, v)) if plain && a == algorithm => Some(v.clone()),
        _ => None,
    }
}

/// The checksum type of a stored object's checksum.
pub(crate) fn checksum_type_of(meta: &crate::store::ObjectMeta) -> &str {
    meta.checksum_type
        .as_deref()
        .unwrap_or(checksum::FULL_OBJECT)
}

/// The checksum of the object a completion makes, from its parts' stored checksums
/// (plaintext uploads with a checksum algorithm); checks the part checksums and the
/// object checksum the request carries.
async fn completed_checksum(
    s: &CofferS3,
    i: &CompleteMultipartUploadInput,
    completed: &[CompletedPart],
) -> S3Result<Option<(String, String)>> {
    let (upload, stored) = match s.store.list_parts(&i.bucket, &i.key, &i.upload_id).await {
        Ok(found) => found,
        // A repeated completion: answered from the object below.
        Err(crate::store::StoreError::NoSuchUpload) => return Ok(None),
        Err(e) => return Err(s3(e)),
    };
    let Some((algorithm, _)) = upload.checksum.clone() else {
        return Ok(None);
    };
    if upload.encryption.is_some() {
        // The parts' checksums are sealed under part keys the completion cannot open
        // (an SSE-C key is not sent with it): the object keeps none.
        return Ok(None);
    }
    let kind = checksum_type_of(&upload).to_string();
    let mut values = Vec::with_capacity(completed.len());
    for c in completed {
        let number = c.part_number.unwrap_or(0);
        let Some(part) = stored.iter().find(|p| p.number == number) else {
            // The store reports the missing part.
            return Ok(None);
        };
        let Some((a, v)) = &part.checksum else {
            return Err(s3_error!(
                InvalidPart,
                "part {number} was uploaded without a {algorithm} checksum"
            ));
        };
        let given = checksum::sent!(c)
            .iter()
            .find_map(|(name, v)| v.as_ref().map(|v| (name.to_string(), v.clone())));
        if let Some((name, value)) = given {
            if name != *a || value != *v {
                return Err(s3_error!(
                    InvalidPart,
                    "part {number}: the checksum does not match the uploaded part"
                ));
            }
        }
        values.push((v.clone(), part.size));
    }
    let refs: Vec<(&str, u64)> = values.iter().map(|(v, n)| (v.as_str(), *n)).collect();
    let value = checksum::of_parts(&algorithm, &kind, &refs)?;
    if let Some(t) = &i.checksum_type {
        if t.as_str() != kind {
            return Err(s3_error!(
                InvalidRequest,
                "the upload's checksum type is {kind}, not {}",
                t.as_str()
            ));
        }
    }
    let asked = checksum::sent!(i)
        .iter()
        .find_map(|(name, v)| v.as_ref().map(|v| (name.to_string(), v.clone())));
    if let Some((name, v)) = asked {
        if name != algorithm || v != value {
            return Err(s3_error!(
                BadDigest,
                "The {name} you specified for the object did not match what was computed."
            ));
        }
    }
    Ok(Some((algorithm, value)))
}

fn same_parts(stored: &[crate::store::PartInfo], asked: &[(i32, String)]) -> bool {
    stored.len() == asked.len()
        && stored
            .iter()
            .zip(asked)
            .all(|(p, (n, e))| p.number == *n && p.etag == e.trim_matches('"'))
}

/// AbortMultipartUpload.
pub async fn abort(
    s: &CofferS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let i = req.input;
    s.store
        .abort_multipart(&i.bucket, &i.key, &i.upload_id)
        .await
        .map_err(s3)?;
    s.sse.forget_upload(&i.upload_id);
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

/// ListParts.
pub async fn list_parts(
    s: &CofferS3,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let i = req.input;
    let (upload, parts) = s
        .store
        .list_parts(&i.bucket, &i.key, &i.upload_id)
        .await
        .map_err(s3)?;
    // Checksums of encrypted parts are stored sealed.
    let plain = upload.encryption.is_none();
    let marker = i.part_number_marker.unwrap_or(0);
    let max = i.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
    let after: Vec<_> = parts.into_iter().filter(|p| p.number > marker).collect();
    let truncated = after.len() > max;
    let page: Vec<_> = after.into_iter().take(max).collect();
    let next = page.last().map(|p| p.number);
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(i.upload_id),
        part_number_marker: Some(marker),
        next_part_number_marker: next,
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        owner: Some(super::list::owner()),
        initiator: Some(Initiator {
            display_name: Some("coffer".into()),
            id: super::list::owner().id,
        }),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        parts: Some(
            page.iter()
                .map(|p| Part {
                    part_number: Some(p.number),
                    size: i64::try_from(p.size).ok(),
                    e_tag: Some(etag(&p.etag)),
                    last_modified: Some(timestamp(p.modified_ns)),
                    checksum_crc32: part_value(p, "CRC32", plain),
                    checksum_crc32c: part_value(p, "CRC32C", plain),
                    checksum_crc64nvme: part_value(p, "CRC64NVME", plain),
                    checksum_sha1: part_value(p, "SHA1", plain),
                    checksum_sha256: part_value(p, "SHA256", plain),
                })
                .collect(),
        ),
        ..Default::default()
    }))
}

/// ListMultipartUploads.
pub async fn list_uploads(
    s: &CofferS3,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let i = req.input;
    let prefix = i.prefix.clone().unwrap_or_default();
    let key_marker = i.key_marker.clone().unwrap_or_default();
    let max = i.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
    let all = s.store.list_uploads(&i.bucket).await.map_err(s3)?;
    let matching: Vec<_> = all
        .into_iter()
        .filter(|(k, _, _)| {
            k.starts_with(&prefix) && (key_marker.is_empty() || k.as_str() > key_marker.as_str())
        })
        .collect();
    let truncated = matching.len() > max;
    let page: Vec<_> = matching.into_iter().take(max).collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(i.bucket),
        prefix: Some(prefix),
        key_marker: Some(key_marker),
        max_uploads: Some(max as i32),
        is_truncated: Some(truncated),
        next_key_marker: truncated
            .then(|| page.last().map(|(k, _, _)| k.clone()))
            .flatten(),
        next_upload_id_marker: truncated
            .then(|| page.last().map(|(_, u, _)| u.clone()))
            .flatten(),
        uploads: Some(
            page.into_iter()
                .map(|(key, id, ns)| MultipartUpload {
                    key: Some(key),
                    upload_id: Some(id),
                    initiated: Some(timestamp(ns)),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    owner: Some(super::list::owner()),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    }))
}
