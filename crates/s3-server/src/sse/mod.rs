//! Server-side encryption, all in one place (spec/sse.md §2–§6): which encryption a
//! request asks for ([`headers`]), the object-key hierarchy ([`keys`]), DARE streams and
//! range mapping ([`stream`]), bucket defaults and auto-encryption ([`Sse::resolve`]).
//!
//! Every operation calls it through a few entry points:
//! - writing: [`Sse::seal`] (PutObject, CopyObject, CreateMultipartUpload) and
//!   [`Sse::seal_part`] (UploadPart, UploadPartCopy) give a [`Sealing`] that encrypts the
//!   body and makes the ETag;
//! - reading: [`check_read`] (which SSE-C headers an object needs), [`Sse::open`]
//!   (unseals the object key: one KMS call for SSE-S3/SSE-KMS, none for SSE-C) and
//!   [`Opened::reader`] (the stored range and the decrypting stream for a plaintext range);
//! - responses: [`response_headers!`](crate::sse_response_headers).
//!
//! KMS calls: one `generate` per object written, one `decrypt` per object read; parts of
//! a multipart upload reuse the object key unsealed at initiate (kept in memory, zeroized,
//! for the upload's lifetime), so parts cost no KMS call. The sealed ETag of an SSE-S3
//! object is opened once per object version for HEAD, listings and conditional requests
//! ([`Sse::visible_etag`]) and remembered.

pub mod bucket;
pub mod headers;
pub mod keys;
pub mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Result};

pub use headers::{CustomerKey, Requested};
use keys::Secret;

use crate::store::{ByteStream, Encryption, ObjectMeta, Span, SseKind, StoreError, StoreResult};

/// How long an unsealed upload key is kept for the parts of its upload.
const UPLOAD_KEY_TTL: Duration = Duration::from_secs(24 * 3600);
/// At most this many upload keys are kept; the oldest go first.
const UPLOAD_KEYS_MAX: usize = 10_000;
/// At most this many opened SSE-S3 ETags are remembered (then the memory starts over).
const ETAGS_MAX: usize = 100_000;

/// The server's encryption settings and KMS.
pub struct Sse {
    kms: Option<Arc<dyn kms::Kms>>,
    /// `MINIO_KMS_AUTO_ENCRYPTION`: SSE-S3 for requests that ask for no encryption.
    auto: bool,
    /// SSE-C keys are accepted over plain HTTP (test rigs only).
    insecure_customer_keys: bool,
    /// Object keys of multipart uploads in progress, by upload ID.
    upload_keys: Mutex<HashMap<String, (Secret, Instant)>>,
    /// SSE-S3 ETags already opened: sealed form (unique per object version) → MD5 hex,
    /// so listings and conditional requests need no KMS call for objects seen before.
    etags: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Sse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sse")
            .field("kms", &self.kms.as_ref().map(|k| k.kind()))
            .field("auto", &self.auto)
            .finish_non_exhaustive()
    }
}

/// 501 when SSE-S3/SSE-KMS is asked for without a KMS.
fn kms_not_configured() -> S3Error {
    s3_error!(
        NotImplemented,
        "Server side encryption specified but KMS is not configured"
    )
}

/// An error of the given code and HTTP status.
pub(crate) fn error(code: &str, status: u16, msg: impl Into<String>) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.to_string().into()), msg.into());
    if let Ok(s) = hyper::StatusCode::from_u16(status) {
        e.set_status_code(s);
    }
    e
}

/// A KMS failure as MinIO reports it (`kms:KeyNotFound` 404, …); details are logged.
pub(crate) fn kms_error(e: kms::Error) -> S3Error {
    use kms::ErrorKind as K;
    let (code, status, msg) = match e.kind() {
        K::KeyNotFound => (
            "kms:KeyNotFound",
            404,
            "key with given key ID does not exist",
        ),
        K::KeyExists => (
            "kms:KeyAlreadyExists",
            409,
            "key with given key ID already exists",
        ),
        K::InvalidCiphertext => (
            "kms:InvalidCiphertextException",
            400,
            "failed to decrypt ciphertext",
        ),
        K::NotAuthorized => (
            "kms:NotAuthorized",
            403,
            "not authorized to access the KMS key",
        ),
        K::InvalidContext => (
            "InvalidArgument",
            400,
            "the encryption context is not valid",
        ),
        K::NotSupported => (
            "kms:NotSupported",
            501,
            "requested functionality is not supported",
        ),
        _ => {
            tracing::error!(error = %e, "KMS request failed");
            let mut err = S3Error::with_source(S3ErrorCode::InternalError, Box::new(e));
            err.set_message("The KMS is not available; try again later.");
            return err;
        }
    };
    error(code, status, msg)
}

