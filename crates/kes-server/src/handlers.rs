//! Route handlers. Each turns a [`Call`] into a response; errors are [`ApiError`]s with
//! the exact texts of spec §1.4–1.5, mapped to the wire in [`crate::server::error_response`].

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use kes_proto::body::{
    DecryptRequest, DecryptResponse, DescribeKeyResponse, EncryptRequest, EncryptResponse,
    GenerateRequest, GenerateResponse, HmacRequest, HmacResponse, ImportRequest, ListResponse,
};
use kes_proto::crypto::Algorithm;
use kes_proto::error::KeystoreOp;
use kes_proto::name::{is_valid_name, is_valid_pattern, pattern_prefix};
use kes_proto::stored::{StoredKey, Timestamp};
use kes_proto::ApiError;
use serde::Serialize;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use zeroize::Zeroizing;

use crate::cache::CacheError;
use crate::routes::Handler;
use crate::server::{empty, error_response, json, Body, Call, State};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Runs the handler of a route.
pub async fn run(handler: Handler, call: Call<'_>) -> Response<Body> {
    let result = match handler {
        Handler::Version => Ok(version()),
        Handler::Ready => ready(&call).await,
        Handler::Status => Ok(status(&call).await),
        Handler::Metrics => Ok(metrics(&call)),
        Handler::Api => Ok(api(&call)),
        Handler::KeyCreate => create(&call).await,
        Handler::KeyImport => import(&call).await,
        Handler::KeyDescribe => describe_key(&call).await,
        Handler::KeyDelete => delete(&call).await,
        Handler::KeyList => list(&call).await,
        Handler::KeyGenerate => generate(&call).await,
        Handler::KeyEncrypt => encrypt(&call).await,
        Handler::KeyDecrypt => decrypt(&call).await,
        Handler::KeyHmac => hmac(&call).await,
        Handler::PolicyDescribe => policy_describe(&call),
        Handler::PolicyRead => policy_read(&call),
        Handler::PolicyList => policy_list(&call),
        Handler::IdentityDescribe => identity_describe(&call),
        Handler::IdentityList => identity_list(&call),
        Handler::SelfDescribe => self_describe(&call),
        Handler::LogError => Ok(stream(call.state.logs.subscribe_error())),
        Handler::LogAudit => Ok(stream(call.state.logs.subscribe_audit())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

fn version() -> Response<Body> {
    #[derive(Serialize)]
    struct V {
        version: &'static str,
        commit: &'static str,
    }
    json(&V {
        version: env!("CARGO_PKG_VERSION"),
        commit: option_env!("COFFER_COMMIT").unwrap_or(""),
    })
}

fn key_name(call: &Call<'_>) -> Result<String> {
    if is_valid_name(call.resource) {
        Ok(call.resource.to_string())
    } else {
        Err(ApiError::invalid_key_name(call.resource))
    }
}

/// Maps a cache/keystore failure for `op`; internal causes go to the error log.
fn store_error(state: &State, op: KeystoreOp, name: &str, e: CacheError) -> ApiError {
    match e {
        CacheError::Store(keystore::Error::NotFound) => ApiError::KEY_NOT_FOUND,
        CacheError::Store(keystore::Error::AlreadyExists) => ApiError::KEY_EXISTS,
        CacheError::Store(keystore::Error::InvalidName) => ApiError::invalid_key_name(name),
        other => {
            state.log_error(&format!("key {name}: {other}"));
            sealed_or(ApiError::keystore(op), &other)
        }
    }
}

/// A sealed Vault is the one keystore failure a client can act on (ask an operator to
/// unseal), so its 502 says so: `<usual message>: key store is sealed`. Every other
/// failure keeps the exact KES message; its cause is only logged.
fn sealed_or(usual: ApiError, e: &CacheError) -> ApiError {
    match e {
        CacheError::Store(keystore::Error::Unreachable(m)) if m == keystore::vault::SEALED => {
            ApiError::new(
                usual.status,
                format!("{}: key store is sealed", usual.message),
            )
        }
        _ => usual,
    }
}

fn parse_body<'a, T: serde::Deserialize<'a> + Default>(
    body: &'a Bytes,
    err: ApiError,
) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|_| err)
}

async fn create(call: &Call<'_>) -> Result<Response<Body>> {
    let name = key_name(call)?;
    let key = StoredKey::generate(
        Algorithm::Aes256,
        call.identity.unwrap_or(""),
        Timestamp::now(),
    )
    .map_err(|_| ApiError::new(500, "failed to generate encryption key"))?;
    store_new(call, &name, &key).await
}

async fn store_new(call: &Call<'_>, name: &str, key: &StoredKey) -> Result<Response<Body>> {
    let value = Zeroizing::new(key.encode());
    call.state
        .cache
        .store()
        .create(name, value.as_bytes())
        .await
        .map_err(|e| store_error(call.state, KeystoreOp::Create, name, e.into()))?;
    Ok(empty())
}

async fn import(call: &Call<'_>) -> Result<Response<Body>> {
    let name = key_name(call)?;
    let req: ImportRequest =
        serde_json::from_slice(&call.body).map_err(|_| ApiError::invalid_import_body())?;
    let key = StoredKey::import(
        req.to_secret_key()?,
        call.identity.unwrap_or(""),
        Timestamp::now(),
    )
    .map_err(|_| ApiError::new(500, "failed to generate encryption key"))?;
    store_new(call, &name, &key).await
}

async fn load(call: &Call<'_>, name: &str) -> Result<std::sync::Arc<StoredKey>> {
    call.state
        .cache
        .get(name)
        .await
        .map_err(|e| store_error(call.state, KeystoreOp::Read, name, e))
}

async fn describe_key(call: &Call<'_>) -> Result<Response<Body>> {
    let name = key_name(call)?;
    let key = load(call, &name).await?;
    Ok(json(&DescribeKeyResponse {
        algorithm: key.key.algorithm(),
        created_at: key.created_at,
        created_by: key.created_by.clone().filter(|c| !c.is_empty()),
        name,
    }))
}

async fn delete(call: &Call<'_>) -> Result<Response<Body>> {
    let name = key_name(call)?;
    call.state
        .cache
        .delete(&name)
        .await
        .map_err(|e| store_error(call.state, KeystoreOp::Delete, &name, e.into()))?;
    Ok(empty())
}

/// Names per list page, as KES pages keystore listings.
const LIST_PAGE: usize = 1024;

async fn list(call: &Call<'_>) -> Result<Response<Body>> {
    if !is_valid_pattern(call.resource) {
        return Err(ApiError::invalid_pattern(call.resource));
    }
    let prefix = pattern_prefix(call.resource);
    let mut names = call
        .state
        .cache
        .store()
        .list(prefix)
        .await
        .map_err(|e| store_error(call.state, KeystoreOp::List, prefix, e.into()))?;
    let continue_at = if names.len() > LIST_PAGE {
        names
            .split_off(LIST_PAGE)
            .into_iter()
            .next()
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(json(&ListResponse { names, continue_at }))
}

async fn generate(call: &Call<'_>) -> Result<Response<Body>> {
    let name = key_name(call)?;
    let req: GenerateRequest = parse_body(&call.body, ApiError::invalid_request_body())?;
    let key = load(call, &name).await?;
    let mut dek = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut dek[..])
        .map_err(|_| ApiError::new(500, "failed to generate encryption key"))?;
    let ciphertext = key
        .key
        .encrypt(&dek[..], &req.context)
        .map_err(|_| ApiError::new(500, "failed to generate encryption key"))?;
    Ok(json(&GenerateResponse {
        plaintext: Zeroizing::new(dek.to_vec()),
        ciphertext,
    }))
}

async fn encrypt(call: &Call<'_>) -> Result<Response<Body>> {
    let name = key_name(call)?;
    let req: EncryptRequest =
        serde_json::from_slice(&call.body).map_err(|_| ApiError::invalid_request_body())?;
    let key = load(call, &name).await?;
    let ciphertext = key
        .key
        .encrypt(&req.plaintext, &req.context)
        .map_err(|_| ApiError::new(500, "failed to encrypt plaintext"))?;
    Ok(json(&EncryptResponse { ciphertext }))
}

async fn decrypt(call: &Call<'_>) -> Result<Response<Body>> {
    let name = key_name(call)?;
    let req: DecryptRequest =
        serde_json::from_slice(&call.body).map_err(|_| ApiError::invalid_request_body())?;
    let key = load(call, &name).await?;
    let plaintext = key
        .key
        .decrypt(&req.ciphertext, &req.context)
        .map_err(|_| ApiError::DECRYPT)?;
    Ok(json(&DecryptResponse { plaintext }))
}

async fn hmac(call: &Call<'_>) -> Result<Response<Body>> {
    let name = key_name(call)?;
    let req: HmacRequest =
        serde_json::from_slice(&call.body).map_err(|_| ApiError::invalid_request_body())?;
    let key = load(call, &name).await?;
    let mac = key
        .hmac(&req.message)
        .map_err(|_| ApiError::hmac_unsupported())?;
    Ok(json(&HmacResponse { hmac: mac.to_vec() }))
}

async fn ready(call: &Call<'_>) -> Result<Response<Body>> {
    match call.state.cache.store().status().await {
        Ok(_) => Ok(empty()),
        Err(keystore::Error::Unreachable(_)) => {
            Err(ApiError::new(504, "key store is not reachable"))
        }
        Err(_) => Err(ApiError::new(502, "key store is unavailable")),
    }
}

async fn status(call: &Call<'_>) -> Response<Body> {
    #[derive(Serialize)]
    struct S {
        version: &'static str,
        os: &'static str,
        arch: &'static str,
        uptime: u64,
        num_cpu: usize,
        num_cpu_used: usize,
        mem_heap_used: u64,
        mem_stack_used: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        keystore_latency: Option<u64>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        keystore_unreachable: bool,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        keystore_unavailable: bool,
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let probe = call.state.cache.store().status().await;
    let (latency, down) = match probe {
        Ok(s) => (Some((s.latency.as_millis() as u64).max(1)), false),
        Err(_) => (None, true),
    };
    call.state.offline.store(down, Ordering::Relaxed);
    json(&S {
        version: env!("CARGO_PKG_VERSION"),
        os: std::env::consts::OS,
        arch: go_arch(),
        uptime: call.state.metrics.uptime().as_secs(),
        num_cpu: cpus,
        num_cpu_used: cpus,
        mem_heap_used: crate::metrics::memory().0,
        mem_stack_used: 0,
        keystore_latency: latency,
        keystore_unreachable: down,
        keystore_unavailable: down,
    })
}

/// Go's name for this architecture (clients compare with `runtime.GOARCH` values).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn metrics(call: &Call<'_>) -> Response<Body> {
    let mut r = Response::new(crate::server::full(
        call.state.metrics.render(call.state.cache.len()),
    ));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

fn api(call: &Call<'_>) -> Response<Body> {
    #[derive(Serialize)]
    struct R<'a> {
        method: &'a str,
        path: &'a str,
        max_body: usize,
        timeout: u64,
    }
    let routes: Vec<R<'_>> = call
        .state
        .routes()
        .iter()
        .map(|r| R {
            method: r.method.as_str(),
            path: r.path,
            max_body: r.max_body,
            timeout: r.timeout.as_secs(),
        })
        .collect();
    json(&routes)
}

fn started(state: &State) -> String {
    let since = state
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(0),
        nanos: 0,
    }
    .to_rfc3339()
}

