//! AWS Signature Version 4 for the SecretsManager JSON API: every request is a `POST /`
//! with an empty query, so the canonical request needs no URI or query encoding. Signed
//! headers: `content-type`, `host`, `x-amz-date`, `x-amz-security-token` (with a session
//! token) and `x-amz-target`.

use std::time::SystemTime;

use aws_lc_rs::{digest, hmac};
use zeroize::Zeroizing;

/// Access key, secret key and optional session token.
#[derive(Clone)]
pub struct Credentials {
    /// Access key ID (not secret, but kept out of `Debug` anyway).
    pub access_key: String,
    /// Secret access key.
    pub secret_key: Zeroizing<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
pub(super) fn amz_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    Zeroizing::new(hmac::sign(&k, data).as_ref().to_vec())
}

/// The headers a signature adds to a request.
pub(super) struct Signed {
    pub amz_date: String,
    pub authorization: String,
}

/// The parts of a `POST /` that are signed.
#[derive(Clone, Copy)]
pub(super) struct Post<'a> {
    /// `host[:port]`.
    pub host: &'a str,
    /// `X-Amz-Target`.
    pub target: &'a str,
    /// `Content-Type`.
    pub content_type: &'a str,
    /// The request body.
    pub body: &'a [u8],
}

/// Signs `req` for `service` in `region` at time `date` (`YYYYMMDDTHHMMSSZ`).
pub(super) fn sign(
    creds: &Credentials,
    region: &str,
    service: &str,
    req: &Post<'_>,
    date: &str,
) -> Signed {
    let Post {
        host,
        target,
        content_type,
        body,
    } = *req;
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", content_type),
        ("host", host),
        ("x-amz-date", date),
        ("x-amz-target", target),
    ];
    if let Some(t) = &creds.session_token {
        headers.push(("x-amz-security-token", t.as_str()));
    }
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let signed_headers = headers.iter().map(|h| h.0).collect::<Vec<_>>().join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let canonical_request = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        sha256_hex(body)
    );
    let day = date.get(..8).unwrap_or(date);
    let scope = format!("{day}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_secret = Zeroizing::new(format!("AWS4{}", creds.secret_key.as_str()));
    let k_date = hmac_sha256(k_secret.as_bytes(), day.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()).as_slice());
    Signed {
        amz_date: date.to_string(),
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Produced with botocore 1.43.11 `SigV4Auth(creds, "secretsmanager", "us-east-1")`
    // on a POST https://secretsmanager.us-east-1.amazonaws.com/ with the headers and body
    // below, at 2015-08-30T12:36:00Z (the AWS documentation's example credentials).
    const ACCESS_KEY: &str = "AKIDEXAMPLE";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const BODY: &[u8] = br#"{"SecretId":"my-key"}"#;
    const HOST: &str = "secretsmanager.us-east-1.amazonaws.com";
    const DATE: &str = "20150830T123600Z";
    const TARGET: &str = "secretsmanager.GetSecretValue";
    const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
    const AUTH_NO_TOKEN: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=ce85c20647aeb056b8ef8d7eed2f1f133023076bb8278899a8955bf196c58f39";
    const AUTH_TOKEN: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=1e54ac5289e4d30b0c43c2bf5f628eb8d02f2ba767f7d34c2de773abbf525aa4";

    const POST: Post<'static> = Post {
        host: HOST,
        target: TARGET,
        content_type: CONTENT_TYPE,
        body: BODY,
    };

    fn creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key: ACCESS_KEY.into(),
            secret_key: Zeroizing::new(SECRET_KEY.into()),
            session_token: token.map(|t| Zeroizing::new(t.to_string())),
        }
    }

    #[test]
    fn signature_matches_botocore() {
        let s = sign(&creds(None), "us-east-1", "secretsmanager", &POST, DATE);
        assert_eq!(s.authorization, AUTH_NO_TOKEN);
        let s = sign(
            &creds(Some("session-token-example")),
            "us-east-1",
            "secretsmanager",
            &POST,
            DATE,
        );
        assert_eq!(s.authorization, AUTH_TOKEN);
        assert_eq!(s.amz_date, DATE);
    }

    #[test]
    fn signing_key_matches_aws_documentation() {
        // docs.aws.amazon.com "Examples of how to derive a signing key" (iam, 20120215).
        let k = hmac_sha256(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        let k = hmac_sha256(&k, b"us-east-1");
        let k = hmac_sha256(&k, b"iam");
        let k = hmac_sha256(&k, b"aws4_request");
        assert_eq!(
            hex::encode(k.as_slice()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn amz_date_is_utc_basic_format() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
    }

    #[test]
    fn debug_redacts() {
        let d = format!("{:?}", creds(Some("tok")));
        assert!(!d.contains(SECRET_KEY) && !d.contains("tok\"") && !d.contains(ACCESS_KEY));
    }
}