/// The object's key could not be unsealed with what the request supplied.
fn secret_key_mismatch() -> S3Error {
    s3_error!(AccessDenied, "Access Denied.")
}

/// An encryption record that cannot be used (bad lengths, unknown algorithm).
fn bad_record(what: &str) -> S3Error {
    error("XMinioEncryptionError", 400, what.to_string())
}

/// The object key, unsealed, and what it was sealed as.
pub struct Opened {
    oek: Secret,
    record: Encryption,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// A stored object whose sizes do not add up.
fn tampered(e: dare::Error) -> S3Error {
    error(
        "XMinioObjectTampered",
        500,
        format!("The requested object was modified and may be compromised ({e})"),
    )
}

/// The stored span [`Opened::reader`] will ask for the plaintext `span` of `meta`, known
/// before the object key is: the data can be fetched while the KMS unseals the key.
pub fn stored_span(meta: &ObjectMeta, span: &Span) -> S3Result<Span> {
    stream::stored_span(&meta.part_sizes(), span).map_err(tampered)
}

impl Opened {
    /// The stored span to read for the plaintext `span` of `meta`, and the stream
    /// adapter that turns those stored bytes into that plaintext.
    pub fn reader(
        &self,
        bucket: &str,
        meta: &ObjectMeta,
        span: &Span,
    ) -> S3Result<(Span, impl FnOnce(ByteStream) -> ByteStream)> {
        let sizes = meta.part_sizes();
        let keys: Vec<Secret> = if self.record.multipart && !meta.parts.is_empty() {
            meta.parts
                .iter()
                .map(|p| keys::part_key(&self.oek, p.number as u32))
                .collect()
        } else {
            vec![self.oek.clone()]
        };
        let plan = stream::ReadPlan::new(&sizes, keys, span).map_err(tampered)?;
        let stored = plan.stored.clone();
        let (bucket, key) = (bucket.to_string(), meta.key.clone());
        Ok((stored, move |body| {
            stream::decrypt(body, plan, &bucket, &key)
        }))
    }

    /// The record.
    pub fn record(&self) -> &Encryption {
        &self.record
    }

    /// The additional checksum of the object in clear (it is stored sealed).
    pub fn checksum(&self, stored: Option<&(String, String)>) -> Option<(String, String)> {
        let (algorithm, sealed) = stored?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        let value = keys::open_value(&keys::checksum_key(&self.oek), &raw)?;
        Some((algorithm.clone(), String::from_utf8(value).ok()?))
    }

    /// A [`Sealing`] for part `number` of the upload this key was sealed for.
    pub fn part_sealing(&self, number: i32) -> Sealing {
        Sealing {
            record: self.record.clone(),
            data_key: keys::part_key(&self.oek, number as u32),
            oek: self.oek.clone(),
            part: true,
        }
    }

    /// The ETag clients see for a stored one (a sealed SSE-S3 ETag is opened).
    pub fn etag(&self, stored: &str) -> S3Result<String> {
        keys::open_etag(&self.oek, stored).ok_or_else(|| {
            error(
                "XMinioObjectTampered",
                500,
                "The requested object was modified and may be compromised",
            )
        })
    }

    /// SSE-C key rotation (spec §4.4): the same object key re-sealed under `new`, with
    /// the stored IV; the data is not touched.
    pub fn reseal_customer(
        &self,
        bucket: &str,
        key: &str,
        new: &CustomerKey,
    ) -> S3Result<Encryption> {
        let iv: [u8; 32] = self
            .record
            .iv
            .as_slice()
            .try_into()
            .map_err(|_| bad_record("invalid IV"))?;
        let kek = keys::kek(new.key(), &iv, SseKind::C.domain(), bucket, key);
        let sealed = keys::seal(&kek, &self.oek).ok_or_else(|| s3_error!(InternalError))?;
        let mut record = self.record.clone();
        record.algorithm = keys::SEAL_ALGORITHM.into();
        record.sealed_key = sealed.to_vec();
        Ok(record)
    }
}

/// How one object (or part) is being encrypted.
pub struct Sealing {
    record: Encryption,
    /// The key of the DARE stream: the object key, or the part's key.
    data_key: Secret,
    oek: Secret,
    /// A part of a multipart upload (its SSE-S3 ETag stays the plain MD5, which the
    /// client sends back in CompleteMultipartUpload and the multipart ETag is made of).
    part: bool,
}

impl std::fmt::Debug for Sealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealing")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl Sealing {
    /// The record to store with the object.
    pub fn record(&self) -> &Encryption {
        &self.record
    }

