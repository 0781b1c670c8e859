//! `coffer kes …`: the key server and its admin client, compatible with the `kes` tool
//! (same commands, flags and environment variables).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use kes_proto::apikey::ApiKey;
use kms::{ClientIdentity, KesClient, ServerTrust};

/// `coffer kes` subcommands.
#[derive(Debug, Subcommand)]
pub enum KesCommand {
    /// Run a key server.
    Server(ServerArgs),
    /// Create identities and compute them from certificates or API keys.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Manage keys on a key server.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Show the status of a key server.
    Status(StatusArgs),
    /// Print a key server's audit (default) or error log as it happens.
    Log(LogArgs),
}

/// `coffer kes server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Configuration file: first-era `kes-config.toml` or current KES YAML.
    #[arg(long, value_name = "FILE", conflicts_with = "dev")]
    config: Option<PathBuf>,
    /// Listen address, overriding the configuration (default 0.0.0.0:7373).
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// Development mode: in-memory keys, a fresh self-signed certificate and a printed
    /// admin API key. Nothing is persisted.
    #[arg(long)]
    dev: bool,
}

/// `coffer kes identity …`.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create a new API key (and optionally a certificate/key pair for it).
    New(IdentityNewArgs),
    /// Print the identity of a certificate file or an API key.
    Of {
        /// A PEM certificate file or a `kes:v1:` API key.
        source: String,
    },
}

/// `coffer kes identity new`.
#[derive(Debug, Args)]
pub struct IdentityNewArgs {
    /// Write the private key here (PEM, mode 0600).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Write the self-signed certificate here (PEM).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// IP address to put in the certificate (repeatable).
    #[arg(long, value_name = "IP")]
    ip: Vec<String>,
    /// DNS name to put in the certificate (repeatable).
    #[arg(long, value_name = "NAME")]
    dns: Vec<String>,
    /// Certificate validity, a Go duration (default 720h).
    #[arg(long, default_value = "720h")]
    expiry: String,
    /// Overwrite existing files.
    #[arg(short, long)]
    force: bool,
    /// Certificate subject (common name); the identity when absent.
    name: Option<String>,
}

/// Client connection flags shared by client commands.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// Key server endpoint(s), comma-separated (env KES_SERVER; default 127.0.0.1:7373).
    #[arg(short, long, value_name = "URL")]
    server: Option<String>,
    /// API key (env KES_API_KEY); otherwise KES_CLIENT_CERT/KES_CLIENT_KEY are used.
    #[arg(short, long, value_name = "KEY")]
    api_key: Option<String>,
    /// Skip verification of the server certificate.
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl std::fmt::Debug for ClientArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientArgs")
            .field("server", &self.server)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("insecure", &self.insecure)
            .field("json", &self.json)
            .finish()
    }
}

/// `coffer kes key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create keys.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Key names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Import a 32-byte key (base64); a random one when absent.
    Import {
        #[command(flatten)]
        client: ClientArgs,
        /// Key name.
        name: String,
        /// Base64 of 32 key bytes.
        key: Option<String>,
    },
    /// Describe a key.
    Info {
        #[command(flatten)]
        client: ClientArgs,
        /// Key name.
        name: String,
    },
    /// List keys.
    Ls {
        #[command(flatten)]
        client: ClientArgs,
        /// Pattern (`prefix*`); all keys when absent.
        pattern: Option<String>,
    },
    /// Delete keys.
    Rm {
        #[command(flatten)]
        client: ClientArgs,
        /// Key names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Generate a data encryption key.
    Dek {
        #[command(flatten)]
        client: ClientArgs,
        /// Key name.
        name: String,
        /// Context (associated data), as text.
        context: Option<String>,
    },
    /// Encrypt a message.
    Encrypt {
        #[command(flatten)]
        client: ClientArgs,
        /// Key name.
        name: String,
        /// Message, as text.
        message: String,
    },
    /// Decrypt a ciphertext (base64).
    Decrypt {
        #[command(flatten)]
        client: ClientArgs,
        /// Key name.
        name: String,
        /// Base64 ciphertext.
        ciphertext: String,
        /// Context (associated data), as text.
        context: Option<String>,
    },
}

/// `coffer kes status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Also list the server's API routes.
    #[arg(long)]
    api: bool,
}

/// `coffer kes log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Audit log (default).
    #[arg(long, conflicts_with = "error")]
    audit: bool,
    /// Error log.
    #[arg(long)]
    error: bool,
}

/// Runs a `coffer kes` command.
pub fn run(cmd: KesCommand) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start async runtime")?;
    rt.block_on(async move {
        match cmd {
            KesCommand::Server(a) => server(a).await,
            KesCommand::Identity(c) => identity(c),
            KesCommand::Key(c) => key(c).await,
            KesCommand::Status(a) => status(a).await,
            KesCommand::Log(a) => log(a).await,
        }
    })
}

