//! Cross-origin resource sharing, so that browser applications can use the server (for
//! example uploads through presigned URLs).
//!
//! A bucket with a CORS configuration (PutBucketCors) answers by its rules, as S3 does:
//! the first rule whose origin, method and requested headers all match decides, and a
//! preflight that no rule matches is refused with 403. A bucket without one answers as
//! MinIO does by default: every origin in `MINIO_API_CORS_ALLOW_ORIGIN` (default `*`) may
//! use every method.
//!
//! A preflight (`OPTIONS`) is answered here without touching the S3 layer; on other
//! requests the headers are added to the response, errors included, so that the browser
//! lets the page read them.

use hyper::header::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

/// The bucket setting that holds the configuration.
pub const SETTING: &str = "cors.json";

const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// Headers the default (MinIO-like) policy lets scripts read.
const DEFAULT_EXPOSE: &str = "Date, ETag, Server, Connection, Accept-Ranges, Content-Range, \
Content-Encoding, Content-Length, Content-Type, Content-Disposition, Last-Modified, \
Content-Language, Cache-Control, Retry-After, X-Amz-Bucket-Region, Expires, X-Amz*, \
X-Xss-Protection, Access-Control-*";

/// One rule of a bucket's CORS configuration (stored as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Rule id, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Origins, each with at most one `*`.
    pub origins: Vec<String>,
    /// Methods (GET, PUT, POST, DELETE, HEAD).
    pub methods: Vec<String>,
    /// Request headers a preflight may ask for (patterns with `*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Response headers scripts may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// Preflight cache time in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i32>,
}

/// Checks a configuration before it is stored; the error is the message for the client.
pub fn validate(rules: &[Rule]) -> Result<(), String> {
    if rules.is_empty() || rules.len() > 100 {
        return Err("a CORS configuration has 1 to 100 rules".into());
    }
    for r in rules {
        if r.origins.is_empty() || r.methods.is_empty() {
            return Err("each CORS rule needs AllowedOrigin and AllowedMethod".into());
        }
        if let Some(m) = r.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            ));
        }
        if let Some(o) = r.origins.iter().find(|o| o.matches('*').count() > 1) {
            return Err(format!(
                "AllowedOrigin \"{o}\" can not have more than one wildcard."
            ));
        }
        if let Some(h) = r.headers.iter().find(|h| h.matches('*').count() > 1) {
            return Err(format!(
                "AllowedHeader \"{h}\" can not have more than one wildcard."
            ));
        }
    }
    Ok(())
}

/// `*` matches any run of characters; `ignore_case` for header names.
fn wildcard(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_string(), value.to_string())
    };
    match p.split_once('*') {
        None => p == v,
        Some((head, tail)) => {
            v.len() >= head.len() + tail.len() && v.starts_with(head) && v.ends_with(tail)
        }
    }
}

/// What a request asks of CORS.
#[derive(Debug)]
pub struct Ask<'a> {
    /// `Origin`.
    pub origin: &'a str,
    /// The method: `Access-Control-Request-Method` if sent, else the request's.
    pub method: &'a str,
    /// `Access-Control-Request-Headers`, split.
    pub headers: Vec<String>,
}

impl<'a> Ask<'a> {
    /// From a request's method and headers; `None` without an `Origin`.
    pub fn of(method: &'a str, h: &'a HeaderMap) -> Option<Self> {
        let origin = h.get(hyper::header::ORIGIN)?.to_str().ok()?;
        let method = h
            .get(hyper::header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(method);
        let headers = h
            .get(hyper::header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            origin,
            method,
            headers,
        })
    }
}

/// The first rule that allows `ask`.
pub fn matching<'r>(rules: &'r [Rule], ask: &Ask<'_>) -> Option<&'r Rule> {
    rules.iter().find(|r| {
        r.origins.iter().any(|o| wildcard(o, ask.origin, false))
            && r.methods.iter().any(|m| m == ask.method)
            && ask
                .headers
                .iter()
                .all(|h| r.headers.iter().any(|p| wildcard(p, h, true)))
    })
}