    /// The ETag to store for a body with this MD5. SSE-S3: the MD5 sealed as MinIO
    /// stores it ([`keys::seal_etag`]; clients see the MD5, as AWS shows it), a part's
    /// MD5 as it is. SSE-C and SSE-KMS: a keyed digest of it ([`keys::opaque_etag`]),
    /// which says nothing about the data yet is the same when the same bytes are
    /// uploaded again under the same object key (a retried part keeps its ETag).
    pub fn etag(&self, md5: Option<&[u8; 16]>) -> StoreResult<String> {
        let md5 = md5.ok_or_else(|| StoreError::Internal("body MD5 missing".into()))?;
        Ok(match self.record.kind {
            SseKind::S3 if self.part => hex::encode(md5),
            SseKind::S3 => hex::encode(
                keys::seal_etag(&self.oek, md5)
                    .ok_or_else(|| StoreError::Internal("seal ETag".into()))?,
            ),
            SseKind::C | SseKind::Kms => keys::opaque_etag(&self.oek, md5),
        })
    }

    /// An additional checksum as stored: its value sealed under the object key.
    pub fn seal_checksum(
        &self,
        (algorithm, value): (String, String),
    ) -> StoreResult<(String, String)> {
        let sealed = keys::seal_value(&keys::checksum_key(&self.oek), value.as_bytes())
            .ok_or_else(|| StoreError::Internal("seal checksum".into()))?;
        Ok((
            algorithm,
            base64::engine::general_purpose::STANDARD.encode(sealed),
        ))
    }

    /// The DARE 2.0 stream of `plaintext` under this sealing's key, with a fresh nonce.
    pub fn encrypt(&self, plaintext: ByteStream) -> S3Result<ByteStream> {
        let sealer = dare::Sealer::new(&dare::Key::new(*self.data_key), 0)
            .map_err(|_| s3_error!(InternalError, "no randomness for encryption"))?;
        Ok(stream::encrypt(plaintext, sealer))
    }
}

impl Sse {
    /// Encryption with `kms` (if any); `auto` applies SSE-S3 to requests without SSE.
    pub fn new(kms: Option<Arc<dyn kms::Kms>>, auto: bool) -> Self {
        Self {
            kms,
            auto,
            insecure_customer_keys: false,
            upload_keys: Mutex::new(HashMap::new()),
            etags: Mutex::new(HashMap::new()),
        }
    }

    /// Accepts SSE-C keys over plain HTTP (`--insecure-sse-c`).
    pub fn with_insecure_customer_keys(mut self, allow: bool) -> Self {
        self.insecure_customer_keys = allow;
        self
    }

    /// Refuses an SSE-C key that came over plain HTTP (POST uploads carry it in a form
    /// field, which the HTTP layer's header check does not see).
    pub fn check_transport(&self, asked: &Requested, secure: bool) -> S3Result<()> {
        if matches!(asked, Requested::C(_)) && !secure && !self.insecure_customer_keys {
            return Err(s3_error!(
                InvalidRequest,
                "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
            ));
        }
        Ok(())
    }

    /// The KMS, if one is configured.
    pub fn kms(&self) -> Option<&Arc<dyn kms::Kms>> {
        self.kms.as_ref()
    }

    fn kms_or_501(&self) -> S3Result<&Arc<dyn kms::Kms>> {
        self.kms.as_ref().ok_or_else(kms_not_configured)
    }

