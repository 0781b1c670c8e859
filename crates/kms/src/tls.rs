//! TLS settings of a KES client: who we are (certificate or API key) and which server
//! certificates we trust.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use zeroize::Zeroizing;

use crate::{Error, Result};

/// The client's certificate and key.
pub struct ClientIdentity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity").finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// A certificate chain and private key from PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self> {
        let certs = read_certs(cert)?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| Error::Config(format!("client key {}: {e}", key.display())))?;
        Ok(Self { certs, key })
    }

    /// A certificate chain from a PEM file and a private key from a PEM file that may be
    /// encrypted in the legacy OpenSSL way (`Proc-Type: 4,ENCRYPTED`, as Go's
    /// `x509.DecryptPEMBlock` reads), unlocked with `password`.
    pub fn from_files_with_password(cert: &Path, key: &Path, password: &str) -> Result<Self> {
        let certs = read_certs(cert)?;
        let pem = Zeroizing::new(
            std::fs::read(key)
                .map_err(|e| Error::Config(format!("client key {}: {e}", key.display())))?,
        );
        let key = crate::pem_key::decrypt_private_key(&pem, password)
            .map_err(|e| Error::Config(format!("client key {}: {e}", key.display())))?;
        Ok(Self { certs, key })
    }

    /// The in-memory certificate of a `kes:v1:` API key.
    pub fn from_api_key(api_key: &kes_proto::apikey::ApiKey) -> Result<Self> {
        let (cert, key) = api_key
            .certificate(90)
            .map_err(|e| Error::Config(format!("API key certificate: {e}")))?;
        Ok(Self {
            certs: vec![CertificateDer::from(cert)],
            key: PrivateKeyDer::Pkcs8(key.into()),
        })
    }

    /// From a certificate chain and key already in memory.
    pub fn new(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self { certs, key }
    }
}

/// The certificate chain of a PEM file (at least one certificate).
fn read_certs(cert: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let err = |e: &dyn std::fmt::Display| {
        Error::Config(format!("client certificate {}: {e}", cert.display()))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| err(&e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err(&e))?;
    if certs.is_empty() {
        return Err(err(&"no certificate"));
    }
    Ok(certs)
}

/// Which server certificates the client accepts.
#[derive(Debug, Clone)]
pub enum ServerTrust {
    /// Certificates chaining to these roots (a CA file or every `.crt`/`.pem` of a
    /// directory, as `MINIO_KMS_KES_CAPATH`).
    Roots(Vec<CertificateDer<'static>>),
    /// Any certificate (`-k/--insecure`); the handshake signature is still checked.
    Insecure,
}

/// Where Linux distributions keep the system's CA bundle.
const SYSTEM_CA_FILES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

impl ServerTrust {
    /// The system's CA certificates: `SSL_CERT_FILE` if set, else the first bundle found
    /// at a usual place, else every certificate in `/etc/ssl/certs`.
    pub fn system() -> Result<Self> {
        if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
            return Self::from_path(Path::new(&file));
        }
        for f in SYSTEM_CA_FILES {
            let path = Path::new(f);
            if path.is_file() {
                if let Ok(trust) = Self::from_path(path) {
                    return Ok(trust);
                }
            }
        }
        Self::from_path(Path::new("/etc/ssl/certs"))
    }

    /// Loads a CA file or directory.
    pub fn from_path(path: &Path) -> Result<Self> {
        let mut files = Vec::new();
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| Error::Config(format!("CA directory {}: {e}", path.display())))?;
            for e in entries.flatten() {
                if e.path().is_file() {
                    files.push(e.path());
                }
            }
        } else {
            files.push(path.to_path_buf());
        }
        let mut roots = Vec::new();
        for f in files {
            if let Ok(iter) = CertificateDer::pem_file_iter(&f) {
                roots.extend(iter.flatten());
            }
        }
        if roots.is_empty() {
            return Err(Error::Config(format!(
                "CA path {}: no certificate found",
                path.display()
            )));
        }
        Ok(Self::Roots(roots))
    }
}

#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Builds the client TLS configuration (TLS 1.2+), with a client certificate when
/// `identity` is given (KES) and without one otherwise (Vault).
pub(crate) fn client_config(
    identity: Option<ClientIdentity>,
    trust: &ServerTrust,
) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    let builder = match trust {
        ServerTrust::Roots(certs) => {
            let mut roots = RootCertStore::empty();
            for c in certs {
                roots
                    .add(c.clone())
                    .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
            }
            builder.with_root_certificates(roots)
        }
        ServerTrust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                provider.signature_verification_algorithms,
            ))),
    };
    // ALPN (h2, http/1.1) is set by the HTTPS connector.
    let Some(identity) = identity else {
        return Ok(builder.with_no_client_auth());
    };
    builder
        .with_client_auth_cert(identity.certs, identity.key)
        .map_err(|e| {
            Error::Config(format!(
                "client certificate and key do not fit together: {e}"
            ))
        })
}
