//! KES API keys (`kes:v1:…`, spec §3.1) and self-signed certificates for clients and dev servers.
//!
//! An API key is an Ed25519 seed. The client turns it into a self-signed certificate; the
//! server only ever sees that certificate, whose identity is SHA-256 of the Ed25519 SPKI.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType,
    PKCS_ECDSA_P256_SHA256, PKCS_ED25519,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::identity::Identity;

/// Text prefix of a version-1 API key.
pub const API_KEY_PREFIX: &str = "kes:v1:";
/// Type byte of an Ed25519 API key.
const TYPE_ED25519: u8 = 0;
/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte public key follows.
pub const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A KES API key: a 32-byte Ed25519 seed. Zeroized on drop; `Debug` shows only the identity.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ApiKey {
    seed: [u8; 32],
    public: [u8; 32],
}

impl ApiKey {
    /// Parses `kes:v1:<base64(0x00 || 32-byte seed)>` (standard base64 with padding).
    pub fn parse(s: &str) -> Result<ApiKey> {
        let b64 = s.strip_prefix(API_KEY_PREFIX).ok_or(Error::InvalidApiKey)?;
        let decoded = Zeroizing::new(
            crate::b64::ENGINE
                .decode(b64.trim())
                .map_err(|_| Error::InvalidApiKey)?,
        );
        let (kind, seed) = decoded.split_first().ok_or(Error::InvalidApiKey)?;
        if *kind != TYPE_ED25519 {
            return Err(Error::InvalidApiKey);
        }
        let seed: [u8; 32] = seed.try_into().map_err(|_| Error::InvalidApiKey)?;
        ApiKey::from_seed(seed)
    }