    /// What a write gets after the bucket's default encryption and auto-encryption:
    /// a request that asks for any SSE keeps it; otherwise the bucket default applies,
    /// otherwise SSE-S3 when auto-encryption is on.
    pub fn resolve(&self, asked: Requested, default: Option<bucket::Default>) -> Requested {
        if !matches!(asked, Requested::None) {
            return asked;
        }
        match default {
            Some(bucket::Default::S3) => Requested::S3,
            Some(bucket::Default::Kms(key)) => Requested::Kms {
                key_id: Some(key),
                context: kms::Context::new(),
            },
            None if self.auto => Requested::S3,
            None => Requested::None,
        }
    }

    /// A fresh object key for `bucket/key`, sealed as `asked` says (one KMS call for
    /// SSE-S3/SSE-KMS); `None` for a plaintext object.
    pub async fn seal(
        &self,
        bucket: &str,
        key: &str,
        asked: &Requested,
        multipart: bool,
    ) -> S3Result<Option<Sealing>> {
        let oek = keys::random_secret().ok_or_else(|| s3_error!(InternalError))?;
        let iv: [u8; 32] = keys::random();
        let path = keys::path_join(bucket, key);
        let (kind, ek, kms_key, kms_sealed_key, context) = match asked {
            Requested::None => return Ok(None),
            Requested::C(c) => (
                SseKind::C,
                keys::Secret::new(*c.key()),
                None,
                Vec::new(),
                Vec::new(),
            ),
            Requested::S3 => {
                let kms = self.kms_or_501()?;
                let mut ctx = kms::Context::new();
                ctx.insert(bucket.to_string(), path.clone());
                let dk = kms
                    .generate(kms.default_key(), &ctx)
                    .await
                    .map_err(kms_error)?;
                (
                    SseKind::S3,
                    dk.plaintext,
                    Some(dk.key_id),
                    dk.ciphertext,
                    Vec::new(),
                )
            }
            Requested::Kms { key_id, context } => {
                let kms = self.kms_or_501()?;
                let name = key_id
                    .clone()
                    .unwrap_or_else(|| kms.default_key().to_string());
                let mut ctx = context.clone();
                if ctx.get(bucket).is_none() {
                    ctx.insert(bucket.to_string(), path.clone());
                }
                let dk = kms.generate(&name, &ctx).await.map_err(kms_error)?;
                let stored_ctx = if context.is_empty() {
                    Vec::new()
                } else {
                    context.to_bytes()
                };
                (
                    SseKind::Kms,
                    dk.plaintext,
                    Some(dk.key_id),
                    dk.ciphertext,
                    stored_ctx,
                )
            }
        };
        let kek = keys::kek(&ek, &iv, kind.domain(), bucket, key);
        let sealed = keys::seal(&kek, &oek).ok_or_else(|| s3_error!(InternalError))?;
        let record = Encryption {
            version: crate::store::meta::ENCRYPTION_VERSION,
            kind,
            algorithm: keys::SEAL_ALGORITHM.into(),
            iv: iv.to_vec(),
            sealed_key: sealed.to_vec(),
            kms_key,
            kms_sealed_key,
            context,
            multipart,
        };
        Ok(Some(Sealing {
            record,
            data_key: oek.clone(),
            oek,
            part: false,
        }))
    }