/// The response headers granting `ask` by `rule`.
pub fn grant(rule: &Rule, ask: &Ask<'_>, out: &mut HeaderMap) {
    let origin = if rule.origins.iter().any(|o| o == "*") {
        "*"
    } else {
        ask.origin
    };
    set(out, "access-control-allow-origin", origin);
    set(
        out,
        "access-control-allow-methods",
        &rule.methods.join(", "),
    );
    if !ask.headers.is_empty() {
        set(out, "access-control-allow-headers", &ask.headers.join(", "));
    }
    if !rule.expose.is_empty() {
        set(
            out,
            "access-control-expose-headers",
            &rule.expose.join(", "),
        );
    }
    if let Some(age) = rule.max_age {
        set(out, "access-control-max-age", &age.to_string());
    }
    set(out, "vary", "Origin");
}

/// The server-wide policy for buckets without a configuration (MinIO's default).
#[derive(Debug, Clone)]
pub struct Default {
    origins: Vec<String>,
}

impl Default {
    /// Origins from `MINIO_API_CORS_ALLOW_ORIGIN` (comma separated; `*` for any).
    pub fn new(origins: &[String]) -> Self {
        Self {
            origins: if origins.is_empty() {
                vec!["*".into()]
            } else {
                origins.to_vec()
            },
        }
    }

    /// The rule this policy amounts to.
    pub fn rule(&self) -> Rule {
        Rule {
            origins: self.origins.clone(),
            methods: METHODS.iter().map(|m| m.to_string()).collect(),
            headers: vec!["*".into()],
            expose: vec![DEFAULT_EXPOSE.into()],
            ..std::default::Default::default()
        }
    }
}

fn set(out: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        out.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str]) -> Rule {
        Rule {
            origins: origins.iter().map(|s| s.to_string()).collect(),
            methods: methods.iter().map(|s| s.to_string()).collect(),
            ..std::default::Default::default()
        }
    }

    fn ask<'a>(origin: &'a str, method: &'a str) -> Ask<'a> {
        Ask {
            origin,
            method,
            headers: Vec::new(),
        }
    }

    #[test]
    fn origins_methods_and_headers_must_all_match() {
        let rules = vec![
            rule(&["*suffix"], &["GET"]),
            rule(&["start*end"], &["GET"]),
            rule(&["*.put"], &["PUT"]),
        ];
        assert!(matching(&rules, &ask("foo.suffix", "GET")).is_some());
        assert!(matching(&rules, &ask("foo.suffix.get", "GET")).is_none());
        assert!(matching(&rules, &ask("startend", "GET")).is_some());
        assert!(matching(&rules, &ask("0start12end", "GET")).is_none());
        assert!(matching(&rules, &ask("foo.put", "GET")).is_none());
        assert!(matching(&rules, &ask("foo.put", "PUT")).is_some());
        let mut with_headers = ask("foo.suffix", "GET");
        with_headers.headers = vec!["x-amz-meta-a".into()];
        assert!(
            matching(&rules, &with_headers).is_none(),
            "headers not allowed"
        );
        let mut allowing = rules.clone();
        allowing[0].headers = vec!["X-Amz-*".into()];
        assert!(matching(&allowing, &with_headers).is_some());
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(validate(&[]).is_err());
        assert!(validate(&[rule(&["*"], &["PATCH"])]).is_err());
        assert!(validate(&[rule(&["*a*"], &["GET"])]).is_err());
        assert!(validate(&[rule(&[], &["GET"])]).is_err());
        assert!(validate(&[rule(&["https://app.example"], &["GET", "PUT"])]).is_ok());
    }

    #[test]
    fn wildcard_origin_is_answered_with_a_star() {
        let r = rule(&["*"], &["GET"]);
        let mut h = HeaderMap::new();
        grant(&r, &ask("https://x.example", "GET"), &mut h);
        assert_eq!(h["access-control-allow-origin"], "*");
        let r = rule(&["https://*.example"], &["GET", "PUT"]);
        let mut h = HeaderMap::new();
        grant(&r, &ask("https://x.example", "GET"), &mut h);
        assert_eq!(h["access-control-allow-origin"], "https://x.example");
        assert_eq!(h["access-control-allow-methods"], "GET, PUT");
    }
}
