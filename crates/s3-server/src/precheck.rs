//! Requests refused before s3s sees them: what s3s would accept although S3 refuses it,
//! and inputs that reach s3s 0.14.1's unchecked digit parser (`c - b'0'` on any byte, a
//! panic in builds with overflow checks: debug builds and the fuzz build).

use bytes::Bytes;
use hyper::{Request, StatusCode};

/// Requests refused before s3s sees them.
///
/// - SSE-C over plain HTTP (`secure` is false): the key would cross the network in clear
///   (400 `InvalidRequest`, as MinIO), unless the operator allowed it for a test rig.
/// - Headers naming the server's internal metadata (`X-Minio-Internal-*`,
///   `X-Minio-Replication-*`): a client could plant sealed keys with them.
/// - Presigned URLs valid for more than seven days, with a negative lifetime, or expired:
///   403, as S3 answers (s3s would accept the first and answer 400 for the others).
/// - An `X-Amz-Date` (query of a presigned URL, or header of a signed request) that is not
///   `yyyyMMddTHHmmssZ`: 403, as S3 answers. s3s 0.14.1 parses its digits with an
///   unchecked subtraction, which panics in builds with overflow checks (found by the
///   `s3_request` fuzz target).
/// - A credential scope whose date is 8 bytes but not 8 digits, in any `Credential=` of
///   any Authorization value (read as UTF-8, as s3s reads it; 400
///   `AuthorizationHeaderMalformed`) or in `X-Amz-Credential` (403): the same parser.
///   Query names and values are decoded as s3s decodes them, so `X-Amz-%43redential`
///   is checked too.
pub fn request<B>(req: &Request<B>, secure: bool) -> Option<s3s::S3Error> {
    if !secure && crate::sse::headers::has_customer_headers(req.headers()) {
        return Some(s3s::s3_error!(
            InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
        ));
    }
    if req.headers().keys().any(|k| {
        let k = k.as_str();
        k.starts_with("x-minio-internal-") || k.starts_with("x-minio-replication-")
    }) {
        return Some(s3s::s3_error!(
            InvalidArgument,
            "Your metadata headers are not supported."
        ));
    }
    let signed = req.headers().contains_key(hyper::header::AUTHORIZATION);
    if let Some(date) = req.headers().get("x-amz-date").filter(|_| signed) {
        if !date.to_str().is_ok_and(is_amz_date) {
            let mut e = s3s::s3_error!(
                AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header"
            );
            e.set_status_code(StatusCode::FORBIDDEN);
            return Some(e);
        }
    }
    // The credential scope's date goes through the same unchecked digit parsing of s3s.
    // s3s reads header values as UTF-8 (not only visible ASCII), so check every
    // `Credential=` of every Authorization value read that way.
    let bad_credential = req
        .headers()
        .get_all(hyper::header::AUTHORIZATION)
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
        .flat_map(|v| {
            v.match_indices("Credential=")
                .map(move |(i, m)| &v[i + m.len()..])
        })
        .any(|rest| !credential_date_ok(rest.split(',').next().unwrap_or(rest)));
    if bad_credential {
        return Some(s3s::s3_error!(
            AuthorizationHeaderMalformed,
            "The authorization header is malformed; the Credential date is not yyyyMMdd."
        ));
    }
    let query = req.uri().query()?;
    // Decoded as s3s decodes them (form encoding, keys too), so that an escaped name
    // such as `X-Amz-%43redential` cannot slip past the checks below.
    let pairs: Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> =
        form_urlencoded::parse(query.as_bytes()).collect();
    let all = |name: &'static str| {
        pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    };
    let param = |name: &'static str| all(name).next();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = || {
        let mut e = s3s::s3_error!(AccessDenied, "Request has expired");
        e.set_status_code(StatusCode::FORBIDDEN);
        e
    };
    let query_error = |msg: &'static str| {
        let mut e = s3s::S3Error::with_message(
            "AuthorizationQueryParametersError"
                .parse()
                .unwrap_or(s3s::S3ErrorCode::AccessDenied),
            msg,
        );
        e.set_status_code(StatusCode::FORBIDDEN);
        e
    };
    if all("X-Amz-Credential").any(|c| !credential_date_ok(c)) {
        return Some(query_error(
            "Error parsing the X-Amz-Credential parameter; the date is not yyyyMMdd.",
        ));
    }
    if all("X-Amz-Date").any(|d| !is_amz_date(d)) {
        return Some(query_error(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        ));
    }
    if let (Some(date), Some(expires)) = (param("X-Amz-Date"), param("X-Amz-Expires")) {
        let Ok(expires) = expires.parse::<i64>() else {
            return Some(query_error("X-Amz-Expires should be a number"));
        };
        if expires < 0 {
            return Some(query_error("X-Amz-Expires must be non-negative"));
        }
        if expires > 604_800 {
            return Some(query_error(
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            ));
        }
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        if let Ok(signed) = time::PrimitiveDateTime::parse(date, format) {
            if signed.assume_utc().unix_timestamp() + expires < now {
                return Some(expired());
            }
        }
    } else if let (Some(expires), true) = (param("Expires"), param("Signature").is_some()) {
        if expires.parse::<i64>().is_ok_and(|t| t < now) {
            return Some(expired());
        }
    }
    None
}

