//! Private keys in PEM files encrypted the legacy OpenSSL way, as MinIO reads them for
//! `MINIO_KMS_KES_KEY_PASSWORD` (Go's `x509.DecryptPEMBlock`):
//!
//! ```text
//! -----BEGIN EC PRIVATE KEY-----          (or RSA PRIVATE KEY)
//! Proc-Type: 4,ENCRYPTED
//! DEK-Info: AES-256-CBC,<IV, 32 hex digits>
//!
//! base64(AES-CBC(key, IV, PKCS#7-padded DER))
//! -----END EC PRIVATE KEY-----
//!
//! key = D1 ‖ D2 ‖ …  truncated to the cipher's key length, where
//! D1 = MD5(password ‖ IV[..8]),  Di = MD5(Di-1 ‖ password ‖ IV[..8])   (EVP_BytesToKey)
//! ```
//!
//! AES-128/192/256-CBC are read; DES and 3DES are refused, as are encrypted PKCS#8 files
//! (`ENCRYPTED PRIVATE KEY`), which Go cannot read either. An unencrypted key is returned
//! as it is, so a password set for a plain key is harmless.

use aws_lc_rs::cipher::{PaddedBlockDecryptingKey, UnboundCipherKey, AES_128, AES_192, AES_256};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use zeroize::Zeroizing;

/// Reads the first private key of `pem`, decrypting it with `password` when it is
/// encrypted. Errors name what is wrong, never the password.
pub(crate) fn decrypt_private_key(
    pem: &[u8],
    password: &str,
) -> Result<PrivateKeyDer<'static>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file".to_string())?;
    let block = first_key_block(text).ok_or("no private key in the file")?;
    if block.label == "ENCRYPTED PRIVATE KEY" {
        return Err(
            "encrypted PKCS#8 keys are not supported; decrypt it with `openssl pkcs8` \
             or re-encrypt it with `openssl ec|rsa -aes256 -traditional`"
                .into(),
        );
    }
    let Some(dek_info) = block.header("DEK-Info") else {
        return PrivateKeyDer::from_pem_slice(pem).map_err(|e| e.to_string());
    };
    let body = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(block.body.as_bytes())
            .map_err(|_| "the key's base64 is invalid".to_string())?,
    );
    let der = decrypt_block(dek_info, password, &body)?;
    match block.label {
        "RSA PRIVATE KEY" => Ok(PrivatePkcs1KeyDer::from(der.to_vec()).into()),
        "EC PRIVATE KEY" => Ok(PrivateSec1KeyDer::from(der.to_vec()).into()),
        "PRIVATE KEY" => Ok(PrivatePkcs8KeyDer::from(der.to_vec()).into()),
        other => Err(format!("unsupported key type '{other}'")),
    }
}

/// Whether the first private key of `pem` is encrypted (legacy or PKCS#8).
pub(crate) fn is_encrypted(pem: &[u8]) -> bool {
    let Some(block) = std::str::from_utf8(pem).ok().and_then(first_key_block) else {
        return false;
    };
    block.label == "ENCRYPTED PRIVATE KEY" || block.header("DEK-Info").is_some()
}

/// One PEM block whose label ends in `PRIVATE KEY`.
struct Block<'a> {
    label: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: String,
}

impl Block<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

fn first_key_block(text: &str) -> Option<Block<'_>> {
    let mut lines = text.lines().map(str::trim);
    let label = loop {
        let line = lines.next()?;
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            if label.ends_with("PRIVATE KEY") {
                break label;
            }
        }
    };
    let mut headers = Vec::new();
    let mut body = String::new();
    for line in lines {
        if line.starts_with("-----END ") {
            return Some(Block {
                label,
                headers,
                body,
            });
        }
        match line.split_once(':') {
            Some((k, v)) if body.is_empty() => headers.push((k.trim(), v.trim())),
            _ => body.push_str(line),
        }
    }
    None
}

fn decrypt_block(
    dek_info: &str,
    password: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let (cipher, iv_hex) = dek_info
        .split_once(',')
        .ok_or("malformed DEK-Info header")?;
    let (algorithm, key_len) = match cipher.trim() {
        "AES-128-CBC" => (&AES_128, 16),
        "AES-192-CBC" => (&AES_192, 24),
        "AES-256-CBC" => (&AES_256, 32),
        other => {
            return Err(format!(
                "PEM encryption {other} is not supported (AES-128/192/256-CBC are)"
            ))
        }
    };
    let iv: [u8; 16] = hex::decode(iv_hex.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or("malformed IV in the DEK-Info header")?;
    let key = derive_key(password.as_bytes(), &iv[..8], key_len);
    let wrong = || "cannot decrypt the key: wrong MINIO_KMS_KES_KEY_PASSWORD?".to_string();
    let key = UnboundCipherKey::new(algorithm, &key).map_err(|_| wrong())?;
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| wrong())?;
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let context = aws_lc_rs::cipher::DecryptionContext::Iv128(iv.into());
    let len = key
        .decrypt(buf.as_mut_slice(), context)
        .map_err(|_| wrong())?
        .len();
    buf.truncate(len);
    // A wrong password passes the padding check one time in 256; the DER check catches it.
    if !is_der_sequence(&buf) {
        return Err(wrong());
    }
    Ok(buf)
}

