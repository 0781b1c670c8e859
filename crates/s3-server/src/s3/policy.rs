//! Bucket policies: parsing, validation, and evaluation for requests that are neither the
//! root user's nor the bucket owner's (see [`super::PolicyAccess`]): such a request is
//! allowed only when the bucket's policy has a matching `Allow` for its principal and no
//! matching `Deny`.
//!
//! Supported: `Effect`, `Principal` (`*`, `{"AWS": "*"}`, or a user named by access key
//! or `arn:aws:iam::…:user/<access key>`), `Action`/`NotAction`,
//! `Resource`/`NotResource` with `*` and `?` wildcards, and `Condition` with the
//! operators `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
//! `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`, `IpAddress`,
//! `NotIpAddress`, `Bool`, `Null`, the `…IfExists` forms, on the keys `aws:SourceIp`,
//! `aws:SecureTransport`, `aws:UserAgent`, `aws:Referer`, `s3:prefix`, `s3:delimiter`,
//! `s3:max-keys`, `s3:x-amz-server-side-encryption`, `s3:ExistingObjectTag/<key>`,
//! `s3:RequestObjectTag/<key>` and any request header (`s3:x-amz-*`). A statement with an unknown operator never matches (fail closed for
//! Allow; for Deny it is rejected when the policy is stored).

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

/// Facts about a request that conditions can test.
#[derive(Debug, Default, Clone)]
pub struct RequestFacts {
    /// Client address.
    pub source_ip: Option<IpAddr>,
    /// Whether the connection is TLS.
    pub secure: bool,
    /// Condition key (lower case) → values.
    pub values: HashMap<String, Vec<String>>,
}

const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "IpAddress",
    "NotIpAddress",
    "Bool",
    "Null",
];

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::Bool(b)) => vec![b.to_string()],
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

/// Glob match with `*` (any run) and `?` (one character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Checks a policy document before it is stored; returns a reason when malformed.
pub fn validate(policy: &Value, bucket: &str) -> Result<(), String> {
    if let Some(v) = policy.get("Version").and_then(Value::as_str) {
        if v != "2012-10-17" && v != "2008-10-17" {
            return Err(format!("unsupported policy version {v}"));
        }
    }
    let stmts = statements(policy);
    if stmts.is_empty() {
        return Err("policy has no Statement".into());
    }
    for s in stmts {
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") | Some("Deny") => {}
            _ => return Err("each statement needs Effect Allow or Deny".into()),
        }
        if s.get("NotPrincipal").is_some() {
            // NotPrincipal with Allow is invalid in S3; with Deny it is not supported here,
            // and a Deny that is silently ignored would be a hole.
            return Err("NotPrincipal is not supported; name the principals in Principal".into());
        }
        if s.get("Principal").is_none() {
            return Err("each statement needs a Principal".into());
        }
        let actions = [list(s.get("Action")), list(s.get("NotAction"))].concat();
        if actions.is_empty()
            || actions
                .iter()
                .any(|a| !(a == "*" || a.to_ascii_lowercase().starts_with("s3:")))
        {
            return Err("actions must be s3:* actions".into());
        }
        let resources = [list(s.get("Resource")), list(s.get("NotResource"))].concat();
        if resources.is_empty() {
            return Err("each statement needs a Resource".into());
        }
        for r in resources {
            let Some(rest) = r.strip_prefix("arn:aws:s3:::") else {
                return Err(format!("resource {r} is not an S3 ARN"));
            };
            let b = rest.split('/').next().unwrap_or("");
            if !glob(b, bucket) {
                return Err(format!("resource {r} is outside bucket {bucket}"));
            }
        }
        if let Some(Value::Object(cond)) = s.get("Condition") {
            for op in cond.keys() {
                let base = op
                    .trim_start_matches("ForAnyValue:")
                    .trim_start_matches("ForAllValues:")
                    .trim_end_matches("IfExists");
                if !OPERATORS.contains(&base) {
                    return Err(format!("condition operator {op} is not supported"));
                }
            }
        }
    }
    Ok(())
}

/// Whether a statement's `Principal` names the caller: `*` names everyone (anonymous
/// included); a user is also named by its access key or an ARN ending in `:user/<key>`.
fn principal_matches(s: &Value, caller: Option<&str>) -> bool {
    let names = match s.get("Principal") {
        Some(Value::String(p)) => vec![p.clone()],
        Some(Value::Object(m)) => list(m.get("AWS")),
        _ => return false,
    };
    names.iter().any(|p| {
        p == "*"
            || caller.is_some_and(|c| {
                p == c || p.strip_suffix(c).is_some_and(|arn| arn.ends_with(":user/"))
            })
    })
}