async fn server(args: ServerArgs) -> Result<()> {
    use kes_server::config;
    let (mut cfg, store, identity, banner) = if args.dev {
        let api_key = ApiKey::generate().context("generate API key")?;
        let admin = api_key.identity();
        let sans = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let (cert, key) = kes_proto::apikey::self_signed_server_cert(&sans, 90)
            .map_err(|e| anyhow!("generate server certificate: {e}"))?;
        let cfg = config::Config {
            address: config::DEFAULT_ADDRESS.to_string(),
            admin: Some(admin.as_str().to_string()),
            tls: Default::default(),
            api: Default::default(),
            policies: Default::default(),
            identities: Default::default(),
            cache: Default::default(),
            log: config::LogConfig {
                error: true,
                audit: false,
            },
            keys: Vec::new(),
            keystore: config::KeystoreConfig::Memory,
        };
        let banner = format!(
            "development mode: keys are kept in memory and lost on exit\n  admin API key:  {}\n  admin identity: {}\n  clients: export KES_API_KEY=<the API key>; coffer kes key ls -k",
            api_key.encode(),
            admin
        );
        let store: Arc<dyn keystore::KeyStore> = Arc::new(keystore::MemoryKeyStore::new());
        let identity = kes_server::ServerIdentity {
            certs: vec![cert.into()],
            key: rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        };
        (cfg, store, identity, banner)
    } else {
        let Some(path) = args.config else {
            bail!("kes server needs --config FILE (or --dev for a throwaway development server)");
        };
        let cfg = config::load(&path)?;
        let store = kes_server::open_keystore(&cfg.keystore)
            .map_err(|e| anyhow!("config file {}: {e}", path.display()))?;
        if cfg.tls.key.as_os_str().is_empty() || cfg.tls.cert.as_os_str().is_empty() {
            bail!("config file {}: tls.key and tls.cert are required (the key server only serves HTTPS)", path.display());
        }
        let certs =
            kes_server::tls::load_certs(&cfg.tls.cert).map_err(|e| anyhow!("tls.cert: {e}"))?;
        let key = kes_server::tls::load_key(&cfg.tls.key).map_err(|e| anyhow!("tls.key: {e}"))?;
        let admin = match cfg.admin.as_deref() {
            Some(a) => a.to_string(),
            None => "none".to_string(),
        };
        let banner = format!("admin identity: {admin}; {} policies", cfg.policies.len());
        (
            cfg,
            store,
            kes_server::ServerIdentity { certs, key },
            banner,
        )
    };
    if let Some(addr) = args.addr {
        cfg.address = addr;
    }
    let running = kes_server::start(cfg, store, identity)
        .await
        .map_err(|e| anyhow!(e))?;
    eprintln!("coffer kes server listening on https://{}", running.addr);
    eprintln!("{banner}");
    running.wait().await;
    Ok(())
}

fn identity(cmd: IdentityCommand) -> Result<()> {
    match cmd {
        IdentityCommand::Of { source } => {
            let id = if source.starts_with(kes_proto::apikey::API_KEY_PREFIX) {
                ApiKey::parse(&source)
                    .map_err(|e| anyhow!("invalid API key: {e}"))?
                    .identity()
            } else {
                use rustls::pki_types::pem::PemObject;
                let der = rustls::pki_types::CertificateDer::from_pem_file(&source)
                    .with_context(|| format!("cannot read certificate {source}"))?;
                kes_proto::identity::Identity::of_certificate(&der)
                    .map_err(|e| anyhow!("certificate {source}: {e}"))?
            };
            println!("{id}");
            Ok(())
        }
        IdentityCommand::New(a) => {
            let days = kes_server::config::duration::parse(&a.expiry)
                .map_err(|e| anyhow!("--expiry: {e}"))?
                .as_secs()
                .div_ceil(86_400)
                .max(1);
            let api_key = ApiKey::generate().context("generate API key")?;
            if let (Some(key_path), Some(cert_path)) = (&a.key, &a.cert) {
                let mut sans = a.dns.clone();
                sans.extend(a.ip.iter().cloned());
                let (cert, key) = api_key
                    .certificate_with(
                        a.name.as_deref(),
                        &sans,
                        u32::try_from(days).unwrap_or(u32::MAX),
                    )
                    .map_err(|e| anyhow!("create certificate: {e}"))?;
                crate::pem::write(
                    key_path,
                    &crate::pem::encode("PRIVATE KEY", &key),
                    0o600,
                    a.force,
                )?;
                crate::pem::write(
                    cert_path,
                    &crate::pem::encode("CERTIFICATE", &cert),
                    0o644,
                    a.force,
                )?;
            } else if !a.ip.is_empty() || !a.dns.is_empty() {
                bail!("--ip and --dns go into a certificate: also give --key FILE --cert FILE");
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "Your API key:\n\n   {}\n", api_key.encode())?;
            writeln!(
                out,
                "This is the only time it is shown. Keep it secret and secure!\n"
            )?;
            writeln!(out, "Your Identity:\n\n   {}\n", api_key.identity())?;
            writeln!(out, "The identity is not a secret: share it with the key server admin (policy identities).")?;
            Ok(())
        }
    }
}

