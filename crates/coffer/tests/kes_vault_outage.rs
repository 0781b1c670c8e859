//! `coffer kes server` on an OpenBao keystore through outages (spec kes-api.md §5.2–5.3):
//! OpenBao (a real server with raft storage, so its data survives) is killed, then
//! started again and unsealed, then sealed and unsealed — while the key server keeps
//! running. Offline caching keeps cached keys serving, stateful calls fail with 502
//! (naming a sealed Vault), `/v1/status` reports the keystore unreachable, and service
//! resumes by itself without restarting the key server.

mod common;
#[path = "../../keystore/tests/openbao/mod.rs"]
mod openbao;

use std::time::{Duration, Instant};

use common::{kes_client, server_cert, start_kes, TempDir};
use kes_proto::apikey::ApiKey;
use kms::KesClient;
use serde_json::json;

const POLICY: &str = r#"
path "kv/data/minio/*" { capabilities = ["create", "read"] }
path "kv/metadata/minio/*" { capabilities = ["delete", "list"] }
"#;

fn api_error(e: kms::Error) -> (u16, String) {
    match e {
        kms::Error::Api(a) => (a.status, a.message.to_string()),
        other => panic!("not an API error: {other}"),
    }
}

/// Generate and decrypt with `key` (served from the cache while OpenBao is away).
async fn round_trip(c: &KesClient, key: &str) {
    let dek = c.generate(key, b"ctx").await.expect("generate");
    let pt = c
        .decrypt(key, &dek.ciphertext, b"ctx")
        .await
        .expect("decrypt");
    assert_eq!(&pt[..], &dek.plaintext[..]);
}

async fn keystore_down(c: &KesClient) -> bool {
    let s = c.get_json("/v1/status").await.expect("status");
    s["keystore_unreachable"] == json!(true)
}

/// Bounded wait (30 s) until the key server reports a healthy keystore and creates `key`.
async fn resumes(c: &KesClient, key: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if !keystore_down(c).await && c.create_key(key).await.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "key server did not resume {what} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openbao_outage_and_seal_then_service_resumes_by_itself() {
    let mut bao = openbao::OpenBao::start_persistent();
    bao.enable_kv("kv", 2);
    bao.policy("kes", POLICY);
    let (role_id, secret_id) = bao.approle("kes", "kes", json!({}));

    let dir = TempDir::new("kes-vault-outage");
    let (cert_path, key_path, cert) = server_cert(dir.path());
    let admin = ApiKey::generate().expect("key");
    let config = format!(
        "admin:\n  identity: {}\ntls:\n  key: {}\n  cert: {}\ncache:\n  expiry:\n    any: 1h\n    unused: 6s\n    offline: 1h\nlog:\n  audit: off\n  error: on\nkeystore:\n  vault:\n    endpoint: {}\n    engine: kv\n    version: v2\n    prefix: minio\n    approle:\n      id: {role_id}\n      secret: {secret_id}\n      retry: 1s\n    status:\n      ping: 1s\n",
        admin.identity(),
        key_path.display(),
        cert_path.display(),
        bao.url(),
    );
    let cfg = dir.path().join("config.yml");
    std::fs::write(&cfg, config).expect("config");
    let proc = start_kes(&[
        "--config",
        cfg.to_str().expect("utf-8"),
        "--addr",
        "127.0.0.1:0",
    ]);
    let c = kes_client(&proc.addr, &admin, &cert);
    c.create_key("minio-k").await.expect("create");
    round_trip(&c, "minio-k").await;
    assert!(!keystore_down(&c).await);

    // OpenBao goes away.
    bao.stop();
    assert!(
        keystore_down(&c).await,
        "status reports the keystore unreachable"
    );
    // Past the unused expiry: without offline caching the key would be gone.
    tokio::time::sleep(Duration::from_millis(7000)).await;
    round_trip(&c, "minio-k").await;
    let (status, message) = api_error(c.create_key("minio-new").await.expect_err("down"));
    assert_eq!((status, message.as_str()), (502, "failed to create key"));
    let (status, _) = api_error(c.generate("minio-never", b"").await.expect_err("uncached"));
    assert_eq!(status, 502, "an unreachable keystore is never a 404");

    // It comes back (same storage, unsealed by its operator): no restart of ours.
    bao.restart();
    resumes(&c, "minio-new", "after OpenBao restarted").await;
    round_trip(&c, "minio-new").await;

    // Sealed: 502 saying so, cached keys still serve, status is unreachable. (The key is
    // used just before: the unused sweep, every 3 s, evicts only keys unused across two
    // sweeps, so it is still cached when status notices and offline caching begins.)
    round_trip(&c, "minio-k").await;
    bao.seal();
    assert!(keystore_down(&c).await);
    let (status, message) = api_error(c.create_key("minio-sealed").await.expect_err("sealed"));
    assert_eq!(status, 502);
    assert!(message.contains("sealed"), "{message}");
    round_trip(&c, "minio-k").await;
    let (status, message) = api_error(c.generate("minio-never", b"").await.expect_err("uncached"));
    assert_eq!(status, 502);
    assert!(message.contains("sealed"), "{message}");

    bao.unseal();
    resumes(&c, "minio-sealed", "after unseal").await;
    round_trip(&c, "minio-sealed").await;

    let logs = proc.stderr.lock().expect("lines").join("\n");
    assert!(logs.contains("sealed"), "the error log names the cause");
    assert!(!logs.contains(&secret_id), "secret ID in the server log");
    assert!(!logs.contains(&bao.token), "root token in the server log");
}
