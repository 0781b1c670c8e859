//! The AWS SecretsManager keystore against a real moto server (`pip install
//! 'moto[server]'`): the shared keystore contract, KES's layout (secret name = key name,
//! SecretString = value), pagination, KMS key ids, and unreachable endpoints. Without
//! `moto_server` these tests fail, naming the install.

mod common;
mod moto;

use std::sync::Arc;

use keystore::aws::{AwsConfig, Credentials};
use keystore::{AwsSecretsManagerKeyStore, Error, KeyStore};
use moto::Moto;
use zeroize::Zeroizing;

const SECRET_KEY: &str = "moto-test-secret-key";
const TOKEN: &str = "moto-test-session-token";

fn config(endpoint: String, kms: Option<&str>) -> AwsConfig {
    AwsConfig {
        endpoint,
        region: "us-east-1".into(),
        kms_key_id: kms.map(str::to_string),
        credentials: Some(Credentials {
            access_key: "AKIDMOTOTEST".into(),
            secret_key: Zeroizing::new(SECRET_KEY.into()),
            session_token: Some(Zeroizing::new(TOKEN.into())),
        }),
    }
}

fn store(cfg: AwsConfig) -> Arc<AwsSecretsManagerKeyStore> {
    Arc::new(AwsSecretsManagerKeyStore::new(cfg).expect("aws keystore"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_secretsmanager_honours_the_keystore_contract() {
    let moto = Moto::start();
    let s = store(config(moto.url(), None));
    let debug = format!("{s:?} {:?}", config(moto.url(), None));
    assert!(
        !debug.contains(SECRET_KEY) && !debug.contains(TOKEN),
        "{debug}"
    );
    common::contract(s.clone()).await;

    for bad in ["", "a/b", "a b", "a?b"] {
        assert!(
            matches!(s.create(bad, b"x").await, Err(Error::InvalidName)),
            "{bad:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_secretsmanager_lists_across_pages_and_takes_a_kms_key() {
    let moto = Moto::start();
    let s = store(config(moto.url(), Some("alias/aws/secretsmanager")));
    let mut want = Vec::new();
    for i in 0..230 {
        let name = format!("key-{i:03}");
        s.create(&name, format!("v{i}").as_bytes())
            .await
            .expect("create");
        want.push(name);
    }
    s.create("other", b"x").await.expect("create");
    assert_eq!(s.list("key-").await.expect("list"), want);
    assert_eq!(s.list("").await.expect("list").len(), 231);
    assert_eq!(s.list("key-22").await.expect("list").len(), 10);
    // A name filter matching inside a name is not a prefix match.
    assert!(s.list("ther").await.expect("list").is_empty());
    assert_eq!(&s.get("key-007").await.expect("get")[..], b"v7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_unreachable_endpoint_is_unreachable_never_not_found() {
    let port = moto::free_port();
    let s = store(config(format!("http://127.0.0.1:{port}"), None));
    assert!(matches!(s.status().await, Err(Error::Unreachable(_))));
    assert!(matches!(
        s.create("k", b"x").await,
        Err(Error::Unreachable(_))
    ));
    assert!(matches!(s.get("k").await, Err(Error::Unreachable(_))));
    assert!(matches!(s.delete("k").await, Err(Error::Unreachable(_))));
    match s.list("").await {
        Err(Error::Unreachable(m)) => assert!(!m.contains(SECRET_KEY), "{m}"),
        other => panic!("list: {other:?}"),
    }

    // A server that stops while the store is in use.
    let mut moto = Moto::start();
    let s = store(config(moto.url(), None));
    s.create("k", b"x").await.expect("create");
    moto.stop();
    assert!(matches!(s.get("k").await, Err(Error::Unreachable(_))));
    assert!(matches!(s.status().await, Err(Error::Unreachable(_))));
}