/// The first set environment variable of `names`.
fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

fn client(args: &ClientArgs) -> Result<KesClient> {
    let servers = args
        .server
        .clone()
        .or_else(|| env_first(&["MINIO_KES_SERVER", "KES_SERVER", "MINIO_KMS_KES_ENDPOINT"]))
        .unwrap_or_else(|| "127.0.0.1:7373".to_string());
    let endpoints: Vec<String> = servers
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let api_key = args
        .api_key
        .clone()
        .or_else(|| env_first(&["MINIO_KES_API_KEY", "KES_API_KEY", "MINIO_KMS_KES_API_KEY"]));
    let identity = match api_key {
        Some(k) => {
            let k = ApiKey::parse(k.trim()).map_err(|e| anyhow!("invalid API key: {e}"))?;
            ClientIdentity::from_api_key(&k)?
        }
        None => {
            let cert = env_first(&[
                "MINIO_KES_CERT_FILE",
                "KES_CLIENT_CERT",
                "MINIO_KES_CLIENT_CERT",
            ]);
            let key = env_first(&[
                "MINIO_KES_KEY_FILE",
                "KES_CLIENT_KEY",
                "MINIO_KES_CLIENT_KEY",
            ]);
            match (cert, key) {
                (Some(c), Some(k)) => ClientIdentity::from_files(c.as_ref(), k.as_ref())?,
                _ => bail!("no client credentials: set KES_API_KEY (or --api-key), or KES_CLIENT_CERT and KES_CLIENT_KEY"),
            }
        }
    };
    let trust = if args.insecure {
        ServerTrust::Insecure
    } else if let Some(ca) = env_first(&["KES_CAPATH", "MINIO_KMS_KES_CAPATH"]) {
        ServerTrust::from_path(ca.as_ref())?
    } else {
        ServerTrust::from_path("/etc/ssl/certs".as_ref())
            .context("no CA certificates found; set KES_CAPATH or use -k/--insecure")?
    };
    Ok(KesClient::new(&endpoints, identity, &trust)?)
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

async fn key(cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::Create { client: c, names } => {
            let kes = client(&c)?;
            for n in names {
                kes.create_key(&n)
                    .await
                    .with_context(|| format!("create key {n}"))?;
            }
        }
        KeyCommand::Import {
            client: c,
            name,
            key,
        } => {
            let kes = client(&c)?;
            let bytes = match key {
                Some(k) => {
                    use base64::Engine;
                    zeroize::Zeroizing::new(
                        base64::engine::general_purpose::STANDARD
                            .decode(k.trim())
                            .map_err(|_| anyhow!("key is not valid base64"))?,
                    )
                }
                None => {
                    let mut k = zeroize::Zeroizing::new(vec![0u8; 32]);
                    aws_lc_rs::rand::fill(&mut k[..])
                        .map_err(|_| anyhow!("random number generator failed"))?;
                    k
                }
            };
            kes.import_key(&name, &bytes, "AES256")
                .await
                .with_context(|| format!("import key {name}"))?;
        }
        KeyCommand::Info { client: c, name } => {
            let v = client(&c)?
                .describe_key(&name)
                .await
                .with_context(|| format!("describe key {name}"))?;
            if c.json {
                println!("{v}");
            } else {
                for field in ["name", "algorithm", "created_at", "created_by"] {
                    if let Some(s) = v.get(field).and_then(|x| x.as_str()) {
                        println!("{:<11} {s}", format!("{field}:"));
                    }
                }
            }
        }
        KeyCommand::Ls { client: c, pattern } => {
            let names = client(&c)?
                .list_keys(pattern.as_deref().unwrap_or("*"))
                .await
                .context("list keys")?;
            if c.json {
                println!("{}", serde_json::json!({ "names": names }));
            } else {
                for n in names {
                    println!("{n}");
                }
            }
        }
        KeyCommand::Rm { client: c, names } => {
            let kes = client(&c)?;
            for n in names {
                kes.delete_key(&n)
                    .await
                    .with_context(|| format!("delete key {n}"))?;
            }
        }
        KeyCommand::Dek {
            client: c,
            name,
            context,
        } => {
            let dek = client(&c)?
                .generate(&name, context.as_deref().unwrap_or("").as_bytes())
                .await
                .with_context(|| format!("generate data key with {name}"))?;
            println!(
                "{}",
                serde_json::json!({ "plaintext": b64(&dek.plaintext), "ciphertext": b64(&dek.ciphertext) })
            );
        }
        KeyCommand::Encrypt {
            client: c,
            name,
            message,
        } => {
            let ct = client(&c)?
                .encrypt(&name, message.as_bytes(), b"")
                .await
                .with_context(|| format!("encrypt with {name}"))?;
            println!("{}", b64(&ct));
        }
        KeyCommand::Decrypt {
            client: c,
            name,
            ciphertext,
            context,
        } => {
            use base64::Engine;
            let ct = base64::engine::general_purpose::STANDARD
                .decode(ciphertext.trim())
                .map_err(|_| anyhow!("ciphertext is not valid base64"))?;
            let pt = client(&c)?
                .decrypt(&name, &ct, context.as_deref().unwrap_or("").as_bytes())
                .await
                .with_context(|| format!("decrypt with {name}"))?;
            println!("{}", b64(&pt));
        }
    }
    Ok(())
}

