//! The KES wire formats: stored-key records of every era, data-key ciphertexts in all
//! three encodings, API keys, identities, names, timestamps, percent-escapes and the JSON
//! request bodies. Malformed input must give an error, never a panic.
#![no_main]

use kes_proto::{body, Algorithm, SecretKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kes_proto::StoredKey::decode(data);
    for alg in [Algorithm::Aes256, Algorithm::ChaCha20] {
        let key = SecretKey::new(alg, [3u8; 32]);
        let _ = key.decrypt(data, b"context");
    }
    let _ = serde_json::from_slice::<body::GenerateRequest>(data);
    let _ = serde_json::from_slice::<body::EncryptRequest>(data);
    let _ = serde_json::from_slice::<body::DecryptRequest>(data);
    let _ = serde_json::from_slice::<body::HmacRequest>(data);
    let _ = serde_json::from_slice::<body::ImportRequest>(data);
    let _ = kes_proto::ApiError::from_response(400, Some("application/json"), data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = kes_proto::ApiKey::parse(s);
        let _ = kes_proto::Identity::parse(s);
        let _ = kes_proto::is_valid_name(s);
        let _ = kes_proto::is_valid_pattern(s);
        let _ = kes_proto::pattern_prefix(s);
        let _ = kes_proto::Timestamp::parse_rfc3339(s);
        if let Some(d) = kes_proto::percent::decode(s) {
            assert!(kes_proto::percent::escapes_valid(s));
            assert!(d.len() <= s.len());
        }
        let _ = kes_proto::percent::decode_form(s);
        let _ = kes_proto::Algorithm::parse(s);
    }
});
