//! A minimal AWS Signature Version 4 signer for the S3 load generator: header-based auth,
//! path-style URIs made only of unreserved characters (so the path is its own canonical
//! form), payload hash given by the caller (`UNSIGNED-PAYLOAD` for object bodies).

use aws_lc_rs::{digest, hmac};

/// SHA-256 of the empty string, the payload hash of body-less requests.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Payload hash of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Who signs, and for which region.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Region in the credential scope.
    pub region: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("region", &self.region)
            .finish()
    }
}

/// One request to sign. `headers` are the headers to sign besides `host`,
/// `x-amz-content-sha256` and `x-amz-date` (which are always signed).
#[derive(Debug)]
pub struct ToSign<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// `Host` header value.
    pub host: &'a str,
    /// Absolute path, already URI-encoded.
    pub path: &'a str,
    /// Canonical query string (sorted, encoded), empty when none.
    pub query: &'a str,
    /// Further headers to sign, any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    pub payload_hash: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
}

/// The `Authorization` header value of `req`.
pub fn authorization(creds: &Credentials, req: &ToSign<'_>) -> String {
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), req.host.trim().to_string()),
        (
            "x-amz-content-sha256".into(),
            req.payload_hash.trim().to_string(),
        ),
        ("x-amz-date".into(), req.amz_date.trim().to_string()),
    ];
    for (k, v) in req.headers {
        headers.push((k.to_ascii_lowercase(), collapse(v)));
    }
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let mut canonical = format!("{}\n{}\n{}\n", req.method, req.path, req.query);
    for (k, v) in &headers {
        canonical.push_str(k);
        canonical.push(':');
        canonical.push_str(v);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed);
    canonical.push('\n');
    canonical.push_str(req.payload_hash);

    let date = &req.amz_date[..8.min(req.amz_date.len())];
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        req.amz_date,
        hex::encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    );
    let mut key = mac(
        format!("AWS4{}", creds.secret_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [creds.region.as_str(), "s3", "aws4_request"] {
        key = mac(&key, part.as_bytes());
    }
    let signature = hex::encode(mac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed},Signature={signature}",
        creds.access_key
    )
}

/// `YYYYMMDDTHHMMSSZ` of the current UTC time.
pub fn amz_date_now() -> String {
    let t = time::OffsetDateTime::now_utc();
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

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

/// Trims and collapses runs of spaces, as the canonical header form asks.
fn collapse(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "GET Object" example of AWS's "Signature Calculations for the Authorization
    /// Header" page (S3 API reference, sig-v4-header-based-auth).
    #[test]
    fn aws_documented_get_object_example() {
        let creds = Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        };
        let auth = authorization(
            &creds,
            &ToSign {
                method: "GET",
                host: "examplebucket.s3.amazonaws.com",
                path: "/test.txt",
                query: "",
                headers: &[("Range", "bytes=0-9")],
                payload_hash: EMPTY_SHA256,
                amz_date: "20130524T000000Z",
            },
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn amz_date_shape() {
        let d = amz_date_now();
        assert_eq!(d.len(), 16);
        assert_eq!(&d[8..9], "T");
        assert!(d.ends_with('Z'));
    }
}