async fn status(a: StatusArgs) -> Result<()> {
    let kes = client(&a.client)?;
    for endpoint in kes.endpoints() {
        let r = kes
            .send_to(endpoint, hyper::Method::GET, "/v1/status", None)
            .await;
        match r {
            Ok(r) if r.status == 200 => {
                let v: serde_json::Value =
                    serde_json::from_slice(&r.body).context("status response")?;
                if a.client.json {
                    println!("{v}");
                } else {
                    let down = v
                        .get("keystore_unreachable")
                        .and_then(|x| x.as_bool())
                        .unwrap_or(false);
                    println!(
                        "{endpoint}: online, version {}, uptime {}s, keystore {}",
                        v.get("version").and_then(|x| x.as_str()).unwrap_or("?"),
                        v.get("uptime").and_then(|x| x.as_u64()).unwrap_or(0),
                        if down {
                            "unreachable".to_string()
                        } else {
                            format!(
                                "ok ({} ms)",
                                v.get("keystore_latency")
                                    .and_then(|x| x.as_u64())
                                    .unwrap_or(0)
                            )
                        }
                    );
                }
            }
            Ok(r) => {
                let e = kes_proto::ApiError::from_response(
                    r.status,
                    r.content_type.as_deref(),
                    &r.body,
                );
                bail!("{endpoint}: {e}");
            }
            Err(e) => bail!("{e}"),
        }
    }
    if a.api {
        let v = kes.get_json("/v1/api").await.context("list API")?;
        for r in v.as_array().into_iter().flatten() {
            println!(
                "{:<7} {:<32} max body {:>7}  timeout {:>2}s",
                r.get("method").and_then(|x| x.as_str()).unwrap_or(""),
                r.get("path").and_then(|x| x.as_str()).unwrap_or(""),
                r.get("max_body").and_then(|x| x.as_u64()).unwrap_or(0),
                r.get("timeout").and_then(|x| x.as_u64()).unwrap_or(0)
            );
        }
    }
    Ok(())
}

async fn log(a: LogArgs) -> Result<()> {
    let kes = client(&a.client)?;
    let path = if a.error {
        "/v1/log/error"
    } else {
        "/v1/log/audit"
    };
    let json = a.client.json;
    kes.stream_lines(path, |line| {
        let mut out = std::io::stdout().lock();
        if json || a.error {
            let text = if a.error {
                serde_json::from_slice::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| {
                        v.get("message")
                            .and_then(|m| m.as_str())
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| String::from_utf8_lossy(line).into_owned())
            } else {
                String::from_utf8_lossy(line).into_owned()
            };
            writeln!(
                out,
                "{}",
                if json {
                    String::from_utf8_lossy(line).into_owned()
                } else {
                    text
                }
            )
            .is_ok()
        } else {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
            let r = &v["request"];
            writeln!(
                out,
                "{} {:>3} {:<16} {} {}",
                v["time"].as_str().unwrap_or(""),
                v["response"]["code"].as_u64().unwrap_or(0),
                r["ip"].as_str().unwrap_or(""),
                r["identity"]
                    .as_str()
                    .map(|i| i.get(..12).unwrap_or(i))
                    .unwrap_or(""),
                r["path"].as_str().unwrap_or("")
            )
            .is_ok()
        }
    })
    .await
    .context("log stream")?;
    Ok(())
}
