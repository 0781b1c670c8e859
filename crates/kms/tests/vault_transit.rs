//! The Vault transit backend against a real OpenBao dev server, configured the way an
//! operator of MinIO's old Vault KMS did: transit key with `derived=true`, an AppRole whose
//! policy allows data keys and decryption, and the `MINIO_KMS_VAULT_*` variables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bao;

use std::collections::HashMap;
use std::sync::Arc;

use bao::Bao;
use kms::{Context, ErrorKind, Kms};
use serde_json::json;

const POLICY: &str = r#"
path "transit/datakey/plaintext/*" { capabilities = ["update"] }
path "transit/decrypt/*" { capabilities = ["update"] }
path "transit/keys" { capabilities = ["list"] }
path "transit/keys/*" { capabilities = ["create", "read", "update"] }
"#;

/// Mounts transit with a derived key `minio-key`, and an AppRole `coffer` with [`POLICY`];
/// returns (role_id, secret_id).
fn set_up(bao: &Bao, ns: Option<&str>) -> (String, String) {
    bao.call_ns(
        ns,
        "POST",
        "sys/mounts/transit",
        Some(json!({"type": "transit"})),
    );
    bao.call_ns(
        ns,
        "POST",
        "transit/keys/minio-key",
        Some(json!({"derived": true})),
    );
    bao.call_ns(
        ns,
        "PUT",
        "sys/policies/acl/coffer",
        Some(json!({ "policy": POLICY })),
    );
    bao.call_ns(
        ns,
        "POST",
        "sys/auth/approle",
        Some(json!({"type": "approle"})),
    );
    bao.call_ns(
        ns,
        "POST",
        "auth/approle/role/coffer",
        Some(json!({"token_policies": ["coffer"]})),
    );
    let id = bao.call_ns(ns, "GET", "auth/approle/role/coffer/role-id", None);
    let secret = bao.call_ns(
        ns,
        "POST",
        "auth/approle/role/coffer/secret-id",
        Some(json!({})),
    );
    (
        id["data"]["role_id"].as_str().unwrap().to_string(),
        secret["data"]["secret_id"].as_str().unwrap().to_string(),
    )
}

async fn connect(vars: &[(&str, String)]) -> Arc<dyn Kms> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let cfg = kms::from_env(|k| map.get(k).cloned())
        .unwrap()
        .expect("a Vault configuration");
    kms::connect(cfg).await.unwrap()
}

