//! The key hierarchy of an encrypted object (spec/sse.md §2), byte-compatible with MinIO:
//!
//! ```text
//! EK  (external key: the SSE-C client key, or the KMS data key of SSE-S3 / SSE-KMS)
//!  └─ KEK = HMAC-SHA256(EK, IV ‖ domain ‖ "DAREv2-HMAC-SHA256" ‖ path.Join(bucket, object))
//!      └─ sealed key = DARE 2.0 stream of the OEK under KEK (one final package, 64 bytes)
//! OEK (object key: 32 random bytes, one per object)
//!  ├─ part key  = HMAC-SHA256(OEK, LE32(part number))      multipart data
//!  └─ ETag key  = HMAC-SHA256(OEK, "SSE-etag")              sealed ETags
//! ```
//!
//! Binding the KEK to bucket and object means a sealed key copied to another name does
//! not unseal: objects cannot be moved without re-sealing.

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

/// The seal algorithm written and read. Frozen.
pub const SEAL_ALGORITHM: &str = "DAREv2-HMAC-SHA256";
/// The legacy SSE-C seal algorithm (read only): KEK = SHA256(EK ‖ IV).
pub const INSECURE_SEAL_ALGORITHM: &str = "DARE-SHA256";
/// Length of a sealed object key: one DARE package of 32 bytes. Frozen.
pub const SEALED_KEY_SIZE: usize = 64;

/// A 32-byte secret that is zeroized on drop and never printed.
pub type Secret = Zeroizing<[u8; 32]>;

/// Fresh random bytes.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The system RNG only fails if the OS has none; sealing with zeros would be worse
    // than failing, so the caller checks `random_secret` instead for keys.
    let _ = aws_lc_rs::rand::fill(&mut b);
    b
}

/// A fresh random 32-byte secret, or `None` if the system RNG failed.
pub fn random_secret() -> Option<Secret> {
    let mut k = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut k[..]).ok()?;
    Some(k)
}

/// HMAC-SHA256 of the concatenated `parts` under `key`, kept in a buffer wiped on drop
/// (aws-lc's tag type is a plain copyable array).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Secret {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    let tag = ctx.sign();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(tag.as_ref());
    out
}

/// Go's `path.Join(bucket, object)`: joined with `/`, then lexically cleaned.
pub fn path_join(bucket: &str, object: &str) -> String {
    let joined = match (bucket.is_empty(), object.is_empty()) {
        (true, true) => return String::new(),
        (true, false) => object.to_string(),
        (false, true) => bucket.to_string(),
        (false, false) => format!("{bucket}/{object}"),
    };
    path_clean(&joined)
}

/// Go's `path.Clean`: collapses `//`, drops `.` segments, resolves `..` lexically,
/// strips a trailing `/`; an empty result is `.`.
pub fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// The key-encryption key for sealing an object key.
pub fn kek(ek: &[u8; 32], iv: &[u8; 32], domain: &str, bucket: &str, object: &str) -> Secret {
    let path = path_join(bucket, object);
    hmac_sha256(
        ek,
        &[
            iv,
            domain.as_bytes(),
            SEAL_ALGORITHM.as_bytes(),
            path.as_bytes(),
        ],
    )
}

/// Seals `oek` under the KEK with a random DARE nonce.
pub fn seal(kek: &Secret, oek: &Secret) -> Option<[u8; SEALED_KEY_SIZE]> {
    seal_with_nonce(kek, oek, random())
}

/// Seals `oek` with a chosen nonce (tests reproduce MinIO's vectors with it).
pub fn seal_with_nonce(
    kek: &Secret,
    oek: &Secret,
    nonce: [u8; 12],
) -> Option<[u8; SEALED_KEY_SIZE]> {
    let sealer = dare::Sealer::with_nonce(
        &dare::Key::new(**kek),
        dare::CipherSuite::Aes256Gcm,
        nonce,
        0,
    );
    let mut out = [0u8; SEALED_KEY_SIZE];
    let n = dare::encrypt_slice(sealer, &oek[..], &mut out).ok()?;
    (n == SEALED_KEY_SIZE).then_some(out)
}

/// Unseals an object key sealed with [`SEAL_ALGORITHM`]; `None` for a wrong key, wrong
/// name or damaged bytes (they cannot be told apart, by design).
pub fn unseal(kek: &Secret, sealed: &[u8]) -> Option<Secret> {
    let plain = Zeroizing::new(dare::decrypt_buffer(&dare::Key::new(**kek), 0, sealed).ok()?);
    let arr: [u8; 32] = plain.as_slice().try_into().ok()?;
    Some(Zeroizing::new(arr))
}

/// Unseals a legacy SSE-C object key ([`INSECURE_SEAL_ALGORITHM`], DARE 1.0 under
/// SHA256(client key ‖ IV)), as MinIO still reads them.
pub fn unseal_legacy(client_key: &[u8; 32], iv: &[u8; 32], sealed: &[u8]) -> Option<Secret> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(client_key);
    ctx.update(iv);
    let mut k = Zeroizing::new([0u8; 32]);
    k.copy_from_slice(ctx.finish().as_ref());
    unseal(&k, sealed)
}

