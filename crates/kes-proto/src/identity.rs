//! Client identities (spec §3.1): lowercase hex SHA-256 of a certificate's DER
//! SubjectPublicKeyInfo, plus the leaf-certificate selection rule of KES E3/E4.

use std::fmt;

use aws_lc_rs::digest;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::error::{Error, Result};

/// Length of an identity in characters.
pub const IDENTITY_LEN: usize = 64;

/// A KES identity: 64 lowercase hex characters.
///
/// The admin value from configuration may be any string (e.g. `disabled`), so it is kept as a
/// plain string by the server; `Identity` is always a real SHA-256 fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity(String);

impl Identity {
    /// Parses an identity; only exactly 64 lowercase hex characters are accepted, because
    /// identities are compared as plain strings.
    pub fn parse(s: &str) -> Result<Identity> {
        let ok = s.len() == IDENTITY_LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Identity(s.to_owned()))
        } else {
            Err(Error::InvalidIdentity)
        }
    }

    /// The identity text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Identity of a DER-encoded SubjectPublicKeyInfo: lowercase hex of its SHA-256.
    pub fn of_spki(spki_der: &[u8]) -> Identity {
        let hash = digest::digest(&digest::SHA256, spki_der);
        Identity(hex::encode(hash.as_ref()))
    }

    /// Identity of a DER-encoded X.509 certificate (hash of its SubjectPublicKeyInfo).
    pub fn of_certificate(cert_der: &[u8]) -> Result<Identity> {
        let cert = parse_certificate(cert_der)?;
        Ok(Identity::of_spki(cert.public_key().raw))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Identity {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Identity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Identity> {
        Identity::parse(s)
    }
}

impl PartialEq<str> for Identity {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Identity {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(Error::InvalidCertificate),
    }
}

/// Identity of the client's leaf certificate in a presented chain (spec §3.1, E3/E4 rule).
///
/// Certificates with basicConstraints `cA = true` are ignored; exactly one other certificate
/// must remain. An unparsable certificate anywhere in the chain is an error, as it fails the
/// Go TLS handshake.
pub fn leaf_identity(chain: &[impl AsRef<[u8]>]) -> Result<Identity> {
    let mut leaf = None;
    for der in chain {
        let cert = parse_certificate(der.as_ref())?;
        let is_ca = cert
            .basic_constraints()
            .map_err(|_| Error::InvalidCertificate)?
            .is_some_and(|bc| bc.value.ca);
        if is_ca {
            continue;
        }
        if leaf.is_some() {
            return Err(Error::TooManyClientCertificates);
        }
        leaf = Some(Identity::of_spki(cert.public_key().raw));
    }
    leaf.ok_or(Error::NoClientCertificate)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    fn cert(ca: bool) -> (Vec<u8>, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["client".to_owned()]).unwrap();
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        let cert = params.self_signed(&key).unwrap();
        (cert.der().to_vec(), key)
    }

    #[test]
    fn parse_is_strict() {
        let id = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";
        assert_eq!(Identity::parse(id).unwrap().as_str(), id);
        assert_eq!(Identity::parse(id).unwrap().to_string(), id);
        assert!(Identity::parse(&id.to_uppercase()).is_err());
        assert!(Identity::parse(&id[1..]).is_err());
        assert!(Identity::parse(&format!("{id}0")).is_err());
        assert!(Identity::parse("disabled").is_err());
        assert!(Identity::parse("").is_err());
        let g = format!("g{}", &id[1..]);
        assert_eq!(Identity::parse(&g), Err(Error::InvalidIdentity));
    }

    #[test]
    fn certificate_identity_is_sha256_of_spki() {
        let (der, key) = cert(false);
        // SPKI DER as rcgen built it, hashed independently of the x509 parser.
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let expected = hex::encode(digest::digest(&digest::SHA256, &spki));
        assert_eq!(Identity::of_certificate(&der).unwrap().as_str(), expected);
        assert_eq!(leaf_identity(&[&der]).unwrap().as_str(), expected);
    }

    #[test]
    fn leaf_selection() {
        let (leaf, _k1) = cert(false);
        let (other, _k2) = cert(false);
        let (ca, _k3) = cert(true);
        let want = Identity::of_certificate(&leaf).unwrap();
        assert_eq!(leaf_identity(&[&leaf, &ca]).unwrap(), want);
        assert_eq!(leaf_identity(&[&ca, &leaf]).unwrap(), want);
        assert_eq!(leaf_identity(&[&ca]), Err(Error::NoClientCertificate));
        let empty: [&[u8]; 0] = [];
        assert_eq!(leaf_identity(&empty), Err(Error::NoClientCertificate));
        assert_eq!(
            leaf_identity(&[&leaf, &other]),
            Err(Error::TooManyClientCertificates)
        );
        assert_eq!(
            leaf_identity(&[&leaf[..10]]),
            Err(Error::InvalidCertificate)
        );
        let mut trailing = leaf.clone();
        trailing.push(0);
        assert_eq!(
            Identity::of_certificate(&trailing),
            Err(Error::InvalidCertificate)
        );
    }
}
