//! The SSE request headers: which encryption a write asks for, the SSE-C keys of a
//! request and of its copy source, validated in MinIO's order with its error codes
//! (spec/sse.md §3.3, §4.1–4.2, §5.1, §9).

use base64::Engine;
use hyper::HeaderMap;
use s3s::{s3_error, S3Error, S3Result};
use zeroize::Zeroizing;

use super::keys::{self, Secret};

const SSE: &str = "x-amz-server-side-encryption";
const KMS_KEY_ID: &str = "x-amz-server-side-encryption-aws-kms-key-id";
const KMS_CONTEXT: &str = "x-amz-server-side-encryption-context";
const C_ALGORITHM: &str = "x-amz-server-side-encryption-customer-algorithm";
const C_KEY: &str = "x-amz-server-side-encryption-customer-key";
const C_KEY_MD5: &str = "x-amz-server-side-encryption-customer-key-md5";
const COPY_C_ALGORITHM: &str = "x-amz-copy-source-server-side-encryption-customer-algorithm";
const COPY_C_KEY: &str = "x-amz-copy-source-server-side-encryption-customer-key";
const COPY_C_KEY_MD5: &str = "x-amz-copy-source-server-side-encryption-customer-key-md5";

/// The encryption a write asks for.
#[derive(Debug)]
pub enum Requested {
    /// No SSE header.
    None,
    /// `x-amz-server-side-encryption: AES256`.
    S3,
    /// `aws:kms`, with a key (`None`: the KMS default) and the client's context.
    Kms {
        /// Key name without `arn:aws:kms:`.
        key_id: Option<String>,
        /// The client's context (without the bucket entry the server adds).
        context: kms::Context,
    },
    /// A customer-provided key.
    C(CustomerKey),
}

/// A validated SSE-C key and the MD5 the client sent with it.
pub struct CustomerKey {
    key: Secret,
    md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(<redacted>)")
    }
}

impl CustomerKey {
    /// A key given to the server directly (offline recovery), not through headers.
    pub fn new(key: [u8; 32]) -> Self {
        let md5 = keys::customer_key_md5(&key);
        Self {
            key: Zeroizing::new(key),
            md5,
        }
    }

    /// The key bytes.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Its MD5, base64, as echoed in responses.
    pub fn md5(&self) -> &str {
        &self.md5
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

fn invalid_argument(msg: &'static str) -> S3Error {
    s3_error!(InvalidArgument, "{msg}")
}

/// SSE-C headers on an object that is not SSE-C, or copy-source keys where no copy
/// source is encrypted.
pub fn not_applicable() -> S3Error {
    s3_error!(
        InvalidRequest,
        "The encryption parameters are not applicable to this object."
    )
}

/// Reading an SSE-C object without its key (or an SSE-S3/KMS object with one).
pub fn encrypted_object() -> S3Error {
    s3_error!(InvalidRequest, "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.")
}

/// A part request whose SSE-C headers do not fit the upload.
pub fn multipart_encrypted() -> S3Error {
    s3_error!(InvalidRequest, "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.")
}

fn missing_algorithm() -> S3Error {
    invalid_argument("Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.")
}

fn incompatible() -> S3Error {
    invalid_argument("Server Side Encryption with Customer provided key is incompatible with the encryption method specified")
}

/// The SSE-C key of a request (`copy`: of its copy source), or `None` without headers.
pub fn customer_key(h: &HeaderMap, copy: bool) -> S3Result<Option<CustomerKey>> {
    let (alg, key, md5) = if copy {
        (COPY_C_ALGORITHM, COPY_C_KEY, COPY_C_KEY_MD5)
    } else {
        (C_ALGORITHM, C_KEY, C_KEY_MD5)
    };
    let (alg, key, md5) = (header(h, alg), header(h, key), header(h, md5));
    if alg.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    if alg != Some("AES256") {
        return Err(missing_algorithm());
    }
    let key = key.filter(|k| !k.is_empty()).ok_or_else(|| {
        invalid_argument("Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.")
    })?;
    let md5 = md5.filter(|m| !m.is_empty()).ok_or_else(|| {
        invalid_argument("Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.")
    })?;
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| s3_error!(AccessDenied, "Access Denied."))?,
    );
    let arr: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| s3_error!(AccessDenied, "Access Denied."))?;
    let key = Zeroizing::new(arr);
    let want = keys::customer_key_md5(&key);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        want.as_bytes(),
        md5.trim().as_bytes(),
    )) {
        return Err(invalid_argument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        ));
    }
    Ok(Some(CustomerKey { key, md5: want }))
}

/// Whether any SSE-C or copy-source SSE-C header is present (refused over plain HTTP).
pub fn has_customer_headers(h: &HeaderMap) -> bool {
    [
        C_ALGORITHM,
        C_KEY,
        C_KEY_MD5,
        COPY_C_ALGORITHM,
        COPY_C_KEY,
        COPY_C_KEY_MD5,
    ]
    .iter()
    .any(|n| h.contains_key(*n))
}