fn admin_string(state: &State) -> String {
    state.config.admin.clone().unwrap_or_default()
}

fn policy_name(call: &Call<'_>) -> Result<String> {
    if is_valid_name(call.resource) {
        Ok(call.resource.to_string())
    } else {
        Err(ApiError::invalid_policy_name(call.resource))
    }
}

fn policy_describe(call: &Call<'_>) -> Result<Response<Body>> {
    #[derive(Serialize)]
    struct D {
        name: String,
        created_at: String,
        created_by: String,
    }
    let name = policy_name(call)?;
    if !call.state.config.policies.contains_key(&name) {
        return Err(ApiError::POLICY_NOT_FOUND);
    }
    Ok(json(&D {
        name,
        created_at: started(call.state),
        created_by: admin_string(call.state),
    }))
}

type Rules = BTreeMap<String, serde_json::Map<String, serde_json::Value>>;

fn rules(patterns: &[String]) -> Rules {
    patterns
        .iter()
        .map(|p| (p.clone(), serde_json::Map::new()))
        .collect()
}

fn policy_read(call: &Call<'_>) -> Result<Response<Body>> {
    #[derive(Serialize)]
    struct P {
        name: String,
        allow: Rules,
        deny: Rules,
        created_at: String,
        created_by: String,
    }
    let name = policy_name(call)?;
    let policy = call
        .state
        .config
        .policies
        .get(&name)
        .ok_or(ApiError::POLICY_NOT_FOUND)?;
    Ok(json(&P {
        allow: rules(policy.allow()),
        deny: rules(policy.deny()),
        name,
        created_at: started(call.state),
        created_by: admin_string(call.state),
    }))
}