    /// A fresh random API key.
    pub fn generate() -> Result<ApiKey> {
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| Error::Random)?;
        ApiKey::from_seed(seed)
    }

    /// The API key with this Ed25519 seed.
    pub fn from_seed(seed: [u8; 32]) -> Result<ApiKey> {
        let mut key = ApiKey {
            seed,
            public: [0u8; 32],
        };
        let pair = key.key_pair()?;
        key.public = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| Error::InvalidApiKey)?;
        Ok(key)
    }

    /// The `kes:v1:…` text of this key. It is the secret: handle it like a password.
    pub fn encode(&self) -> String {
        let mut raw = Zeroizing::new([0u8; 33]);
        if let Some((kind, seed)) = raw.split_first_mut() {
            *kind = TYPE_ED25519;
            seed.copy_from_slice(&self.seed);
        }
        format!(
            "{API_KEY_PREFIX}{}",
            crate::b64::ENGINE.encode(raw.as_ref())
        )
    }

    fn key_pair(&self) -> Result<Ed25519KeyPair> {
        Ed25519KeyPair::from_seed_unchecked(&self.seed).map_err(|_| Error::InvalidApiKey)
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The identity of certificates made from this key:
    /// SHA-256(`302a300506032b6570032100` || public key), lowercase hex.
    pub fn identity(&self) -> Identity {
        let mut spki = [0u8; 44];
        let (prefix, public) = spki.split_at_mut(ED25519_SPKI_PREFIX.len());
        prefix.copy_from_slice(&ED25519_SPKI_PREFIX);
        public.copy_from_slice(&self.public);
        Identity::of_spki(&spki)
    }

    /// A self-signed Ed25519 client certificate for this key, valid from now for
    /// `validity_days`: CN = identity, KeyUsage DigitalSignature, EKU clientAuth.
    ///
    /// Returns `(certificate DER, PKCS#8 private key DER)`.
    pub fn certificate(&self, validity_days: u32) -> Result<(Vec<u8>, Vec<u8>)> {
        self.certificate_with(None, &[], validity_days)
    }

    /// Like [`certificate`](Self::certificate), with a chosen common name (the identity
    /// when `None`) and subject alternative names (IP addresses become IP SANs, anything
    /// else DNS SANs), and EKU clientAuth plus serverAuth when SANs are given, so the same
    /// pair can serve TLS (as `kes identity new --ip/--dns` certificates do).
    pub fn certificate_with(
        &self,
        common_name: Option<&str>,
        subject_alt_names: &[String],
        validity_days: u32,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let pkcs8 = self
            .key_pair()?
            .to_pkcs8v1()
            .map_err(|_| Error::Certificate("cannot encode Ed25519 key".into()))?;
        let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
        let key = KeyPair::try_from(pkcs8.as_slice()).map_err(cert_err)?;
        if key.algorithm() != &PKCS_ED25519 {
            return Err(Error::Certificate("API key is not an Ed25519 key".into()));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let identity = self.identity();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name.unwrap_or(identity.as_str()));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if !subject_alt_names.is_empty() {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        params.subject_alt_names = sans(subject_alt_names)?;
        set_validity(&mut params, validity_days);
        let cert = params.self_signed(&key).map_err(cert_err)?;
        Ok((cert.der().to_vec(), pkcs8.to_vec()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("identity", &self.identity().as_str())
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for ApiKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<ApiKey> {
        ApiKey::parse(s)
    }
}

fn cert_err(err: rcgen::Error) -> Error {
    Error::Certificate(err.to_string())
}

fn sans(names: &[String]) -> Result<Vec<SanType>> {
    names
        .iter()
        .map(|san| match san.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => Ok(SanType::DnsName(san.as_str().try_into().map_err(cert_err)?)),
        })
        .collect()
}

fn set_validity(params: &mut CertificateParams, validity_days: u32) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now.saturating_add(time::Duration::days(i64::from(validity_days)));
}

/// A self-signed TLS server certificate with a fresh ECDSA P-256 key: CN `localhost`, EKU
/// serverAuth, valid from now for `validity_days`. Each SAN that parses as an IP address becomes
/// an IP SAN, every other one a DNS SAN. Used by `kes server --dev` and tests.
///
/// Returns `(certificate DER, PKCS#8 private key DER)`.
pub fn self_signed_server_cert(
    subject_alt_names: &[String],
    validity_days: u32,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans(subject_alt_names)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    set_validity(&mut params, validity_days);
    let cert = params.self_signed(&key).map_err(cert_err)?;
    Ok((cert.der().to_vec(), key.serialize_der()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, X509Certificate};

    const VECTOR_KEY: &str = "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc";
    const VECTOR_ID: &str = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";

    #[test]
    fn spec_vector() {
        let key = ApiKey::parse(VECTOR_KEY).unwrap();
        assert_eq!(key.identity().as_str(), VECTOR_ID);
        assert_eq!(key.encode(), VECTOR_KEY);
    }

    #[test]
    fn rejects_malformed_keys() {
        for bad in [
            "",
            "kes:v1:",
            "kes:v2:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc",
            "AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc",
            "kes:v1:AT9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc", // type byte 1
            "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYA==", // 32 bytes
            "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc!",
            "kes:v1:AD9E7FSYWrMD-VjhI6q545cYT9YOyFxZb7UnjEepYDRc", // URL alphabet
        ] {
            assert_eq!(
                ApiKey::parse(bad).unwrap_err(),
                Error::InvalidApiKey,
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = ApiKey::parse(VECTOR_KEY).unwrap();
        let dbg = format!("{key:?}");
        assert!(dbg.contains(VECTOR_ID));
        assert!(!dbg.contains("AD9E7FSY"));
        assert!(!dbg.contains("seed"));
    }

    #[test]
    fn certificate_identity_matches() {
        let key = ApiKey::parse(VECTOR_KEY).unwrap();
        let (der, pkcs8) = key.certificate(90).unwrap();
        assert_eq!(Identity::of_certificate(&der).unwrap().as_str(), VECTOR_ID);
        assert!(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).is_ok());
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), VECTOR_ID);
        let eku = cert.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.client_auth && !eku.value.server_auth);
        assert!(cert.key_usage().unwrap().unwrap().value.digital_signature());
        let v = cert.validity();
        let days = (v.not_after.timestamp() - v.not_before.timestamp()) / 86_400;
        assert_eq!(days, 90);
    }

    #[test]
    fn generated_keys_round_trip() {
        let key = ApiKey::generate().unwrap();
        let back = ApiKey::parse(&key.encode()).unwrap();
        assert_eq!(back.identity(), key.identity());
        let (der, _) = back.certificate(1).unwrap();
        assert_eq!(Identity::of_certificate(&der).unwrap(), key.identity());
    }

    #[test]
    fn server_certificate() {
        let sans = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let (der, pkcs8) = self_signed_server_cert(&sans, 30).unwrap();
        assert!(KeyPair::try_from(pkcs8.as_slice()).is_ok());
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(san.value.general_names.len(), 3);
        let eku = cert.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.server_auth);
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "localhost");
        assert!(Identity::of_certificate(&der).is_ok());
    }
}
