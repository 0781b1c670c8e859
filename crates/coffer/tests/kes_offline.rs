//! Keystore outages (spec kes-api.md §5.3): with `cache.expiry.offline` set, cached keys
//! keep serving generate/decrypt while create fails with 502 and ready says 504; without
//! it, keys expire as usual and requests fail with 502, never 404.

mod common;

use std::time::Duration;

use common::{kes_client, server_cert, start_kes, TempDir};
use kes_proto::apikey::ApiKey;

fn status(e: kms::Error) -> u16 {
    match e {
        kms::Error::Api(a) => a.status,
        other => panic!("not an API error: {other}"),
    }
}

async fn scenario(offline: &str) -> (Result<(), u16>, u16, u16) {
    let dir = TempDir::new("kes-offline");
    let (cert_path, key_path, cert) = server_cert(dir.path());
    let admin = ApiKey::generate().expect("key");
    let keys = dir.path().join("keys");
    let config = format!(
        "admin:\n  identity: {}\ntls:\n  key: {}\n  cert: {}\ncache:\n  expiry:\n    any: 1s\n    unused: 1s\n    offline: {offline}\nlog:\n  audit: off\n  error: off\nkeystore:\n  fs:\n    path: {}\n",
        admin.identity(),
        key_path.display(),
        cert_path.display(),
        keys.display()
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
    c.create_key("k").await.expect("create");
    c.generate("k", b"").await.expect("generate caches k");

    // The keystore disappears; a status call notices at once (the probe would in 10 s).
    std::fs::rename(&keys, dir.path().join("keys.away")).expect("move keystore away");
    let s = c.get_json("/v1/status").await.expect("status");
    assert_eq!(s["keystore_unreachable"], true);
    tokio::time::sleep(Duration::from_millis(2600)).await; // past the any/unused expiry

    let generate = match c.generate("k", b"ctx").await {
        Ok(dek) => {
            let pt = c
                .decrypt("k", &dek.ciphertext, b"ctx")
                .await
                .expect("decrypt while offline");
            assert_eq!(&pt[..], &dek.plaintext[..]);
            Ok(())
        }
        Err(e) => Err(status(e)),
    };
    let create = status(
        c.create_key("k2")
            .await
            .expect_err("create needs the keystore"),
    );
    let ready = c
        .send_to(
            &format!("https://{}", proc.addr),
            hyper::Method::GET,
            "/v1/ready",
            None,
        )
        .await
        .expect("ready")
        .status;
    (generate, create, ready)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_cache_keeps_serving_cached_keys() {
    let (generate, create, ready) = scenario("1h").await;
    assert_eq!(
        generate,
        Ok(()),
        "cached key served while the keystore is down"
    );
    assert_eq!(create, 502);
    assert_eq!(ready, 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_offline_cache_keys_expire_and_fail_with_502() {
    let (generate, create, ready) = scenario("0s").await;
    assert_eq!(
        generate,
        Err(502),
        "an unreachable keystore is a 502, not a 404"
    );
    assert_eq!(create, 502);
    assert_eq!(ready, 504);
}