fn policy_list(call: &Call<'_>) -> Result<Response<Body>> {
    if !is_valid_pattern(call.resource) {
        return Err(ApiError::invalid_pattern(call.resource));
    }
    let prefix = pattern_prefix(call.resource);
    let names = call
        .state
        .config
        .policies
        .keys()
        .filter(|n| n.starts_with(prefix))
        .cloned()
        .collect();
    Ok(json(&ListResponse {
        names,
        continue_at: String::new(),
    }))
}

fn identity_describe(call: &Call<'_>) -> Result<Response<Body>> {
    #[derive(Serialize)]
    struct D {
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        admin: bool,
        #[serde(skip_serializing_if = "String::is_empty")]
        policy: String,
        created_at: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        created_by: String,
    }
    let id = call.resource;
    if id.is_empty() || !is_valid_name(id) {
        return Err(ApiError::invalid_identity(id));
    }
    let state = call.state;
    if state.config.admin.as_deref() == Some(id) {
        return Ok(json(&D {
            admin: true,
            policy: String::new(),
            created_at: started(state),
            created_by: String::new(),
        }));
    }
    let policy = state
        .config
        .identities
        .get(id)
        .ok_or(ApiError::IDENTITY_NOT_FOUND)?;
    Ok(json(&D {
        admin: false,
        policy: policy.clone(),
        created_at: started(state),
        created_by: admin_string(state),
    }))
}

