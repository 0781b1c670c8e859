//! The write path every operation that stores bytes goes through (PutObject, CopyObject,
//! UploadPart, UploadPartCopy): the plaintext is checked and hashed ([`super::body`]),
//! then encrypted when the object is ([`crate::sse`]), then handed to the store, which
//! keeps stored bytes only.

use crate::store::{ByteStream, Digest, Finish, ObjectMeta, PartInfo, PutOptions, WriteRules};
use s3s::S3Result;

use super::body::{self, Expect, Hashed};
use super::errors::s3;
use super::CofferS3;
use crate::sse::{keys, Sealing};

/// The ETag the client sees for a body: the plaintext MD5 unless encryption says
/// otherwise (SSE-C and SSE-KMS ETags are not the MD5).
/// Additional checksums of encrypted objects are stored sealed (they would reveal the
/// plaintext otherwise).
fn finish(hashed: Hashed, sealing: Option<Sealing>) -> Finish {
    Box::new(move |_stored| {
        let d = hashed.get()?;
        let (etag, checksum) = match &sealing {
            Some(s) => (
                s.etag(d.md5.as_ref())?,
                d.checksum.map(|c| s.seal_checksum(c)).transpose()?,
            ),
            None => (hex::encode(d.md5.unwrap_or_default()), d.checksum),
        };
        Ok(Digest {
            size: d.size,
            etag,
            checksum,
        })
    })
}

/// A body on its way to the store: the plaintext, what it must satisfy, and how it is
/// encrypted (`None`: stored as it is).
pub(crate) struct Incoming {
    pub plaintext: ByteStream,
    pub expect: Expect,
    pub sealing: Option<Sealing>,
}

impl Incoming {
    /// The bytes to store (hashed on the way, then encrypted when sealed) and the
    /// callback that reports the digest once the store has read them.
    fn into_stored(self) -> S3Result<(ByteStream, Option<u64>, Finish, Hashed)> {
        let Incoming {
            plaintext,
            mut expect,
            sealing,
        } = self;
        // One DARE stream per body when sealed.
        let stored_len = match &sealing {
            Some(_) => expect
                .content_length
                .and_then(|n| dare::encrypted_size(n).ok()),
            None => expect.content_length,
        };
        expect.md5 = true;
        let (hashed_body, hashed) = body::hash(plaintext, expect)?;
        let stored = match &sealing {
            Some(sealing) => sealing.encrypt(hashed_body)?,
            None => hashed_body,
        };
        Ok((stored, stored_len, finish(hashed.clone(), sealing), hashed))
    }
}

/// Stores a whole object from its plaintext.
pub(crate) async fn object(
    s: &CofferS3,
    bucket: &str,
    key: &str,
    body: Incoming,
    mut meta: ObjectMeta,
    rules: WriteRules,
) -> S3Result<ObjectMeta> {
    meta.encryption = body.sealing.as_ref().map(|s| s.record().clone());
    let (stored_body, stored_len, finish, hashed) = body.into_stored()?;
    let opts = PutOptions {
        meta,
        finish,
        rules,
        stored_len,
    };
    let mut stored = s
        .store
        .put_object(bucket, key, stored_body, opts)
        .await
        .map_err(s3)?;
    // The caller answers the client with the checksum it sent and the ETag clients see,
    // not their sealed forms.
    let digest = hashed.get().map_err(s3)?;
    stored.checksum = digest.checksum;
    if let (Some(md5), true) = (digest.md5, keys::is_sealed_etag(&stored.etag)) {
        let visible = hex::encode(md5);
        s.sse.remember_etag(&stored.etag, &visible);
        stored.etag = visible;
    }
    Ok(stored)
}

/// Stores one part of a multipart upload from its plaintext; returns it with its
/// additional checksum in clear (stored sealed when the upload is encrypted).
pub(crate) async fn part(
    s: &CofferS3,
    bucket: &str,
    key: &str,
    upload: &str,
    number: i32,
    body: Incoming,
) -> S3Result<(PartInfo, Option<(String, String)>)> {
    let (stored_body, stored_len, finish, hashed) = body.into_stored()?;
    let part = s
        .store
        .upload_part(bucket, key, upload, number, stored_body, stored_len, finish)
        .await
        .map_err(s3)?;
    let checksum = hashed.get().map_err(s3)?.checksum;
    Ok((part, checksum))
}