/// The encryption a write (PutObject, CreateMultipartUpload, CopyObject's target) asks
/// for. `copy_allowed`: copy-source SSE-C headers are legal here (CopyObject).
pub fn requested(h: &HeaderMap, copy_allowed: bool) -> S3Result<Requested> {
    let customer = customer_key(h, false)?;
    if !copy_allowed && customer_key(h, true)?.is_some() {
        return Err(not_applicable());
    }
    let sse = header(h, SSE);
    if let Some(c) = customer {
        if sse.is_some() {
            return Err(incompatible());
        }
        return Ok(Requested::C(c));
    }
    let key_id = header(h, KMS_KEY_ID);
    let context = header(h, KMS_CONTEXT);
    let wants_kms = key_id.is_some()
        || context.is_some()
        || sse.is_some_and(|v| !v.eq_ignore_ascii_case("AES256"));
    if !wants_kms {
        return Ok(if sse.is_some() {
            Requested::S3
        } else {
            Requested::None
        });
    }
    if sse != Some("aws:kms") {
        return Err(invalid_argument("Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"));
    }
    let key_id = match key_id {
        None => None,
        Some(k) => {
            if k != k.trim() {
                return Err(s3_error!(
                    InvalidRequest,
                    "The specified KMS KeyID contains unsupported characters"
                ));
            }
            let k = k.strip_prefix("arn:aws:kms:").unwrap_or(k);
            (!k.is_empty()).then(|| k.to_string())
        }
    };
    let context = match context.filter(|c| !c.is_empty()) {
        None => kms::Context::new(),
        Some(c) => {
            let json = base64::engine::general_purpose::STANDARD
                .decode(c.trim())
                .map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "x-amz-server-side-encryption-context is not base64"
                    )
                })?;
            kms::Context::from_json(&json).map_err(|_| {
                s3_error!(
                    InvalidArgument,
                    "x-amz-server-side-encryption-context is not a JSON object of strings"
                )
            })?
        }
    };
    Ok(Requested::Kms { key_id, context })
}

/// GET and HEAD must not carry SSE-S3/SSE-KMS headers (400 `BadRequest`, as MinIO).
pub fn refuse_on_read(h: &HeaderMap) -> S3Result<()> {
    if h.contains_key(SSE) || h.contains_key(KMS_KEY_ID) || h.contains_key(KMS_CONTEXT) {
        return Err(super::error("BadRequest", 400, "400 BadRequest"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=";
    const MD5: &str = "DWygnHRtgiJ77HCm+1rvHw==";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn code(e: S3Error) -> (String, u16) {
        (
            e.code().as_str().to_string(),
            e.status_code()
                .or_else(|| e.code().status_code())
                .map_or(0, |s| s.as_u16()),
        )
    }

    #[test]
    fn customer_key_validation_order() {
        let ok = customer_key(
            &headers(&[(C_ALGORITHM, "AES256"), (C_KEY, KEY), (C_KEY_MD5, MD5)]),
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(ok.md5(), MD5);
        type Case<'a> = (&'a [(&'static str, &'a str)], &'a str, u16);
        let cases: &[Case] = &[
            (&[(C_KEY, KEY), (C_KEY_MD5, MD5)], "InvalidArgument", 400),
            (
                &[(C_ALGORITHM, "AES"), (C_KEY, KEY), (C_KEY_MD5, MD5)],
                "InvalidArgument",
                400,
            ),
            (
                &[(C_ALGORITHM, "AES256"), (C_KEY_MD5, MD5)],
                "InvalidArgument",
                400,
            ),
            (
                &[(C_ALGORITHM, "AES256"), (C_KEY, KEY)],
                "InvalidArgument",
                400,
            ),
            (
                &[
                    (C_ALGORITHM, "AES256"),
                    (C_KEY, "c2hvcnQ="),
                    (C_KEY_MD5, MD5),
                ],
                "AccessDenied",
                403,
            ),
            (
                &[
                    (C_ALGORITHM, "AES256"),
                    (C_KEY, KEY),
                    (C_KEY_MD5, "arxBvwY2V4SiOne6yppVPQ=="),
                ],
                "InvalidArgument",
                400,
            ),
        ];
        for (h, want_code, want_status) in cases {
            let e = customer_key(&headers(h), false).unwrap_err();
            assert_eq!(code(e), (want_code.to_string(), *want_status), "{h:?}");
        }
    }

    #[test]
    fn requested_modes_and_conflicts() {
        assert!(matches!(
            requested(&headers(&[]), false).unwrap(),
            Requested::None
        ));
        assert!(matches!(
            requested(&headers(&[(SSE, "AES256")]), false).unwrap(),
            Requested::S3
        ));
        assert!(matches!(
            requested(&headers(&[(SSE, "aes256")]), false).unwrap(),
            Requested::S3
        ));
        match requested(
            &headers(&[(SSE, "aws:kms"), (KMS_KEY_ID, "arn:aws:kms:my-key")]),
            false,
        )
        .unwrap()
        {
            Requested::Kms { key_id, .. } => assert_eq!(key_id.as_deref(), Some("my-key")),
            other => panic!("{other:?}"),
        }
        for (h, want) in [
            (vec![(KMS_KEY_ID, "k")], "InvalidArgument"),
            (vec![(SSE, "AES256"), (KMS_KEY_ID, "k")], "InvalidArgument"),
            (vec![(SSE, "aes:kms")], "InvalidArgument"),
            (vec![(SSE, "AES192")], "InvalidArgument"),
            (vec![(SSE, "aws:kms"), (KMS_KEY_ID, " k")], "InvalidRequest"),
            (
                vec![
                    (SSE, "AES256"),
                    (C_ALGORITHM, "AES256"),
                    (C_KEY, KEY),
                    (C_KEY_MD5, MD5),
                ],
                "InvalidArgument",
            ),
            (
                vec![
                    (COPY_C_ALGORITHM, "AES256"),
                    (COPY_C_KEY, KEY),
                    (COPY_C_KEY_MD5, MD5),
                ],
                "InvalidRequest",
            ),
        ] {
            let e = requested(&headers(&h), false).unwrap_err();
            assert_eq!(e.code().as_str(), want, "{h:?}");
        }
    }
}