fn identity_list(call: &Call<'_>) -> Result<Response<Body>> {
    #[derive(Serialize)]
    struct L {
        identities: Vec<String>,
        continue_at: String,
    }
    if !is_valid_pattern(call.resource) {
        return Err(ApiError::invalid_pattern(call.resource));
    }
    let prefix = pattern_prefix(call.resource);
    let mut ids: Vec<String> = call.state.config.identities.keys().cloned().collect();
    if let Some(admin) = &call.state.config.admin {
        ids.push(admin.clone());
    }
    ids.retain(|i| i.starts_with(prefix));
    ids.sort();
    ids.dedup();
    Ok(json(&L {
        identities: ids,
        continue_at: String::new(),
    }))
}

fn self_describe(call: &Call<'_>) -> Result<Response<Body>> {
    #[derive(Serialize)]
    struct D {
        identity: String,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        admin: bool,
        created_at: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        created_by: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        policy: String,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        allow: Rules,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        deny: Rules,
    }
    let state = call.state;
    let id = call
        .identity
        .ok_or_else(|| ApiError::new(400, "tls: client certificate is required"))?;
    let admin = state.config.admin.as_deref() == Some(id);
    let policy_name = state.config.identities.get(id).cloned().unwrap_or_default();
    let policy = state.config.policies.get(&policy_name);
    Ok(json(&D {
        identity: id.to_string(),
        admin,
        created_at: started(state),
        created_by: if admin {
            String::new()
        } else {
            admin_string(state)
        },
        allow: policy.map(|p| rules(p.allow())).unwrap_or_default(),
        deny: policy.map(|p| rules(p.deny())).unwrap_or_default(),
        policy: policy_name,
    }))
}

fn stream(rx: tokio::sync::broadcast::Receiver<Bytes>) -> Response<Body> {
    // A subscriber that falls behind skips the events it missed rather than stalling.
    let frames = BroadcastStream::new(rx)
        .filter_map(|item| item.ok())
        .map(|line| Ok::<_, std::convert::Infallible>(Frame::data(line)));
    let mut r = Response::new(http_body_util::combinators::UnsyncBoxBody::new(
        StreamBody::new(frames),
    ));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sealed_vault_changes_the_502_message() {
        let sealed =
            CacheError::Store(keystore::Error::Unreachable(keystore::vault::SEALED.into()));
        let e = sealed_or(ApiError::keystore(KeystoreOp::Create), &sealed);
        assert_eq!(e.status, 502);
        assert_eq!(e.message, "failed to create key: key store is sealed");
        let e = sealed_or(ApiError::keystore(KeystoreOp::Read), &sealed);
        assert_eq!(e.message, "failed to read key: key store is sealed");
        let down = CacheError::Store(keystore::Error::Unreachable(
            "vault at http://127.0.0.1:1: connection refused".into(),
        ));
        assert_eq!(
            sealed_or(ApiError::keystore(KeystoreOp::Create), &down),
            ApiError::keystore(KeystoreOp::Create)
        );
        let backend = CacheError::Store(keystore::Error::Backend("sealed envelope".into()));
        assert_eq!(
            sealed_or(ApiError::keystore(KeystoreOp::List), &backend),
            ApiError::keystore(KeystoreOp::List)
        );
    }
}