    /// Unseals the object key of `bucket/key` (SSE-C: with the client's key; SSE-S3 and
    /// SSE-KMS: one KMS decrypt). A wrong SSE-C key is 403 `AccessDenied`.
    pub async fn open(
        &self,
        bucket: &str,
        key: &str,
        record: &Encryption,
        customer: Option<&CustomerKey>,
    ) -> S3Result<Opened> {
        if record.version > crate::store::meta::ENCRYPTION_VERSION {
            return Err(bad_record("encryption record is newer than this server"));
        }
        let iv: [u8; 32] = record
            .iv
            .as_slice()
            .try_into()
            .map_err(|_| bad_record("invalid IV"))?;
        if record.sealed_key.len() != keys::SEALED_KEY_SIZE {
            return Err(bad_record("invalid sealed key"));
        }
        let oek = match record.kind {
            SseKind::C => {
                let c = customer.ok_or_else(headers::encrypted_object)?;
                match record.algorithm.as_str() {
                    keys::SEAL_ALGORITHM => keys::unseal(
                        &keys::kek(c.key(), &iv, SseKind::C.domain(), bucket, key),
                        &record.sealed_key,
                    ),
                    keys::INSECURE_SEAL_ALGORITHM => {
                        keys::unseal_legacy(c.key(), &iv, &record.sealed_key)
                    }
                    other => {
                        return Err(bad_record(&format!(
                            "The sealing algorithm '{other}' is not supported"
                        )))
                    }
                }
                .ok_or_else(secret_key_mismatch)?
            }
            SseKind::S3 | SseKind::Kms => {
                if record.algorithm != keys::SEAL_ALGORITHM {
                    return Err(bad_record(&format!(
                        "The sealing algorithm '{}' is not supported",
                        record.algorithm
                    )));
                }
                let kms = self.kms_or_501()?;
                let name = record
                    .kms_key
                    .as_deref()
                    .ok_or_else(|| bad_record("missing KMS key ID"))?;
                let mut ctx = if record.context.is_empty() {
                    kms::Context::new()
                } else {
                    kms::Context::from_json(&record.context)
                        .map_err(|_| bad_record("invalid encryption context"))?
                };
                if ctx.get(bucket).is_none() {
                    ctx.insert(bucket.to_string(), keys::path_join(bucket, key));
                }
                let ek = kms
                    .decrypt(name, &record.kms_sealed_key, &ctx)
                    .await
                    .map_err(kms_error)?;
                let kek = keys::kek(&ek, &iv, record.kind.domain(), bucket, key);
                keys::unseal(&kek, &record.sealed_key).ok_or_else(|| {
                    tracing::error!(bucket, key, "the sealed object key does not open");
                    error(
                        "XMinioObjectTampered",
                        500,
                        "The requested object was modified and may be compromised",
                    )
                })?
            }
        };
        Ok(Opened {
            oek,
            record: record.clone(),
        })
    }

    /// The [`Sealing`] for part `number` of an upload: its object key comes from memory
    /// when this server started the upload, else it is unsealed once and remembered.
    pub async fn seal_part(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        upload_meta: &ObjectMeta,
        customer: Option<&CustomerKey>,
        number: i32,
    ) -> S3Result<Option<Sealing>> {
        let Some(record) = &upload_meta.encryption else {
            if customer.is_some() {
                return Err(headers::not_applicable());
            }
            return Ok(None);
        };
        match (record.kind, customer) {
            (SseKind::C, None) => return Err(headers::multipart_encrypted()),
            (SseKind::S3 | SseKind::Kms, Some(_)) => return Err(headers::multipart_encrypted()),
            _ => {}
        }
        // SSE-C: the client's key must be checked on every part, so always unseal (no KMS).
        let cached = if record.kind == SseKind::C {
            None
        } else {
            self.upload_key(upload)
        };
        let opened = match cached {
            Some(oek) => Opened {
                oek,
                record: record.clone(),
            },
            None => {
                let opened = self.open(bucket, key, record, customer).await?;
                if record.kind != SseKind::C {
                    self.remember_upload(upload, &opened.oek);
                }
                opened
            }
        };
        Ok(Some(opened.part_sealing(number)))
    }

    /// Keeps the object key of a new upload for its parts.
    pub fn remember_upload(&self, upload: &str, oek: &Secret) {
        if let Ok(mut m) = self.upload_keys.lock() {
            let now = Instant::now();
            m.retain(|_, (_, t)| now.duration_since(*t) < UPLOAD_KEY_TTL);
            if m.len() >= UPLOAD_KEYS_MAX {
                if let Some(oldest) = m
                    .iter()
                    .min_by_key(|(_, (_, t))| *t)
                    .map(|(k, _)| k.clone())
                {
                    m.remove(&oldest);
                }
            }
            m.insert(upload.to_string(), (oek.clone(), now));
        }
    }

    fn upload_key(&self, upload: &str) -> Option<Secret> {
        let m = self.upload_keys.lock().ok()?;
        m.get(upload)
            .filter(|(_, t)| t.elapsed() < UPLOAD_KEY_TTL)
            .map(|(k, _)| k.clone())
    }

    /// Remembers the ETag clients see for a stored sealed one.
    pub fn remember_etag(&self, stored: &str, visible: &str) {
        if !keys::is_sealed_etag(stored) {
            return;
        }
        if let Ok(mut m) = self.etags.lock() {
            if m.len() >= ETAGS_MAX {
                m.clear();
            }
            m.insert(stored.to_string(), visible.to_string());
        }
    }