fn matches_any(patterns: &[String], value: &str, ignore_case: bool) -> bool {
    patterns.iter().any(|p| {
        if ignore_case {
            glob(&p.to_ascii_lowercase(), &value.to_ascii_lowercase())
        } else {
            glob(p, value)
        }
    })
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let (net, bits) = cidr
        .split_once('/')
        .map_or((cidr, None), |(n, b)| (n, b.parse::<u32>().ok()));
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn facts_for(key: &str, facts: &RequestFacts) -> Option<Vec<String>> {
    match key.to_ascii_lowercase().as_str() {
        "aws:sourceip" => facts.source_ip.map(|i| vec![i.to_string()]),
        "aws:securetransport" => Some(vec![facts.secure.to_string()]),
        k => facts.values.get(k).cloned(),
    }
}

fn condition_holds(op: &str, key: &str, wanted: &[String], facts: &RequestFacts) -> bool {
    let if_exists = op.ends_with("IfExists");
    let base = op
        .trim_start_matches("ForAnyValue:")
        .trim_start_matches("ForAllValues:")
        .trim_end_matches("IfExists");
    let present = facts_for(key, facts);
    if base == "Null" {
        let want_null = wanted.iter().any(|w| w.eq_ignore_ascii_case("true"));
        return present.is_none() == want_null;
    }
    let Some(values) = present else {
        return if_exists || base.starts_with("StringNot") || base == "NotIpAddress";
    };
    let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
    match base {
        "StringEquals" => any(&|v| wanted.iter().any(|w| w == v)),
        "StringNotEquals" => !any(&|v| wanted.iter().any(|w| w == v)),
        "StringEqualsIgnoreCase" => any(&|v| wanted.iter().any(|w| w.eq_ignore_ascii_case(v))),
        "StringNotEqualsIgnoreCase" => !any(&|v| wanted.iter().any(|w| w.eq_ignore_ascii_case(v))),
        "StringLike" => any(&|v| matches_any(wanted, v, false)),
        "StringNotLike" => !any(&|v| matches_any(wanted, v, false)),
        "IpAddress" => any(&|v| {
            v.parse()
                .is_ok_and(|ip| wanted.iter().any(|c| cidr_contains(c, ip)))
        }),
        "NotIpAddress" => !any(&|v| {
            v.parse()
                .is_ok_and(|ip| wanted.iter().any(|c| cidr_contains(c, ip)))
        }),
        "Bool" => any(&|v| wanted.iter().any(|w| w.eq_ignore_ascii_case(v))),
        _ => false,
    }
}

fn statement_applies(
    s: &Value,
    caller: Option<&str>,
    action: &str,
    resource: &str,
    facts: &RequestFacts,
) -> bool {
    if !principal_matches(s, caller) {
        return false;
    }
    let action_ok = match (s.get("Action"), s.get("NotAction")) {
        (Some(a), _) => matches_any(&list(Some(a)), action, true),
        (None, Some(n)) => !matches_any(&list(Some(n)), action, true),
        _ => false,
    };
    let resource_ok = match (s.get("Resource"), s.get("NotResource")) {
        (Some(r), _) => matches_any(&list(Some(r)), resource, false),
        (None, Some(n)) => !matches_any(&list(Some(n)), resource, false),
        _ => false,
    };
    if !(action_ok && resource_ok) {
        return false;
    }
    match s.get("Condition") {
        None => true,
        Some(Value::Object(cond)) => cond.iter().all(|(op, keys)| match keys {
            Value::Object(keys) => keys
                .iter()
                .all(|(k, v)| condition_holds(op, k, &list(Some(v)), facts)),
            _ => false,
        }),
        Some(_) => false,
    }
}

/// Whether `policy` lets `caller` (an access key; `None` if anonymous) do `action` on
/// `resource`: some `Allow` matches and no `Deny` does.
pub fn allows(
    policy: &Value,
    caller: Option<&str>,
    action: &str,
    resource: &str,
    facts: &RequestFacts,
) -> bool {
    let mut allowed = false;
    for s in statements(policy) {
        if statement_applies(s, caller, action, resource, facts) {
            match s.get("Effect").and_then(Value::as_str) {
                Some("Deny") => return false,
                Some("Allow") => allowed = true,
                _ => {}
            }
        }
    }
    allowed
}

/// The IAM action of an S3 operation (by s3s operation name).
pub fn action_of(op: &str) -> Option<&'static str> {
    Some(match op {
        "GetObject" | "HeadObject" | "GetObjectAttributes" => "s3:GetObject",
        "PutObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "s3:PutObject",
        "DeleteObject" | "DeleteObjects" => "s3:DeleteObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "ListParts" => "s3:ListMultipartUploadParts",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "s3:ListBucket",
        "ListObjectVersions" => "s3:ListBucketVersions",
        "GetBucketLocation" => "s3:GetBucketLocation",
        "GetObjectTagging" => "s3:GetObjectTagging",
        "PutObjectTagging" => "s3:PutObjectTagging",
        "DeleteObjectTagging" => "s3:DeleteObjectTagging",
        "GetBucketPolicy" => "s3:GetBucketPolicy",
        "PutBucketPolicy" => "s3:PutBucketPolicy",
        "DeleteBucketPolicy" => "s3:DeleteBucketPolicy",
        "GetBucketTagging" => "s3:GetBucketTagging",
        "GetBucketCors" => "s3:GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "s3:PutBucketCORS",
        "PutBucketTagging" | "DeleteBucketTagging" => "s3:PutBucketTagging",
        "GetBucketVersioning" => "s3:GetBucketVersioning",
        "GetPublicAccessBlock" => "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "s3:PutBucketPublicAccessBlock",
        "GetBucketPolicyStatus" => "s3:GetBucketPolicyStatus",
        "GetBucketAcl" => "s3:GetBucketAcl",
        "PutBucketAcl" => "s3:PutBucketAcl",
        "GetObjectAcl" => "s3:GetObjectAcl",
        "PutObjectAcl" => "s3:PutObjectAcl",
        "GetBucketOwnershipControls" => "s3:GetBucketOwnershipControls",
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => {
            "s3:PutBucketOwnershipControls"
        }
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => {
            "s3:PutLifecycleConfiguration"
        }
        "PutBucketVersioning" => "s3:PutBucketVersioning",
        "GetObjectLockConfiguration" => "s3:GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "s3:PutBucketObjectLockConfiguration",
        "GetObjectRetention" => "s3:GetObjectRetention",
        "PutObjectRetention" => "s3:PutObjectRetention",
        "GetObjectLegalHold" => "s3:GetObjectLegalHold",
        "PutObjectLegalHold" => "s3:PutObjectLegalHold",
        _ => return None,
    })
}