fn vars(bao: &Bao, role: &(String, String)) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("MINIO_KMS_VAULT_ENDPOINT", bao.url()),
        ("MINIO_KMS_VAULT_AUTH_TYPE", "approle".into()),
        ("MINIO_KMS_VAULT_APPROLE_ID", role.0.clone()),
        ("MINIO_KMS_VAULT_APPROLE_SECRET", role.1.clone()),
        ("MINIO_KMS_VAULT_KEY_NAME", "minio-key".into()),
    ];
    if let Some(ca) = &bao.ca {
        v.push(("MINIO_KMS_VAULT_CAPATH", ca.display().to_string()));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_keys_keys_and_token_renewal() {
    let Some(bao) = Bao::start(false) else { return };
    let role = set_up(&bao, None);
    let kms = connect(&vars(&bao, &role)).await;
    assert_eq!(kms.kind(), "Vault transit");
    kms::self_test(kms.as_ref()).await.unwrap();

    // A data key bound to the object's context.
    let ctx = Context::object("mybucket", "mybucket/myobject");
    let dek = kms.generate("minio-key", &ctx).await.unwrap();
    assert_eq!(dek.key_id, "minio-key");
    assert!(dek.ciphertext.starts_with(b"vault:v1:"), "{:?}", dek);
    let pt = kms
        .decrypt("minio-key", &dek.ciphertext, &ctx)
        .await
        .unwrap();
    assert_eq!(*pt, *dek.plaintext);
    for wrong in [
        Context::new(),
        Context::object("mybucket", "mybucket/other"),
    ] {
        let e = kms
            .decrypt("minio-key", &dek.ciphertext, &wrong)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidCiphertext, "{e}");
    }
    let e = kms
        .decrypt("minio-key", b"\x00garbage", &ctx)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidCiphertext);
    let e = kms.generate("no-such-key", &ctx).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyNotFound, "{e}");

    // Keys: created derived, listed by pattern.
    kms.create_key("minio-new").await.unwrap();
    let e = kms.create_key("minio-new").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyExists);
    let info = bao.call("GET", "transit/keys/minio-new", None);
    assert_eq!(info["data"]["derived"], json!(true));
    assert_eq!(
        kms.list_keys("*").await.unwrap(),
        ["minio-key", "minio-new"]
    );
    assert_eq!(kms.list_keys("minio-n*").await.unwrap(), ["minio-new"]);
    assert_eq!(kms.status().await.unwrap(), [(bao.url(), true)]);

    // Revoking every AppRole token: the next call gets 403, logs in again and succeeds.
    bao.call("PUT", "sys/leases/revoke-prefix/auth/approle/login", None);
    let again = kms.generate("minio-key", &ctx).await.unwrap();
    assert_eq!(
        *kms.decrypt("minio-key", &again.ciphertext, &ctx)
            .await
            .unwrap(),
        *again.plaintext
    );

    // MINIO_KMS_VAULT_KEY_VERSION pins new data keys to a key version.
    bao.call("POST", "transit/keys/minio-key/rotate", None);
    let latest = kms.generate("minio-key", &ctx).await.unwrap();
    assert!(latest.ciphertext.starts_with(b"vault:v2:"));
    let mut pinned_vars = vars(&bao, &role);
    pinned_vars.push(("MINIO_KMS_VAULT_KEY_VERSION", "1".into()));
    let pinned = connect(&pinned_vars).await;
    let old = pinned.generate("minio-key", &ctx).await.unwrap();
    assert!(old.ciphertext.starts_with(b"vault:v1:"));
    for d in [&latest, &old, &dek] {
        assert_eq!(
            *pinned
                .decrypt("minio-key", &d.ciphertext, &ctx)
                .await
                .unwrap(),
            *d.plaintext
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_fail_without_showing_them() {
    let Some(bao) = Bao::start(false) else { return };
    let role = set_up(&bao, None);
    let wrong = (role.0.clone(), "00000000-hunter2-0000".to_string());
    let kms = connect(&vars(&bao, &wrong)).await;
    let e = kms::self_test(kms.as_ref()).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("AppRole login"), "{text}");
    assert!(!text.contains("hunter2") && !format!("{e:?} {kms:?}").contains("hunter2"));

    // A server that is down is unavailable, and offline in the status.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut down_vars = vars(&bao, &role);
    down_vars[0].1 = format!("http://127.0.0.1:{port}");
    let down = connect(&down_vars).await;
    let e = down
        .generate("minio-key", &Context::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(!down.status().await.unwrap()[0].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_capath_and_a_namespace() {
    let Some(bao) = Bao::start(true) else { return };
    // OpenBao namespaces: everything below lives in `team-a`.
    bao.call("POST", "sys/namespaces/team-a", Some(json!({})));
    let role = set_up(&bao, Some("team-a"));
    let mut v = vars(&bao, &role);
    v.push(("MINIO_KMS_VAULT_NAMESPACE", "team-a".into()));
    let kms = connect(&v).await;
    kms::self_test(kms.as_ref()).await.unwrap();
    let ctx = Context::object("b", "b/o");
    let dek = kms.generate("minio-key", &ctx).await.unwrap();
    assert_eq!(
        *kms.decrypt("minio-key", &dek.ciphertext, &ctx)
            .await
            .unwrap(),
        *dek.plaintext
    );

    // Without the namespace the key and the role do not exist.
    let outside = connect(&vars(&bao, &role)).await;
    assert!(outside.generate("minio-key", &ctx).await.is_err());
}