    /// The ETag clients see for a stored one, if it needs no KMS call: not sealed, or
    /// opened before.
    pub fn known_etag(&self, stored: &str) -> Option<String> {
        if !keys::is_sealed_etag(stored) {
            return Some(stored.to_string());
        }
        self.etags.lock().ok()?.get(stored).cloned()
    }

    /// The ETag clients see for an object: a sealed SSE-S3 ETag is opened with the
    /// object key (`opened`, or one KMS call), once per object version.
    pub async fn visible_etag(
        &self,
        bucket: &str,
        meta: &ObjectMeta,
        opened: Option<&Opened>,
    ) -> S3Result<String> {
        if let Some(known) = self.known_etag(&meta.etag) {
            return Ok(known);
        }
        let visible = match (opened, &meta.encryption) {
            (Some(o), _) => o.etag(&meta.etag)?,
            (None, Some(record)) => self
                .open(bucket, &meta.key, record, None)
                .await?
                .etag(&meta.etag)?,
            (None, None) => meta.etag.clone(),
        };
        self.remember_etag(&meta.etag, &visible);
        Ok(visible)
    }

    /// Forgets an upload's key (completed or aborted).
    pub fn forget_upload(&self, upload: &str) {
        if let Ok(mut m) = self.upload_keys.lock() {
            m.remove(upload);
        }
    }
}

impl Sealing {
    /// The object key (to remember for the parts of a new upload).
    pub fn object_key(&self) -> &Secret {
        &self.oek
    }
}

/// Which SSE-C headers reading an object needs (spec §4.2 rows 8–10): an SSE-C object
/// needs them; any other object must not get them.
pub fn check_read(record: Option<&Encryption>, customer: Option<&CustomerKey>) -> S3Result<()> {
    match (record.map(|r| r.kind), customer) {
        (Some(SseKind::C), None) => Err(headers::encrypted_object()),
        (None, Some(_)) => Err(headers::not_applicable()),
        (Some(SseKind::S3 | SseKind::Kms), Some(_)) => Err(headers::encrypted_object()),
        _ => Ok(()),
    }
}

/// The SSE response header values of an object: (x-amz-server-side-encryption,
/// KMS key id with `arn:aws:kms:`, KMS context, SSE-C algorithm, SSE-C key MD5).
#[derive(Debug, Default)]
pub struct ResponseHeaders {
    /// `x-amz-server-side-encryption`.
    pub algorithm: Option<&'static str>,
    /// `x-amz-server-side-encryption-aws-kms-key-id`.
    pub kms_key_id: Option<String>,
    /// `x-amz-server-side-encryption-context`.
    pub context: Option<String>,
    /// `x-amz-server-side-encryption-customer-algorithm`.
    pub customer_algorithm: Option<&'static str>,
    /// `x-amz-server-side-encryption-customer-key-md5`.
    pub customer_key_md5: Option<String>,
}

impl ResponseHeaders {
    /// The headers for an object with this record (SSE-C echoes the client's key MD5).
    pub fn of(record: Option<&Encryption>, customer: Option<&CustomerKey>) -> Self {
        let Some(r) = record else {
            return Self::default();
        };
        match r.kind {
            SseKind::S3 => Self {
                algorithm: Some("AES256"),
                ..Default::default()
            },
            SseKind::Kms => Self {
                algorithm: Some("aws:kms"),
                kms_key_id: r.kms_key.as_ref().map(|k| format!("arn:aws:kms:{k}")),
                context: (!r.context.is_empty())
                    .then(|| base64::engine::general_purpose::STANDARD.encode(&r.context)),
                ..Default::default()
            },
            SseKind::C => Self {
                customer_algorithm: Some("AES256"),
                customer_key_md5: customer.map(|c| c.md5().to_string()),
                ..Default::default()
            },
        }
    }
}

/// Sets the SSE fields of an s3s output struct (the outputs are distinct types with the
/// same field names, hence a macro).
#[macro_export]
macro_rules! sse_response_headers {
    ($out:expr, $h:expr) => {{
        let h: $crate::sse::ResponseHeaders = $h;
        $out.server_side_encryption = h
            .algorithm
            .map(|a| s3s::dto::ServerSideEncryption::from(a.to_string()));
        $out.ssekms_key_id = h.kms_key_id;
        $out.sse_customer_algorithm = h.customer_algorithm.map(str::to_string);
        $out.sse_customer_key_md5 = h.customer_key_md5;
    }};
}