/// How much of a browser POST upload's form is read before s3s: its fields come before
/// the file, and forms carry a policy of a few KiB.
const FORM_PEEK: usize = 1 << 20;

/// Browser POST uploads (`multipart/form-data`) carry `x-amz-date` and `x-amz-credential`
/// as form fields, which s3s reads with the same digit parser as the headers. Reads the
/// form's fields (up to the `file` part, at most [`FORM_PEEK`] bytes) and refuses a
/// malformed date with 400 `InvalidRequest`, as s3s itself would answer for a malformed
/// value it can parse; otherwise hands the request on with the bytes read put back in
/// front of the rest of its body.
pub async fn form(req: Request<s3s::Body>) -> Result<Request<s3s::Body>, s3s::S3Error> {
    use futures_util::StreamExt;

    let boundary = (req.method() == hyper::Method::POST)
        .then(|| req.headers().get(hyper::header::CONTENT_TYPE))
        .flatten()
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .filter(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA)
        .and_then(|m| m.get_param(mime::BOUNDARY).map(|b| b.as_str().to_owned()));
    let Some(boundary) = boundary else {
        return Ok(req);
    };
    let (parts, mut body) = req.into_parts();
    let mut read = Vec::new();
    let mut failed = None;
    let mut ended = false;
    while read.len() < FORM_PEEK && !has_file_part(&read) {
        match body.next().await {
            Some(Ok(chunk)) => read.extend_from_slice(&chunk),
            Some(Err(e)) => {
                failed = Some(e);
                break;
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    if let Some(field) = malformed_form_date(&read, boundary.as_bytes()) {
        return Err(s3s::s3_error!(
            InvalidRequest,
            "The {} form field is malformed.",
            field
        ));
    }
    let front = futures_util::stream::iter([Ok(Bytes::from(read))]);
    let rest: futures_util::stream::BoxStream<'static, Result<Bytes, s3s::StdError>> =
        match (failed, ended) {
            (Some(e), _) => futures_util::stream::iter([Err(e)]).boxed(),
            (None, true) => futures_util::stream::empty().boxed(),
            (None, false) => body.boxed(),
        };
    let stream = front
        .chain(rest)
        .map(|chunk| chunk.map(hyper::body::Frame::data));
    let body = s3s::Body::http_body_unsync(http_body_util::StreamBody::new(stream));
    Ok(Request::from_parts(parts, body))
}

/// Whether `read` holds the headers of a form part named `file` (the part s3s stops at).
fn has_file_part(read: &[u8]) -> bool {
    let lower = read.to_ascii_lowercase();
    find(&lower, b"name=\"file\"").is_some_and(|at| {
        find(&lower[at..], b"\n\r\n").is_some() || find(&lower[at..], b"\n\n").is_some()
    })
}

/// The name of the first `x-amz-date` or `x-amz-credential` field of the form in `read`
/// whose date s3s could not parse safely. Fields cut off at the end of `read` are skipped.
fn malformed_form_date(read: &[u8], boundary: &[u8]) -> Option<&'static str> {
    let delimiter = [b"--", boundary].concat();
    let end_of_value = [b"\r\n", &delimiter[..], b"\r\n"].concat();
    let mut at = find(read, &delimiter)?;
    loop {
        let part = &read[at + delimiter.len()..];
        // The part's header block ends at its first empty line (CRLF or bare LF endings).
        let mut pos = 0;
        let value_start = loop {
            let line_end = pos + find(&part[pos..], b"\n")?;
            let line = &part[pos..line_end];
            if pos > 0 && (line.is_empty() || line == b"\r") {
                break line_end + 1;
            }
            pos = line_end + 1;
        };
        let headers = part[..value_start].to_ascii_lowercase();
        let value_end = find(&part[value_start.saturating_sub(2)..], &end_of_value)
            .map(|i| i + value_start.saturating_sub(2));
        let value = value_end.map(|e| part.get(value_start..e).unwrap_or_default());
        if let Some(value) = value.and_then(|v| std::str::from_utf8(v).ok()) {
            if find(&headers, b"name=\"x-amz-date\"").is_some() && !is_amz_date(value) {
                return Some("x-amz-date");
            }
            if find(&headers, b"name=\"x-amz-credential\"").is_some() && !credential_date_ok(value)
            {
                return Some("x-amz-credential");
            }
        }
        if find(&headers, b"name=\"file\"").is_some() {
            return None;
        }
        let next = value_end? + 2;
        at += delimiter.len() + next;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether the date of a SigV4 credential scope (`AK/yyyyMMdd/region/service/…`) is safe
/// to hand to s3s 0.14.1, which reads an 8-byte date's digits with unchecked arithmetic
/// (a panic in builds with overflow checks): any other length it refuses itself.
fn credential_date_ok(scope: &str) -> bool {
    match scope.split('/').nth(1) {
        Some(date) if date.len() == 8 => date.bytes().all(|b| b.is_ascii_digit()),
        _ => true,
    }
}

/// Whether `s` is a SigV4 timestamp: `yyyyMMdd'T'HHmmss'Z'`, digits where digits belong.
fn is_amz_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 => c == b'T',
            15 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{is_amz_date, request as precheck};

    #[test]
    fn amz_dates() {
        assert!(is_amz_date("20260101T000000Z"));
        for bad in [
            "2+260101T000000Z",
            "20260101T00000Z",
            "20260101 000000Z",
            "2026010100000000",
            "",
        ] {
            assert!(!is_amz_date(bad), "{bad}");
        }
    }

    #[test]
    fn malformed_dates_are_refused_before_s3s() {
        let req = |uri: &str, date: Option<&str>| {
            let mut b = hyper::Request::builder().uri(uri);
            if let Some(d) = date {
                b = b
                    .header("authorization", "AWS4-HMAC-SHA256 x")
                    .header("x-amz-date", d);
            }
            b.body(()).unwrap()
        };
        let presigned =
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=2+260101T000000Z&X-Amz-Expires=60";
        assert_eq!(
            precheck(&req(presigned, None), true)
                .unwrap()
                .status_code()
                .unwrap(),
            403
        );
        // The credential scope's date, in the header and in a presigned URL.
        let with_auth = |auth: &str| {
            hyper::Request::builder()
                .uri("/b/k")
                .header("authorization", auth)
                .body(())
                .unwrap()
        };
        let bad = "AWS4-HMAC-SHA256 Credential=u/2026 101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
        assert_eq!(
            precheck(&with_auth(bad), true)
                .unwrap()
                .status_code()
                .unwrap(),
            400
        );
        let good = bad.replace("2026 101", "20260101");
        assert!(precheck(&with_auth(&good), true).is_none());
        // s3s reads the header as UTF-8, so a non-ASCII algorithm name still reaches its
        // date parser (found by the fuzzer after the first fix), and it takes the
        // `Credential=` after the first space, which need not be the first one.
        let non_ascii = hyper::Request::builder()
            .uri("/b/k")
            .header(
                "authorization",
                hyper::header::HeaderValue::from_bytes(
                    "AWS4-HMAC\u{4ec}HA256 Credential=u/2026 901/us-east-1/s3/aws4_request,"
                        .as_bytes(),
                )
                .unwrap(),
            )
            .body(())
            .unwrap();
        assert_eq!(
            precheck(&non_ascii, true).unwrap().status_code().unwrap(),
            400
        );
        let second =
            "xCredential=u/20260101/r/s3/aws4_request Credential=u/2026 101/r/s3/aws4_request,";
        assert_eq!(
            precheck(&with_auth(second), true)
                .unwrap()
                .status_code()
                .unwrap(),
            400
        );
        for (key, q) in [
            ("X-Amz-Credential", "u%2F2026%20101%2Fus-east-1"),
            ("X-Amz-Credential", "u%2F2026+101%2Fx"),
            ("X-Amz-%43redential", "u%2F2026+101%2Fx"),
            (
                "X-Amz-Credential=u%2F20260101%2Fr&X-Amz-Credential",
                "u%2F2026+101%2Fx",
            ),
        ] {
            let uri = format!("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&{key}={q}");
            assert_eq!(
                precheck(&req(&uri, None), true)
                    .unwrap()
                    .status_code()
                    .unwrap(),
                403,
                "{q}"
            );
        }
        let ok = "/b/k?X-Amz-Credential=u%2F20260101%2Fus-east-1%2Fs3%2Faws4_request";
        assert!(precheck(&req(ok, None), true).is_none());
        // An escaped X-Amz-Date name is decoded too.
        let escaped = "/b/k?X-Amz-%44ate=2+260101T000000Z&X-Amz-Expires=60";
        assert_eq!(
            precheck(&req(escaped, None), true)
                .unwrap()
                .status_code()
                .unwrap(),
            403
        );
        let header = req("/b/k", Some("2+260101T000000Z"));
        assert_eq!(precheck(&header, true).unwrap().status_code().unwrap(), 403);
        assert!(precheck(&req("/b/k", Some("20260101T000000Z")), true).is_none());
    }

    fn form_request(content_type: &str, body: &'static [u8]) -> hyper::Request<s3s::Body> {
        hyper::Request::builder()
            .method("POST")
            .uri("/b")
            .header("content-type", content_type)
            .body(s3s::Body::from(bytes::Bytes::from_static(body)))
            .unwrap()
    }

    async fn body_of(req: hyper::Request<s3s::Body>) -> Vec<u8> {
        use http_body_util::BodyExt;
        req.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn malformed_form_dates_are_refused_before_s3s() {
        let ct = "multipart/form-data; boundary=XX";
        let bad: [&'static [u8]; 5] = [
            b"--XX\r\nContent-Disposition: form-data; name=\"x-amz-date\"\r\n\r\n2+260101T000000Z\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\ndata\r\n--XX--\r\n",
            // The date's value may hold a line break; the field name any case.
            b"--XX\r\nContent-Disposition: form-data; name=\"X-Amz-Date\"\r\n\r\n2026\r\n01T00000Z\r\n--XX\r\n",
            b"--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XX\r\nContent-Disposition: form-data; name=\"x-amz-credential\"\r\n\r\nu/2026 101/r/s3/aws4_request\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nd\r\n--XX--\r\n",
            // Bare LF header endings, as httparse accepts them.
            b"--XX\r\nContent-Disposition: form-data; name=\"x-amz-date\"\n\n2 260101T000000Z\r\n--XX\r\n",
            // An empty field before it.
            b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--XX\r\nContent-Disposition: form-data; name=\"x-amz-date\"\r\n\r\n2 260101T000000Z\r\n--XX\r\n",
        ];
        for body in bad {
            let e = super::form(form_request(ct, body)).await.unwrap_err();
            assert_eq!(
                e.code().as_str(),
                "InvalidRequest",
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(e.to_http_response().unwrap().status(), 400);
        }
        let good: &'static [u8] = b"--XX\r\nContent-Disposition: form-data; name=\"x-amz-date\"\r\n\r\n20260101T000000Z\r\n--XX\r\nContent-Disposition: form-data; name=\"x-amz-credential\"\r\n\r\nu/20260101/r/s3/aws4_request\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n2+260101T000000Z\r\n--XX--\r\n";
        let req = super::form(form_request(ct, good)).await.unwrap();
        assert_eq!(body_of(req).await, good, "the body is handed on whole");
        // Not a form, or not a POST: untouched.
        let other = super::form(form_request("text/plain", bad[0]))
            .await
            .unwrap();
        assert_eq!(body_of(other).await, bad[0]);
    }
}