/// The action an object operation needs when the request names a version.
pub fn version_action(action: &str) -> Option<&'static str> {
    Some(match action {
        "s3:GetObject" => "s3:GetObjectVersion",
        "s3:DeleteObject" => "s3:DeleteObjectVersion",
        "s3:GetObjectTagging" => "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging" => "s3:PutObjectVersionTagging",
        "s3:DeleteObjectTagging" => "s3:DeleteObjectVersionTagging",
        "s3:GetObjectAcl" => "s3:GetObjectVersionAcl",
        "s3:PutObjectAcl" => "s3:PutObjectVersionAcl",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-zA-Z0-9:*/$.{}-]{0,20}".prop_map(serde_json::Value::from),
            prop_oneof![
                Just("Allow"),
                Just("Deny"),
                Just("s3:GetObject"),
                Just("arn:aws:s3:::b/*"),
                Just("*"),
                Just("2012-10-17"),
                Just("StringEquals"),
                Just("aws:SecureTransport")
            ]
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("Version".to_string()),
                        Just("Statement".to_string()),
                        Just("Effect".to_string()),
                        Just("Principal".to_string()),
                        Just("Action".to_string()),
                        Just("Resource".to_string()),
                        Just("Condition".to_string()),
                        Just("NotAction".to_string()),
                        Just("AWS".to_string()),
                        "[a-zA-Z:]{1,12}"
                    ],
                    inner,
                    0..5,
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

        /// Arbitrary policy documents are accepted or refused with a message, never a panic.
        #[test]
        fn validate_never_panics(doc in json_value()) {
            let _ = super::validate(&doc, "bucket");
        }

        /// Globs never panic, and `*` matches everything.
        #[test]
        fn glob_never_panics(p in "[a-z*?/]{0,12}", t in "[a-z/]{0,16}") {
            let _ = super::glob(&p, &t);
            prop_assert!(super::glob("*", &t));
        }
    }

    use super::*;

    fn facts(ip: &str) -> RequestFacts {
        RequestFacts {
            source_ip: ip.parse().ok(),
            ..Default::default()
        }
    }

    #[test]
    fn globbing() {
        assert!(glob("arn:aws:s3:::b/public/*", "arn:aws:s3:::b/public/x/y"));
        assert!(!glob("arn:aws:s3:::b/public/*", "arn:aws:s3:::b/private/x"));
        assert!(glob("s3:Get*", "s3:GetObject"));
        assert!(glob("a?c", "abc") && !glob("a?c", "abbc"));
        assert!(glob("*", ""));
    }

    #[test]
    fn allow_deny_and_conditions() {
        let p: Value = serde_json::from_str(
            r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"],
               "Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}},
              {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret/*"}]}"#,
        )
        .expect("json");
        assert!(validate(&p, "b").is_ok());
        assert!(validate(&p, "other").is_err());
        assert!(allows(
            &p,
            None,
            "s3:GetObject",
            "arn:aws:s3:::b/x",
            &facts("127.0.0.1")
        ));
        assert!(!allows(
            &p,
            None,
            "s3:GetObject",
            "arn:aws:s3:::b/x",
            &facts("10.1.2.3")
        ));
        assert!(!allows(
            &p,
            None,
            "s3:GetObject",
            "arn:aws:s3:::b/secret/x",
            &facts("127.0.0.1")
        ));
        assert!(!allows(
            &p,
            None,
            "s3:PutObject",
            "arn:aws:s3:::b/x",
            &facts("127.0.0.1")
        ));
    }

    #[test]
    fn malformed_policies_are_refused() {
        for bad in [
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:Run","Resource":"arn:aws:s3:::b/*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"Weird":{"a":"b"}}}]}"#,
            r#"{"Version":"2030-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        ] {
            let v: Value = serde_json::from_str(bad).expect("json");
            assert!(validate(&v, "b").is_err(), "{bad}");
        }
    }
}
