//! Every test vector of the spec's §3.1, §4.3 and §4.4, read from `tests/data/*.txt`.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use aws_lc_rs::{aead, digest, hmac};
use base64::Engine as _;
use kes_proto::{
    Algorithm, ApiError, ApiKey, Error, Identity, SecretKey, StoredKey, Timestamp,
    ED25519_SPKI_PREFIX,
};

/// Parses `NAME = value` lines; `_TEXT` values stay text, `_B64` are base64, others hex.
fn load(file: &str) -> HashMap<String, Vec<u8>> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(" = ").unwrap();
        let bytes = if name.ends_with("_TEXT") {
            value.as_bytes().to_vec()
        } else if name.ends_with("_B64") {
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .unwrap()
        } else {
            hex::decode(value).unwrap()
        };
        assert!(
            out.insert(name.to_owned(), bytes).is_none(),
            "duplicate {name}"
        );
    }
    out
}

struct Aead(HashMap<String, Vec<u8>>);

impl Aead {
    fn load() -> Aead {
        Aead(load("aead.txt"))
    }
    fn get(&self, name: &str) -> &[u8] {
        self.0.get(name).unwrap_or_else(|| panic!("missing {name}"))
    }
    fn arr<const N: usize>(&self, name: &str) -> [u8; N] {
        self.get(name).try_into().unwrap()
    }
    fn key(&self, alg: Algorithm) -> SecretKey {
        SecretKey::new(alg, self.arr("K"))
    }
}

/// Decrypt, wrong-AD and tamper tests for one ciphertext vector.
macro_rules! decrypt_vector {
    ($test:ident, $vector:literal, $alg:expr) => {
        #[test]
        fn $test() {
            let v = Aead::load();
            let key = v.key($alg);
            let ct = v.get($vector);
            let ad = v.get("AD_TEXT");
            assert_eq!(key.decrypt(ct, ad).unwrap().as_slice(), v.get("DEK"));
            assert_eq!(key.decrypt(ct, b"").unwrap_err(), Error::Decrypt);
            assert_eq!(key.decrypt(ct, b"{}x").unwrap_err(), Error::Decrypt);
            assert_eq!(
                key.decrypt(ct, b"").unwrap_err().to_api_error(),
                ApiError::DECRYPT
            );
            for i in [0, ct.len() / 2, ct.len() - 1] {
                let mut bad = ct.to_vec();
                bad[i] ^= 0x80;
                assert_eq!(
                    key.decrypt(&bad, ad).unwrap_err(),
                    Error::Decrypt,
                    "byte {i}"
                );
            }
            for n in [0, 1, 28, 29, ct.len() - 1] {
                let short = ct.get(..n).unwrap();
                assert_eq!(
                    key.decrypt(short, ad).unwrap_err(),
                    Error::Decrypt,
                    "len {n}"
                );
            }
        }
    };
}

decrypt_vector!(raw_aes_decrypts, "RAW_AES_B64", Algorithm::Aes256);
decrypt_vector!(raw_chacha_decrypts, "RAW_CHACHA_B64", Algorithm::ChaCha20);
decrypt_vector!(json_aes_decrypts, "JSON_AES_TEXT", Algorithm::Aes256);
decrypt_vector!(msgpack_aes_decrypts, "MSGPACK_AES_B64", Algorithm::Aes256);

#[test]
fn raw_vectors_encrypt_deterministically() {
    let v = Aead::load();
    for (alg, vector) in [
        (Algorithm::Aes256, "RAW_AES_B64"),
        (Algorithm::ChaCha20, "RAW_CHACHA_B64"),
    ] {
        let ct =
            v.key(alg)
                .encrypt_with(v.get("DEK"), v.get("AD_TEXT"), v.arr("IV"), v.arr("NONCE"));
        assert_eq!(ct, v.get(vector), "{alg}");
        assert_eq!(ct.len(), 76);
    }
}

#[test]
fn legacy_vectors_need_the_keys_algorithm() {
    // HEAD ignores the algorithm named in legacy ciphertexts and uses the key's.
    let v = Aead::load();
    let chacha = v.key(Algorithm::ChaCha20);
    for vector in ["JSON_AES_TEXT", "MSGPACK_AES_B64", "RAW_AES_B64"] {
        let err = chacha.decrypt(v.get(vector), v.get("AD_TEXT")).unwrap_err();
        assert_eq!(err, Error::Decrypt, "{vector}");
    }
}

#[test]
fn derived_sealing_keys() {
    let v = Aead::load();
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, v.get("K")), v.get("IV"));
    assert_eq!(tag.as_ref(), v.get("HMAC_SHA256_K_IV"));

    // Each sealing key, used directly with its AEAD, reproduces the raw vector's sealed part;
    // the HChaCha20 function itself is checked against HCHACHA20_K_IV in its unit test.
    for (alg, sealing_key, vector) in [
        (&aead::AES_256_GCM, "HMAC_SHA256_K_IV", "RAW_AES_B64"),
        (&aead::CHACHA20_POLY1305, "HCHACHA20_K_IV", "RAW_CHACHA_B64"),
    ] {
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(alg, v.get(sealing_key)).unwrap());
        let mut buf = v.get("DEK").to_vec();
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(v.arr("NONCE")),
            aead::Aad::from(v.get("AD_TEXT")),
            &mut buf,
        )
        .unwrap();
        assert_eq!(buf.as_slice(), &v.get(vector)[..48], "{sealing_key}");
    }
}