/// The data key of part `number` of a multipart object.
pub fn part_key(oek: &Secret, number: u32) -> Secret {
    hmac_sha256(&oek[..], &[&number.to_le_bytes()])
}

/// The key ETags are sealed with.
pub fn etag_key(oek: &Secret) -> Secret {
    hmac_sha256(&oek[..], &[b"SSE-etag"])
}

/// The ETag of an SSE-C or SSE-KMS object or part: the first 16 bytes of
/// HMAC-SHA256(ETag key, MD5 of the plaintext), hex. MinIO shows the tag of the MD5
/// sealed under a random nonce (or of random bytes without `Content-MD5`), so its ETags
/// change on every upload; this one is stable for the same bytes under the same object
/// key and, like MinIO's, reveals nothing about the data without that key.
pub fn opaque_etag(oek: &Secret, md5: &[u8; 16]) -> String {
    hex::encode(&hmac_sha256(&etag_key(oek)[..], &[md5])[..16])
}

/// The key additional checksums of an encrypted object are sealed with.
pub fn checksum_key(oek: &Secret) -> Secret {
    hmac_sha256(&oek[..], &[b"object-checksum"])
}

/// Seals a small value (a checksum) under `key` as one DARE 2.0 stream.
pub fn seal_value(key: &Secret, value: &[u8]) -> Option<Vec<u8>> {
    let sealer = dare::Sealer::new(&dare::Key::new(**key), 0).ok()?;
    dare::encrypt_buffer(sealer, value).ok()
}

/// Opens a value sealed by [`seal_value`].
pub fn open_value(key: &Secret, sealed: &[u8]) -> Option<Vec<u8>> {
    dare::decrypt_buffer(&dare::Key::new(**key), 0, sealed).ok()
}

/// Seals an ETag (16 bytes) as MinIO stores SSE-S3 ETags: DARE 2.0 under the ETag key,
/// 48 bytes (96 hex characters).
pub fn seal_etag(oek: &Secret, etag: &[u8; 16]) -> Option<[u8; 48]> {
    seal_etag_with_nonce(oek, etag, random())
}

fn seal_etag_with_nonce(oek: &Secret, etag: &[u8; 16], nonce: [u8; 12]) -> Option<[u8; 48]> {
    let key = etag_key(oek);
    let sealer = dare::Sealer::with_nonce(
        &dare::Key::new(*key),
        dare::CipherSuite::Aes256Gcm,
        nonce,
        0,
    );
    let mut out = [0u8; 48];
    let n = dare::encrypt_slice(sealer, etag, &mut out).ok()?;
    (n == 48).then_some(out)
}

