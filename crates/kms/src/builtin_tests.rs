//! Tests of the built-in KMS, with the vectors of spec `sse.md` §12 items 11 and 12.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;

use super::*;
use crate::ErrorKind;

const SECRET_KEY: &str = "my-key:eEm+JI9/q4JhH8QwKvf3LKo4DEBl6QbfvAl1CAbMIv8=";

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn kms() -> BuiltinKms {
    BuiltinKms::from_secret_key(SECRET_KEY).unwrap()
}

#[tokio::test]
async fn vector_12_11_seals_exactly_and_binds_the_context() {
    let kms = kms();
    let ctx = Context::object("mybucket", "mybucket/myobject");
    let iv: [u8; 16] = std::array::from_fn(|i| i as u8);
    let nonce: [u8; 12] = std::array::from_fn(|i| 0x10 + i as u8);
    let sealed = kms.seal(&[0x11; 32], &ctx, iv, nonce);
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&sealed),
        "rj/qEkxQQeIaxikejwrBXoKYTKnFbOV9/uFBliWzKl+VzSoftUwdc916kiw7zkFWAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="
    );
    assert_eq!(sealed.len(), 76);
    let dek = kms.decrypt("my-key", &sealed, &ctx).await.unwrap();
    assert_eq!(*dek, [0x11; 32]);
    for wrong in [
        Context::new(),
        Context::object("mybucket", "mybucket/other"),
    ] {
        let err = kms.decrypt("my-key", &sealed, &wrong).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidCiphertext);
    }
    let err = kms.decrypt("other", &sealed, &ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound);
}

#[tokio::test]
async fn vector_12_12_legacy_json_decrypts() {
    let kms = kms();
    // MinIO's TestDecryptKey vectors (internal/kms): ChaCha20-Poly1305 under HChaCha20(K, iv).
    let cases = [
        (
            r#"{"aead":"ChaCha20Poly1305","iv":"JbI+vwvYww1lCb5VpkAFuQ==","nonce":"ARjIjJxBSD541Gz8","bytes":"KCbEc2sA0TLvA7aWTWa23AdccVfJMpOxwgG8hm+4PaNrxYfy1xFWZg2gEenVrOgv"}"#,
            Context::new(),
            "zmS7NrG765UZ0ZN85oPjybelxqVvpz01vxsSpOISy2M=",
        ),
        (
            r#"{"aead":"ChaCha20Poly1305","iv":"r4+yfiVbVIYR0Z2I9Fq+6g==","nonce":"2YpwGwE59GcVraI3","bytes":"k/svMglOU7/Kgwv73heG38NWW575XLcFp3SaxQHDMjJGYyRI3Fiygu2OeutGPXNL"}"#,
            Context::object("key", "value"),
            "UnPWsZgVI+T4L9WGNzFlP1PsP1Z6hn2Fx8ISeZfDGnA=",
        ),
    ];
    for (ciphertext, ctx, plaintext) in cases {
        let dek = kms
            .decrypt("my-key", ciphertext.as_bytes(), &ctx)
            .await
            .unwrap();
        assert_eq!(dek.to_vec(), b64(plaintext));
        let other = Context::object("key", "other");
        let err = kms
            .decrypt("my-key", ciphertext.as_bytes(), &other)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidCiphertext);
        // The cipher is the one the JSON names.
        let as_aes = ciphertext.replace("ChaCha20Poly1305", "AES-256-GCM-HMAC-SHA-256");
        assert!(kms
            .decrypt("my-key", as_aes.as_bytes(), &ctx)
            .await
            .is_err());
    }
}

#[tokio::test]
async fn legacy_json_aes_round_trip() {
    // A JSON blob in the AES form, built from a binary one (same crypto, other framing).
    let kms = kms();
    let ctx = Context::object("b", "b/o");
    let sealed = kms.seal(&[7; 32], &ctx, [1; 16], [2; 12]);
    let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let json = format!(
        r#"{{"aead":"AES-256-GCM-HMAC-SHA-256","id":"x","iv":"{}","nonce":"{}","bytes":"{}"}}"#,
        enc(&sealed[48..64]),
        enc(&sealed[64..]),
        enc(&sealed[..48])
    );
    assert_eq!(
        *kms.decrypt("my-key", json.as_bytes(), &ctx).await.unwrap(),
        [7; 32]
    );
}

