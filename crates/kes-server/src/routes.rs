//! The route table: every endpoint with its methods, body limit, deadline and kind of
//! authentication (spec §1.2, §2). Requests are resolved against it before anything
//! else happens.

use std::time::Duration;

use hyper::Method;

/// What a route needs from the client before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Nothing (`/version`).
    None,
    /// A client certificate; the identity is not checked against policies.
    Cert,
    /// The admin identity, or an identity whose policy allows the path.
    Policy,
}

/// Which handler serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Handler {
    Version,
    Ready,
    Status,
    Metrics,
    Api,
    KeyCreate,
    KeyImport,
    KeyDescribe,
    KeyDelete,
    KeyList,
    KeyGenerate,
    KeyEncrypt,
    KeyDecrypt,
    KeyHmac,
    PolicyDescribe,
    PolicyRead,
    PolicyList,
    IdentityDescribe,
    IdentityList,
    SelfDescribe,
    LogError,
    LogAudit,
}

/// One endpoint.
#[derive(Debug, Clone)]
pub struct Route {
    /// Path; ends with `/` for routes that take a resource (key name, pattern, …).
    pub path: &'static str,
    /// The method `/v1/api` reports and 405 answers name.
    pub method: Method,
    /// Whether POST is accepted as well as PUT (kms-go uses POST, `kes` tools PUT).
    pub also_post: bool,
    /// Largest request body.
    pub max_body: usize,
    /// Deadline; zero for the log streams.
    pub timeout: Duration,
    /// Authentication.
    pub auth: Auth,
    /// Handler.
    pub handler: Handler,
}

impl Route {
    /// Whether `method` is accepted.
    pub fn accepts(&self, method: &Method) -> bool {
        *method == self.method || (self.also_post && *method == Method::POST)
    }

    /// Whether the route takes a resource after its path.
    pub fn is_prefix(&self) -> bool {
        self.path.ends_with('/')
    }
}

/// Body limit of routes with a JSON body: 1 MB, as current KES.
pub const MAX_BODY: usize = 1_000_000;

const S10: Duration = Duration::from_secs(10);
const S15: Duration = Duration::from_secs(15);

const fn route(
    path: &'static str,
    method: Method,
    body: usize,
    timeout: Duration,
    auth: Auth,
    handler: Handler,
) -> Route {
    Route {
        path,
        also_post: matches!(method, Method::PUT),
        method,
        max_body: body,
        timeout,
        auth,
        handler,
    }
}

/// The routes of the key server.
pub fn table() -> Vec<Route> {
    use Auth::*;
    use Handler::*;
    let get = || Method::GET;
    let put = || Method::PUT;
    vec![
        route("/version", get(), 0, S10, None, Version),
        route("/v1/ready", get(), 0, S15, Policy, Ready),
        route("/v1/status", get(), 0, S15, Policy, Status),
        route("/v1/metrics", get(), 0, S15, Policy, Metrics),
        route("/v1/api", get(), 0, S10, Policy, Api),
        route("/v1/key/create/", put(), 0, S15, Policy, KeyCreate),
        route("/v1/key/import/", put(), MAX_BODY, S15, Policy, KeyImport),
        route("/v1/key/describe/", get(), 0, S15, Policy, KeyDescribe),
        route("/v1/key/delete/", Method::DELETE, 0, S15, Policy, KeyDelete),
        route("/v1/key/list/", get(), 0, S15, Policy, KeyList),
        route(
            "/v1/key/generate/",
            put(),
            MAX_BODY,
            S15,
            Policy,
            KeyGenerate,
        ),
        route("/v1/key/encrypt/", put(), MAX_BODY, S15, Policy, KeyEncrypt),
        route("/v1/key/decrypt/", put(), MAX_BODY, S15, Policy, KeyDecrypt),
        route("/v1/key/hmac/", put(), MAX_BODY, S15, Policy, KeyHmac),
        route(
            "/v1/policy/describe/",
            get(),
            0,
            S15,
            Policy,
            PolicyDescribe,
        ),
        route("/v1/policy/read/", get(), 0, S15, Policy, PolicyRead),
        route("/v1/policy/list/", get(), 0, S15, Policy, PolicyList),
        route(
            "/v1/identity/describe/",
            get(),
            0,
            S15,
            Policy,
            IdentityDescribe,
        ),
        route("/v1/identity/list/", get(), 0, S15, Policy, IdentityList),
        route(
            "/v1/identity/self/describe",
            get(),
            0,
            S15,
            Cert,
            SelfDescribe,
        ),
        route("/v1/log/error", get(), 0, Duration::ZERO, Policy, LogError),
        route("/v1/log/audit", get(), 0, Duration::ZERO, Policy, LogAudit),
    ]
}

/// Whether `path` names a route (as `api.<path>` config keys do; with or without the
/// trailing `/` of prefix routes).
pub fn is_route_path(path: &str) -> bool {
    table()
        .iter()
        .any(|r| r.path == path || r.path.strip_suffix('/') == Some(path))
}

/// Finds the route of a (decoded) request path and its resource. `/v1/key/list` and the
/// other list routes without their slash are served as if it were there (Go's mux
/// redirects them); the returned path is the canonical one policies are checked against.
pub fn resolve<'a>(routes: &'a [Route], path: &str) -> Option<(&'a Route, String, String)> {
    for r in routes {
        if r.is_prefix() {
            if let Some(resource) = path.strip_prefix(r.path) {
                return Some((r, path.to_string(), resource.to_string()));
            }
            if Some(path) == r.path.strip_suffix('/') && r.path.contains("/list/") {
                return Some((r, r.path.to_string(), String::new()));
            }
        } else if r.path == path {
            return Some((r, path.to_string(), String::new()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_resolves_paths() {
        let t = table();
        let cases = [
            ("/version", Some((Handler::Version, ""))),
            (
                "/v1/key/create/minio-k1",
                Some((Handler::KeyCreate, "minio-k1")),
            ),
            ("/v1/key/list/minio*", Some((Handler::KeyList, "minio*"))),
            ("/v1/key/list", Some((Handler::KeyList, ""))),
            ("/v1/key/list/", Some((Handler::KeyList, ""))),
            (
                "/v1/identity/self/describe",
                Some((Handler::SelfDescribe, "")),
            ),
            ("/v1/log/audit", Some((Handler::LogAudit, ""))),
            ("/v1/key/create", None),
            ("/v1/keys", None),
            ("/", None),
        ];
        for (path, want) in cases {
            let got = resolve(&t, path).map(|(r, _, res)| (r.handler, res));
            assert_eq!(got, want.map(|(h, r)| (h, r.to_string())), "{path}");
        }
        let (_, canonical, _) = resolve(&t, "/v1/key/list").expect("list");
        assert_eq!(canonical, "/v1/key/list/");
    }

    #[test]
    fn methods() {
        let t = table();
        let create = t
            .iter()
            .find(|r| r.handler == Handler::KeyCreate)
            .expect("create");
        assert!(create.accepts(&Method::PUT) && create.accepts(&Method::POST));
        assert!(!create.accepts(&Method::GET));
        let status = t
            .iter()
            .find(|r| r.handler == Handler::Status)
            .expect("status");
        assert!(!status.accepts(&Method::POST));
    }
}