/// Whether a stored ETag is a sealed one (96 hex characters; a plain MD5 has 32, a
/// multipart ETag a `-`).
pub fn is_sealed_etag(stored: &str) -> bool {
    stored.len() == 96 && stored.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decrypts a sealed ETag; other ETags (plain MD5, multipart `…-N`) pass through
/// unchanged. `None` if a sealed ETag does not open.
pub fn open_etag(oek: &Secret, stored: &str) -> Option<String> {
    if stored.contains('-') || stored.len() < 64 {
        return Some(stored.to_string());
    }
    let raw = hex::decode(stored).ok()?;
    let plain = dare::decrypt_buffer(&dare::Key::new(*etag_key(oek)), 0, &raw).ok()?;
    Some(hex::encode(plain))
}

/// The MD5 of an SSE-C key, base64, as clients send it in `…-Customer-Key-MD5`.
pub fn customer_key_md5(key: &[u8; 32]) -> String {
    use base64::Engine;
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }
    fn arr(v: &[u8]) -> [u8; 32] {
        v.try_into().unwrap()
    }
    fn secret(hexs: &str) -> Secret {
        Zeroizing::new(arr(&hex::decode(hexs).unwrap()))
    }

    #[test]
    fn go_path_clean() {
        for (input, want) in [
            ("b/a//x/", "b/a/x"),
            ("b/./a", "b/a"),
            ("b/a/../c", "b/c"),
            ("b/../../c", "../c"),
            ("", "."),
            ("/a/../..", "/"),
            ("a/b/.", "a/b"),
        ] {
            assert_eq!(path_clean(input), want, "{input}");
        }
        assert_eq!(path_join("b", "a//x/"), "b/a/x");
        assert_eq!(path_join("mybucket", "myobject"), "mybucket/myobject");
    }

    #[test]
    fn part_keys_match_minio() {
        // sse.md §12.8 (MinIO TestDerivePartKey).
        let oek = Zeroizing::new([0u8; 32]);
        for (n, want) in [
            (
                0,
                "aa7855e13839dd767cd5da7c1ff5036540c9264b7a803029315e55375287b4af",
            ),
            (
                1,
                "a3e7181c6eed030fd52f79537c56c4d07da92e56d374ff1dd2043350785b37d8",
            ),
            (
                10000,
                "f86e65c396ed52d204ee44bd1a0bbd86eb8b01b7354e67a3b3ae0e34dd5bd115",
            ),
        ] {
            assert_eq!(hex::encode(*part_key(&oek, n)), want);
        }
    }

    #[test]
    fn etags_match_minio() {
        // sse.md §12.9 (MinIO TestDecryptETag).
        let oek = Zeroizing::new([0u8; 32]);
        let stored = "20000f00f27834c9a2654927546df57f9e998187496394d4ee80f3d9978f85f3c7d81f72600cdbe03d80dc5a13d69354";
        assert_eq!(
            open_etag(&oek, stored).unwrap(),
            "8ad3fe6b84bf38489e95c701c84355b6"
        );
        assert!(open_etag(&oek, &format!("00{}", &stored[2..])).is_none());
        assert!(open_etag(&oek, &stored[..95]).is_none());
        assert_eq!(
            open_etag(&oek, "916516b396f0f4d4f2a0e7177557bec4-738").unwrap(),
            "916516b396f0f4d4f2a0e7177557bec4-738"
        );
    }

    #[test]
    fn sse_c_vector() {
        // sse.md §12.10.
        let client = arr(&b64("MzJieXRlc2xvbmdzZWNyZXRrZXltdXN0cHJvdmlkZWQ="));
        let iv = [0x22u8; 32];
        let k = kek(&client, &iv, "SSE-C", "mybucket", "myobject");
        assert_eq!(
            hex::encode(*k),
            "f10950d5aa26a7aa2ae96631cc11d1f01325191a1116e8e35b911cfb38d5f6a9"
        );
        let oek = secret("b6ba4f9a3d868f8c079728950bf914cdd3db36063a878b92adc2f7221adb3db3");
        let sealed = seal_with_nonce(&k, &oek, [0x33; 12]).unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(sealed),
            "IAAfALMzMzMzMzMzMzMzM5PZd0hkVKH1sCKu/lvuLgxF8RxwZRBukN0eMJ3Zhc336Av8kirnAbFAbY10r5hf+A=="
        );
        assert_eq!(*unseal(&k, &sealed).unwrap(), *oek);
        for (domain, bucket, object) in [
            ("SSE-C", "mybucket", "Myobject"),
            ("SSE-C", "Mybucket", "myobject"),
            ("SSE-S3", "mybucket", "myobject"),
        ] {
            assert!(unseal(&kek(&client, &iv, domain, bucket, object), &sealed).is_none());
        }
        assert!(unseal(
            &kek(&[1; 32], &iv, "SSE-C", "mybucket", "myobject"),
            &sealed
        )
        .is_none());

        let data = dare::encrypt_buffer(
            dare::Sealer::with_nonce(
                &dare::Key::new(*oek),
                dare::CipherSuite::Aes256Gcm,
                [0x44; 12],
                0,
            ),
            b"hello",
        )
        .unwrap();
        assert_eq!(
            hex::encode(data),
            "20000400c44444444444444444444444af863611783d32d86f77157dda621fcbdea9d44a8a"
        );
        let md5: [u8; 16] = hex::decode("5d41402abc4b2a76b9719d911017c592")
            .unwrap()
            .try_into()
            .unwrap();
        let etag = seal_etag_with_nonce(&oek, &md5, [0x55; 12]).unwrap();
        assert_eq!(hex::encode(etag), "20000f00d5555555555555555555555590c91f8c1b47c0b108bafa7a33722005f90ee854eb045567d9f5a9eaabe53897");
    }

    #[test]
    fn sse_s3_vector() {
        // sse.md §12.11: the object-key part (the KMS part is tested in crates/kms).
        let dek = [0x11u8; 32];
        let k = kek(&dek, &[0x22; 32], "SSE-S3", "mybucket", "myobject");
        assert_eq!(
            hex::encode(*k),
            "bff01c50c4c9ce3ce862b8182881585c5c227bc725effd6d2edaf296bea47599"
        );
        let oek = secret("0a0276b96a36ef5800316774722f6ca854a1ec8f500483b5765392170240f2e7");
        let sealed = seal_with_nonce(&k, &oek, [0x33; 12]).unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(sealed),
            "IAAfALMzMzMzMzMzMzMzM9xyt12SxSE24tOiG1gxy8oYThuSZSa5LaVOhbxtZS+g2gI58FKlHPTjnOjB05ndmg=="
        );
    }

    #[test]
    fn customer_key_md5s() {
        // sse.md §12.15.
        for (key, md5) in [
            (
                "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=",
                "DWygnHRtgiJ77HCm+1rvHw==",
            ),
            (
                "6b+WOZ1T3cqZMxgThRcXAQBrS5mXKdDUphvpxptl9/4=",
                "arxBvwY2V4SiOne6yppVPQ==",
            ),
            (
                "MzJieXRlc2xvbmdzZWNyZXRrZXltdXN0cHJvdmlkZWQ=",
                "7PpPLAK26ONlVUGOWlusfg==",
            ),
        ] {
            assert_eq!(customer_key_md5(&arr(&b64(key))), md5);
        }
    }
}