#[test]
fn key_id() {
    let v = Aead::load();
    let id = std::str::from_utf8(v.get("KEY_ID_TEXT")).unwrap();
    assert_eq!(v.key(Algorithm::Aes256).key_id(), id);
    // The id is also what the MessagePack vector carries.
    let msgpack = v.get("MSGPACK_AES_B64");
    assert!(msgpack.windows(id.len()).any(|w| w == id.as_bytes()));
}

fn text(map: &HashMap<String, Vec<u8>>, name: &str) -> String {
    String::from_utf8(map[name].clone()).unwrap()
}

#[test]
fn api_key_identity() {
    let v = load("identity.txt");
    let key = ApiKey::parse(&text(&v, "API_KEY_TEXT")).unwrap();
    let want = text(&v, "IDENTITY_TEXT");
    assert_eq!(key.identity().as_str(), want);

    // Independently: SHA-256 over the Ed25519 SPKI DER prefix and the public key.
    assert_eq!(
        ED25519_SPKI_PREFIX.as_slice(),
        v["ED25519_SPKI_PREFIX"].as_slice()
    );
    let mut spki = v["ED25519_SPKI_PREFIX"].clone();
    spki.extend_from_slice(&key.public_key());
    assert_eq!(hex::encode(digest::digest(&digest::SHA256, &spki)), want);
    assert_eq!(Identity::of_spki(&spki).as_str(), want);

    // And through a certificate, as a server sees it.
    let (cert, _) = key.certificate(90).unwrap();
    assert_eq!(kes_proto::leaf_identity(&[cert]).unwrap().as_str(), want);
}

#[test]
fn e4_protobuf_record() {
    let v = load("stored-key.txt");
    let record = v["E4_PROTOBUF_TEXT"].as_slice();
    let key = StoredKey::decode(record).unwrap();
    assert_eq!(
        key.key,
        SecretKey::new(Algorithm::Aes256, v["K"].as_slice().try_into().unwrap())
    );
    assert_eq!(
        key.hmac_key.as_ref().unwrap().as_bytes().as_slice(),
        v["HMAC_KEY"].as_slice()
    );
    assert_eq!(
        key.created_at.unwrap().to_rfc3339(),
        text(&v, "CREATED_AT_TEXT")
    );
    assert_eq!(
        key.created_by.as_deref(),
        Some(text(&v, "CREATED_BY_TEXT").as_str())
    );
    assert_eq!(
        key.hmac(&v["HMAC_MESSAGE_TEXT"]).unwrap().as_slice(),
        v["HMAC_OUTPUT"].as_slice()
    );
    assert_eq!(key.encode().as_bytes(), record);

    // Built from its parts, the record encodes to the same text.
    let created_at = Timestamp::parse_rfc3339(&text(&v, "CREATED_AT_TEXT")).unwrap();
    let built = StoredKey {
        key: SecretKey::new(Algorithm::Aes256, v["K"].as_slice().try_into().unwrap()),
        hmac_key: Some(kes_proto::HmacKey::new(
            v["HMAC_KEY"].as_slice().try_into().unwrap(),
        )),
        created_at: Some(created_at),
        created_by: Some(text(&v, "CREATED_BY_TEXT")),
    };
    assert_eq!(built.encode().as_bytes(), record);

    let a = Aead::load();
    let dek = key
        .key
        .decrypt(a.get("RAW_AES_B64"), a.get("AD_TEXT"))
        .unwrap();
    assert_eq!(dek.as_slice(), a.get("DEK"));
}

#[test]
fn legacy_json_records() {
    let v = load("stored-key.txt");
    let a = Aead::load();
    let cases = [
        ("E1_JSON_TEXT", Algorithm::Aes256, "RAW_AES_B64", true),
        (
            "E3_JSON_AES_TEXT",
            Algorithm::Aes256,
            "MSGPACK_AES_B64",
            false,
        ),
        (
            "E3_JSON_CHACHA_TEXT",
            Algorithm::ChaCha20,
            "RAW_CHACHA_B64",
            false,
        ),
        (
            "E3_JSON_NO_ALGORITHM_TEXT",
            Algorithm::Aes256,
            "JSON_AES_TEXT",
            true,
        ),
    ];
    for (record, alg, vector, anonymous) in cases {
        let key = StoredKey::decode(&v[record]).unwrap();
        assert_eq!(key.key.algorithm(), alg, "{record}");
        assert_eq!(key.key.as_bytes().as_slice(), v["K"].as_slice());
        assert_eq!(key.hmac(b"x").unwrap_err(), Error::HmacUnsupported);
        assert_eq!(key.hmac_key, None);
        if anonymous {
            assert_eq!(
                (key.created_at, key.created_by.as_deref()),
                (None, None),
                "{record}"
            );
        } else {
            assert_eq!(
                key.created_at.unwrap().to_rfc3339(),
                text(&v, "CREATED_AT_TEXT")
            );
            assert_eq!(key.created_by.unwrap(), text(&v, "CREATED_BY_TEXT"));
        }
        let dek = key.key.decrypt(a.get(vector), a.get("AD_TEXT")).unwrap();
        assert_eq!(dek.as_slice(), a.get("DEK"), "{record}");
    }
}