/// Whether `b` is exactly one DER SEQUENCE (what every private key format is).
fn is_der_sequence(b: &[u8]) -> bool {
    let (Some(&0x30), Some(&first)) = (b.first(), b.get(1)) else {
        return false;
    };
    let (len, header) = match first {
        0..=0x7f => (usize::from(first), 2),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let Some(bytes) = b.get(2..2 + n) else {
                return false;
            };
            (
                bytes
                    .iter()
                    .fold(0usize, |acc, &x| (acc << 8) | usize::from(x)),
                2 + n,
            )
        }
        _ => return false,
    };
    header + len == b.len()
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one iteration.
fn derive_key(password: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Option<Zeroizing<[u8; 16]>> = None;
    while key.len() < len {
        let mut h = Md5::new();
        if let Some(p) = &prev {
            h.update(p.as_slice());
        }
        h.update(password);
        h.update(salt);
        let mut d = Zeroizing::new([0u8; 16]);
        d.copy_from_slice(&h.finalize());
        key.extend_from_slice(d.as_slice());
        prev = Some(d);
    }
    key.truncate(len);
    key
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EC_PLAIN: &[u8] = include_bytes!("../tests/data/ec-plain.pem");
    const EC_AES256: &[u8] = include_bytes!("../tests/data/ec-aes256.pem");
    const RSA_PLAIN: &[u8] = include_bytes!("../tests/data/rsa-plain.pem");
    const RSA_AES128: &[u8] = include_bytes!("../tests/data/rsa-aes128.pem");
    const RSA_DES3: &[u8] = include_bytes!("../tests/data/rsa-des3.pem");

    fn der(key: &PrivateKeyDer<'_>) -> Vec<u8> {
        key.secret_der().to_vec()
    }

    #[test]
    fn decrypts_legacy_encrypted_keys() {
        let plain = PrivateKeyDer::from_pem_slice(EC_PLAIN).unwrap();
        let got = decrypt_private_key(EC_AES256, "coffer-test").unwrap();
        assert!(matches!(got, PrivateKeyDer::Sec1(_)));
        assert_eq!(der(&got), der(&plain));

        let plain = PrivateKeyDer::from_pem_slice(RSA_PLAIN).unwrap();
        let got = decrypt_private_key(RSA_AES128, "coffer-test").unwrap();
        assert!(matches!(got, PrivateKeyDer::Pkcs1(_)));
        assert_eq!(der(&got), der(&plain));
    }

    #[test]
    fn wrong_password_and_unsupported_ciphers_fail_without_the_password() {
        let err = decrypt_private_key(EC_AES256, "not-the-password").unwrap_err();
        assert!(err.contains("MINIO_KMS_KES_KEY_PASSWORD"), "{err}");
        assert!(!err.contains("not-the-password"));
        let err = decrypt_private_key(RSA_DES3, "coffer-test").unwrap_err();
        assert!(err.contains("DES-EDE3-CBC"), "{err}");
        let pkcs8 =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(decrypt_private_key(pkcs8, "x")
            .unwrap_err()
            .contains("PKCS#8"));
        assert!(decrypt_private_key(b"hello", "x").is_err());
    }

    #[test]
    fn der_sequence_check() {
        assert!(is_der_sequence(&[0x30, 0x01, 0x05]));
        assert!(is_der_sequence(
            &[&[0x30, 0x81, 0x80][..], &[0; 0x80]].concat()
        ));
        assert!(!is_der_sequence(&[0x30, 0x02, 0x05]));
        assert!(!is_der_sequence(&[0x31, 0x00]));
        assert!(!is_der_sequence(&[0x30, 0x85, 0, 0, 0, 0, 0]));
        assert!(!is_der_sequence(&[]));
    }

    #[test]
    fn detects_encryption() {
        assert!(is_encrypted(EC_AES256) && is_encrypted(RSA_DES3));
        assert!(!is_encrypted(EC_PLAIN) && !is_encrypted(b"junk"));
    }

    #[test]
    fn plain_keys_pass_through() {
        let got = decrypt_private_key(EC_PLAIN, "ignored").unwrap();
        assert_eq!(
            der(&got),
            der(&PrivateKeyDer::from_pem_slice(EC_PLAIN).unwrap())
        );
    }
}
