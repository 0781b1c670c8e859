//! Policies: which request paths an identity may call.
//!
//! A pattern ending in `*` matches every path starting with the rest (crossing `/`);
//! any other pattern matches exactly; an empty pattern matches nothing. Deny wins over
//! allow; an identity without a policy may call nothing. This is the matching of
//! current KES (spec §3.3).

/// Allow and deny patterns of one policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<String>,
    deny: Vec<String>,
}

impl Policy {
    /// A policy from its patterns.
    pub fn new(allow: Vec<String>, deny: Vec<String>) -> Self {
        Self { allow, deny }
    }

    /// Allow patterns.
    pub fn allow(&self) -> &[String] {
        &self.allow
    }

    /// Deny patterns.
    pub fn deny(&self) -> &[String] {
        &self.deny
    }

    /// Whether this policy lets a request for `path` through.
    pub fn allows(&self, path: &str) -> bool {
        !self.deny.iter().any(|p| matches(p, path)) && self.allow.iter().any(|p| matches(p, path))
    }
}

/// Whether `pattern` matches `path`.
pub fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        _ if pattern.is_empty() => false,
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_exact_matching() {
        assert!(matches(
            "/v1/key/generate/minio-*",
            "/v1/key/generate/minio-k1"
        ));
        assert!(
            matches("/v1/key/*", "/v1/key/generate/x"),
            "prefix crosses /"
        );
        assert!(!matches(
            "/v1/key/generate/minio-*",
            "/v1/key/generate/other"
        ));
        assert!(matches("/v1/status", "/v1/status"));
        assert!(!matches("/v1/status", "/v1/status/x"));
        assert!(!matches("", ""));
        assert!(matches("*", "/anything"));
    }

    #[test]
    fn deny_wins() {
        let p = Policy::new(
            vec!["/v1/key/decrypt/minio*".into()],
            vec!["/v1/key/decrypt/minio-secret*".into()],
        );
        assert!(p.allows("/v1/key/decrypt/minio-k1"));
        assert!(!p.allows("/v1/key/decrypt/minio-secret1"));
        assert!(!p.allows("/v1/key/generate/minio-k1"));
        assert!(!Policy::default().allows("/v1/status"));
    }
}