#[tokio::test]
async fn generate_round_trips_and_tampering_fails() {
    let kms = kms();
    let ctx = Context::object("b", "b/o");
    let a = kms.generate("my-key", &ctx).await.unwrap();
    let b = kms.generate("my-key", &ctx).await.unwrap();
    assert_eq!(a.key_id, "my-key");
    assert_eq!(a.ciphertext.len(), 76);
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_ne!(*a.plaintext, *b.plaintext);
    assert_eq!(
        *kms.decrypt("my-key", &a.ciphertext, &ctx).await.unwrap(),
        *a.plaintext
    );
    for i in [0, 47, 48, 75] {
        let mut bad = a.ciphertext.clone();
        bad[i] ^= 1;
        let err = kms.decrypt("my-key", &bad, &ctx).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidCiphertext, "byte {i}");
    }
    for short in [&b""[..], b"{}", &a.ciphertext[..28]] {
        let err = kms.decrypt("my-key", short, &ctx).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidCiphertext);
    }
    assert_eq!(
        kms.generate("nope", &ctx).await.unwrap_err().kind(),
        ErrorKind::KeyNotFound
    );
}

#[tokio::test]
async fn legacy_master_key_seals_with_dare() {
    let hex_key = "6d793f9e0c1b5c6b2f0e55e6c0a2d3c4b5a697887766554433221100ffeeddcc";
    let kms = BuiltinKms::from_master_key(&format!("master:{hex_key}")).unwrap();
    assert!(kms.is_legacy_master_key());
    let ctx = Context::object("b", "b/o");
    let dek = kms.generate("master", &ctx).await.unwrap();
    assert_eq!(dek.ciphertext.len(), 64);
    assert_eq!(dek.ciphertext[0], 0x20, "DARE 2.0");
    assert_eq!(
        *kms.decrypt("master", &dek.ciphertext, &ctx).await.unwrap(),
        *dek.plaintext
    );
    let err = kms
        .decrypt("master", &dek.ciphertext, &Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidCiphertext);

    // Independent derivation: HMAC-SHA256(K, name ‖ context) opens the package.
    let k = hex::decode(hex_key).unwrap();
    let mac = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &k),
        b"master{\"b\":\"b/o\"}",
    );
    let dare_key = dare::Key::from_slice(mac.as_ref()).unwrap();
    let opened = dare::decrypt_buffer(&dare_key, 0, &dek.ciphertext).unwrap();
    assert_eq!(opened.as_slice(), dek.plaintext.as_slice());

    // The same bytes as a secret key also open the secret-key format.
    let secret = BuiltinKms::new("master", k.try_into().unwrap());
    let sealed = secret.seal(&[9; 32], &ctx, [3; 16], [4; 12]);
    assert_eq!(
        *kms.decrypt("master", &sealed, &ctx).await.unwrap(),
        [9; 32]
    );
}

#[test]
fn parse_errors_never_show_the_key() {
    let secret = "c2VjcmV0LWtleS10aGF0LWlzLW5vdC0zMi1ieXRlcw==";
    for bad in [
        "no-colon".to_string(),
        format!(":{secret}"),
        format!("k:{secret}"),
        "k:%%hunter2%%".to_string(),
    ] {
        let err = BuiltinKms::from_secret_key(&bad).unwrap_err().to_string();
        assert!(!err.contains(secret) && !err.contains("hunter2"), "{err}");
    }
    let err = BuiltinKms::from_master_key("k:abcd")
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 bytes") && !err.contains("abcd"), "{err}");
    assert!(BuiltinKms::from_master_key("k:zz").is_err());
    // Surrounding whitespace (a trailing newline in a file) is fine.
    assert_eq!(
        BuiltinKms::from_secret_key(&format!("{SECRET_KEY}\n"))
            .unwrap()
            .name(),
        "my-key"
    );
}

#[test]
fn secret_key_string_round_trips_and_debug_is_redacted() {
    let kms = kms();
    assert_eq!(kms.to_secret_key_string().as_str(), SECRET_KEY);
    let dbg = format!("{kms:?}");
    assert!(dbg.contains("my-key") && !dbg.contains("eEm+"), "{dbg}");
}

#[tokio::test]
async fn key_management_of_a_single_key() {
    let kms = kms();
    assert_eq!(kms.kind(), "MinIO builtin");
    assert_eq!(kms.default_key(), "my-key");
    assert_eq!(
        kms.create_key("my-key").await.unwrap_err().kind(),
        ErrorKind::KeyExists
    );
    assert_eq!(
        kms.create_key("other").await.unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    assert_eq!(kms.list_keys("*").await.unwrap(), ["my-key"]);
    assert_eq!(kms.list_keys("my-*").await.unwrap(), ["my-key"]);
    assert!(kms.list_keys("other*").await.unwrap().is_empty());
    assert_eq!(
        kms.status().await.unwrap(),
        [("127.0.0.1".to_string(), true)]
    );
}
