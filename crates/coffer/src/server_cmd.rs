//! `coffer server DIR` and `coffer gateway s3 URL`: the object server, configured by
//! MinIO's environment variables, on a data directory or on another S3 service.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;

/// `coffer server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Data directory (created if missing).
    dir: PathBuf,
    #[command(flatten)]
    opts: ServeOpts,
}

/// `coffer gateway`.
#[derive(Debug, clap::Subcommand)]
pub enum GatewayCommand {
    /// Keep objects in an S3-compatible service: ciphertext and sealed records only.
    ///
    /// URL is `http(s)://host[:port]/BUCKET[/PREFIX]` (BUCKET defaults to `coffer`).
    /// Credentials for it come from COFFER_BACKEND_ACCESS_KEY and
    /// COFFER_BACKEND_SECRET_KEY, else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else
    /// the `[default]` (or AWS_PROFILE) section of ~/.aws/credentials. Every other option
    /// and variable is that of `coffer server`.
    S3(GatewayS3Args),
}

/// `coffer gateway s3`.
#[derive(Debug, Args)]
pub struct GatewayS3Args {
    /// The backend: `http(s)://host[:port]/BUCKET[/PREFIX]`.
    #[arg(value_name = "URL")]
    url: String,
    /// Signing region of the backend.
    #[arg(long, env = "COFFER_BACKEND_REGION", default_value = "us-east-1")]
    backend_region: String,
    /// How often to sweep the backend for what crashes leave (data objects no record
    /// names, unfinished uploads); `0s`: never.
    #[arg(long, env = "COFFER_GATEWAY_SWEEP_INTERVAL", default_value = "6h",
          value_parser = duration)]
    sweep_interval: std::time::Duration,
    /// How old an unnamed data object must be before a sweep deletes it: longer than any
    /// gateway takes between storing an object's bytes and committing its record.
    #[arg(long, env = "COFFER_GATEWAY_SWEEP_GRACE", default_value = "1h",
          value_parser = duration)]
    sweep_grace: std::time::Duration,
    #[command(flatten)]
    opts: ServeOpts,
}

/// What `coffer server` and `coffer gateway s3` share.
#[derive(Debug, Args)]
pub struct ServeOpts {
    /// Listen address (default 0.0.0.0:9000, as MinIO).
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:9000")]
    address: String,
    /// Directory with `public.crt` and `private.key` (MinIO's layout) to serve HTTPS.
    #[arg(long, value_name = "DIR")]
    certs_dir: Option<PathBuf>,
    /// File with more users, one `ACCESS_KEY SECRET_KEY` pair per line (mode 0600).
    #[arg(long, value_name = "FILE", env = "COFFER_USERS_FILE")]
    users: Option<PathBuf>,
    /// Do not print the per-request access log.
    #[arg(long)]
    quiet: bool,
    /// Accept SSE-C requests over plain HTTP. For test rigs only: the client's key then
    /// crosses the network in clear.
    #[arg(long, env = "COFFER_INSECURE_SSE_C", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, require_equals = true, default_value_t = false,
          default_missing_value = "true")]
    insecure_sse_c: bool,
    /// The length of a lifecycle "day" in seconds, for testing lifecycle rules in seconds
    /// (as RGW's rgw_lc_debug_interval); expiry dates shown to clients still use real days.
    #[arg(long, env = "COFFER_LIFECYCLE_DAY_SECONDS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    lifecycle_day_seconds: u64,
    /// Time a client has to send a request's headers (Go duration: `30s`, `1m`); an
    /// HTTP/1 connection idle that long is closed too.
    #[arg(long, env = "MINIO_READ_HEADER_TIMEOUT", default_value = "30s",
          value_parser = positive_duration)]
    read_header_timeout: std::time::Duration,
    /// The longest a request body may go without a byte arriving (Go duration); the
    /// request then fails with 400 RequestTimeout and its connection is closed.
    #[arg(long, env = "COFFER_READ_BODY_TIMEOUT", default_value = "30s",
          value_parser = positive_duration)]
    read_body_timeout: std::time::Duration,
    /// Connections served at once; more wait in the listen backlog until one closes.
    #[arg(long, env = "COFFER_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Do not fall back to the development KMS when no KMS is configured (SSE-S3 and
    /// SSE-KMS then answer NotImplemented).
    #[arg(long, env = "COFFER_NO_DEV_KMS", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, require_equals = true, default_value_t = false,
          default_missing_value = "true")]
    no_dev_kms: bool,
}

/// Where the development KMS key lives: the user's configuration directory, never the
/// data directory (a key stored beside the data protects nothing).
fn dev_key_path(data_dir: Option<&std::path::Path>) -> Result<PathBuf> {
    let base = match (env("XDG_CONFIG_HOME"), env("HOME")) {
        (Some(x), _) => PathBuf::from(x),
        (None, Some(h)) => PathBuf::from(h).join(".config"),
        (None, None) => bail!("no KMS configured and neither XDG_CONFIG_HOME nor HOME is set for the development key; set MINIO_KMS_KES_ENDPOINT (and the other MINIO_KMS_KES_* variables) or MINIO_KMS_SECRET_KEY"),
    };
    let path = base.join("coffer").join("dev-kms.key");
    let Some(data_dir) = data_dir else {
        return Ok(path);
    };
    let data = std::fs::canonicalize(data_dir)
        .or_else(|_| std::path::absolute(data_dir))
        .unwrap_or_else(|_| data_dir.to_path_buf());
    let parent = std::fs::canonicalize(&base).unwrap_or(base);
    if parent.starts_with(&data) {
        bail!(
            "the development KMS key would be stored inside the data directory ({}); configure a KMS (MINIO_KMS_KES_* or MINIO_KMS_SECRET_KEY) instead",
            path.display()
        );
    }
    Ok(path)
}

/// The KMS from MinIO's environment variables, checked with a generate+decrypt round
/// trip; the development key when none is configured (announced in one line).
pub(crate) async fn kms_from_env(
    data_dir: Option<&std::path::Path>,
    no_dev: bool,
    certs_dir: Option<&std::path::Path>,
) -> Result<Option<std::sync::Arc<dyn kms::Kms>>> {
    let mut configured = kms::from_env(env).map_err(|e| anyhow!("{e}"))?;
    // As MinIO: without MINIO_KMS_KES_CAPATH, the key server's certificate may also chain
    // to a CA in the certificates directory's `CAs/`, besides the system's roots.
    if let (Some(kms::KmsConfig::Kes(kes)), Some(cas)) = (
        configured.as_mut(),
        certs_dir.map(|d| d.join("CAs")).filter(|d| d.is_dir()),
    ) {
        if env("MINIO_KMS_KES_CAPATH").is_none() && env("MINIO_KMS_KES_CA_PATH").is_none() {
            if let (kms::ServerTrust::Roots(roots), Ok(kms::ServerTrust::Roots(extra))) =
                (&mut kes.trust, kms::ServerTrust::from_path(&cas))
            {
                roots.extend(extra);
            }
        }
    }
    let kms: std::sync::Arc<dyn kms::Kms> = match configured {
        Some(config) => kms::connect(config).await.map_err(|e| anyhow!("{e}"))?,
        None if no_dev => return Ok(None),
        None => {
            let path = dev_key_path(data_dir)?;
            let key = kms::dev_key(&path).map_err(|e| anyhow!("{e}"))?;
            eprintln!(
                "KMS: none configured; SSE-S3 and SSE-KMS use the development key in {} (for production set MINIO_KMS_KES_ENDPOINT, MINIO_KMS_KES_KEY_NAME and MINIO_KMS_KES_API_KEY or MINIO_KMS_KES_CERT_FILE/MINIO_KMS_KES_KEY_FILE, or MINIO_KMS_SECRET_KEY)",
                path.display()
            );
            std::sync::Arc::new(key)
        }
    };
    kms::self_test(kms.as_ref()).await.map_err(|e| {
        let hint = setting_at_fault(kms.kind(), &e)
            .map(|s| format!(" (check {s})"))
            .unwrap_or_default();
        anyhow!("Failed to connect to KMS ({}): {e}{hint}", kms.kind())
    })?;
    Ok(Some(kms))
}

/// The setting most likely at fault when the start-up check fails.
fn setting_at_fault(kind: &str, e: &kms::Error) -> Option<&'static str> {
    use kms::ErrorKind as K;
    let text = e.to_string();
    let tls = text.contains("certificate") || text.contains("UnknownIssuer");
    Some(match (kind, e.kind()) {
        ("KES", K::Unavailable) if tls => "MINIO_KMS_KES_CAPATH",
        ("KES", K::Unavailable) => "MINIO_KMS_KES_ENDPOINT",
        ("KES", K::NotAuthorized) => {
            "MINIO_KMS_KES_CERT_FILE/MINIO_KMS_KES_KEY_FILE or MINIO_KMS_KES_API_KEY, and the key server's policy for that identity"
        }
        ("KES", K::KeyNotFound) => "MINIO_KMS_KES_KEY_NAME",
        ("Vault transit", K::Unavailable) if tls => "MINIO_KMS_VAULT_CAPATH",
        ("Vault transit", K::Unavailable) => "MINIO_KMS_VAULT_ENDPOINT",
        ("Vault transit", K::NotAuthorized) => {
            "MINIO_KMS_VAULT_APPROLE_ID/MINIO_KMS_VAULT_APPROLE_SECRET"
        }
        ("Vault transit", K::KeyNotFound) => "MINIO_KMS_VAULT_KEY_NAME",
        _ => return None,
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The root credentials from MINIO_ROOT_USER/PASSWORD or the older MINIO_ACCESS_KEY/
/// SECRET_KEY; minioadmin/minioadmin (with a warning) when neither is set.
fn root_credentials() -> Result<(String, String)> {
    let pair = match (env("MINIO_ROOT_USER"), env("MINIO_ROOT_PASSWORD")) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        _ => bail!("set both MINIO_ROOT_USER and MINIO_ROOT_PASSWORD, or neither"),
    };
    let pair = match pair {
        Some(p) => Some(p),
        None => match (env("MINIO_ACCESS_KEY"), env("MINIO_SECRET_KEY")) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => bail!("set both MINIO_ACCESS_KEY and MINIO_SECRET_KEY, or neither"),
        },
    };
    match pair {
        Some((u, p)) => {
            if u.len() < 3 {
                bail!("MINIO_ROOT_USER must be at least 3 characters");
            }
            if p.len() < 8 {
                bail!("MINIO_ROOT_PASSWORD must be at least 8 characters");
            }
            Ok((u, p))
        }
        None => {
            eprintln!("WARNING: default credentials minioadmin:minioadmin in use; set MINIO_ROOT_USER and MINIO_ROOT_PASSWORD");
            Ok(("minioadmin".into(), "minioadmin".into()))
        }
    }
}

fn extra_users(path: &std::path::Path) -> Result<Vec<(String, String)>> {
    let bytes = crate::secret_file::read(path)?;
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("users file {} is not UTF-8", path.display()))?;
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(s), None) => users.push((a.to_string(), s.to_string())),
            _ => bail!(
                "users file {} line {}: expected `ACCESS_KEY SECRET_KEY`",
                path.display(),
                n + 1
            ),
        }
    }
    Ok(users)
}

/// Where the object server keeps its objects.
enum Backing {
    Dir(PathBuf),
    Gateway(Box<s3_gateway::BackendConfig>, Sweep),
}

/// When a gateway sweeps its backend: every `interval` (never when zero), objects
/// older than `grace`.
struct Sweep {
    interval: std::time::Duration,
    grace: std::time::Duration,
}

/// Runs the object server on a data directory until the process ends.
pub fn run(args: ServerArgs) -> Result<()> {
    serve(args.opts, Backing::Dir(args.dir))
}

/// Runs the object server on an S3 backend until the process ends.
pub fn run_gateway(cmd: GatewayCommand) -> Result<()> {
    let GatewayCommand::S3(args) = cmd;
    let (access, secret) = backend_credentials()?;
    let mut backend = s3_gateway::BackendConfig::from_url(&args.url, access, secret)
        .map_err(|e| anyhow!("{e}"))?;
    backend.region = args.backend_region;
    let sweep = Sweep {
        interval: args.sweep_interval,
        grace: args.sweep_grace,
    };
    serve(args.opts, Backing::Gateway(Box::new(backend), sweep))
}

/// The backend's credentials: COFFER_BACKEND_*, else AWS_* variables, else
/// ~/.aws/credentials (profile AWS_PROFILE or `default`).
fn backend_credentials() -> Result<(String, zeroize::Zeroizing<String>)> {
    let pair = |a: &str, s: &str| match (env(a), env(s)) {
        (Some(a), Some(s)) => Ok(Some((a, zeroize::Zeroizing::new(s)))),
        (None, None) => Ok(None),
        _ => Err(anyhow!("set both {a} and {s}, or neither")),
    };
    if let Some(p) = pair("COFFER_BACKEND_ACCESS_KEY", "COFFER_BACKEND_SECRET_KEY")? {
        return Ok(p);
    }
    if let Some(p) = pair("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")? {
        return Ok(p);
    }
    let path = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")));
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    if let Some(text) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        let text = zeroize::Zeroizing::new(text);
        if let Some(p) = credentials_profile(&text, &profile) {
            return Ok(p);
        }
    }
    bail!("no credentials for the backend: set COFFER_BACKEND_ACCESS_KEY and COFFER_BACKEND_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a [{profile}] section in ~/.aws/credentials)")
}

/// The key pair of `[profile]` in an AWS credentials file.
fn credentials_profile(text: &str, profile: &str) -> Option<(String, zeroize::Zeroizing<String>)> {
    let (mut access, mut secret, mut inside) = (None, None, false);
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == profile;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => access = Some(v.trim().to_string()),
                "aws_secret_access_key" => {
                    secret = Some(zeroize::Zeroizing::new(v.trim().to_string()))
                }
                _ => {}
            }
        }
    }
    Some((access?, secret?))
}

fn serve(opts: ServeOpts, backing: Backing) -> Result<()> {
    let args = opts;
    let mut users = vec![root_credentials()?];
    if let Some(f) = &args.users {
        users.extend(extra_users(f)?);
    }
    let tls = match &args.certs_dir {
        Some(d) => {
            let (cert, key) = (d.join("public.crt"), d.join("private.key"));
            if !cert.is_file() || !key.is_file() {
                bail!(
                    "--certs-dir {}: expected public.crt and private.key there",
                    d.display()
                );
            }
            Some((cert, key))
        }
        None => None,
    };
    let domains = env("MINIO_DOMAIN")
        .map(|d| {
            d.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let config = s3_server::ServerConfig {
        address: args.address,
        users,
        domains,
        tls,
        access_log: !args.quiet,
        cors_allow_origin: env("MINIO_API_CORS_ALLOW_ORIGIN")
            .map(|o| {
                o.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        kms: None,
        auto_encryption: false,
        insecure_sse_c: args.insecure_sse_c,
        lifecycle_day: std::time::Duration::from_secs(args.lifecycle_day_seconds),
        limits: s3_server::Limits {
            max_connections: args.max_connections as usize,
            read_header_timeout: args.read_header_timeout,
            read_body_timeout: args.read_body_timeout,
        },
    };
    let auto_encryption = kms::auto_encryption(env).map_err(|e| anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start runtime")?;
    rt.block_on(async move {
        let mut config = config;
        let data_dir = match &backing {
            Backing::Dir(d) => Some(d.as_path()),
            Backing::Gateway(..) => None,
        };
        config.kms = kms_from_env(data_dir, args.no_dev_kms, args.certs_dir.as_deref()).await?;
        if auto_encryption && config.kms.is_none() {
            bail!("MINIO_KMS_AUTO_ENCRYPTION=on needs a KMS (MINIO_KMS_KES_* or MINIO_KMS_SECRET_KEY)");
        }
        config.auto_encryption = auto_encryption;
        if let Some(k) = &config.kms {
            eprintln!(
                "KMS: {} with default key {}{}",
                k.kind(),
                k.default_key(),
                if auto_encryption { "; auto-encryption on" } else { "" }
            );
        }
        let (running, place) = match backing {
            Backing::Dir(dir) => {
                let running = s3_server::start(&dir, config)
                    .await
                    .map_err(|e| anyhow!(e))?;
                (running, format!("data directory: {}", dir.display()))
            }
            Backing::Gateway(backend, sweep) => {
                let place = format!(
                    "backend: {}/{}/{}",
                    backend.endpoint, backend.bucket, backend.prefix
                );
                let gateway = s3_gateway::Gateway::open(*backend, config.kms.clone())
                    .await
                    .map_err(|e| anyhow!("backend: {e}"))?;
                let place = format!(
                    "{place} (records {}; conditional writes {})",
                    if gateway.records_sealed() { "sealed by the KMS" } else { "in clear: no KMS" },
                    if gateway.conditional_writes() { "on" } else { "NOT honoured by the backend" },
                );
                let gateway = std::sync::Arc::new(gateway);
                if !sweep.interval.is_zero() {
                    tokio::spawn(sweep_now_and_then(gateway.clone(), sweep));
                }
                let running = s3_server::start_with_store(gateway, config)
                    .await
                    .map_err(|e| anyhow!(e))?;
                (running, place)
            }
        };
        let scheme = if running.https { "https" } else { "http" };
        eprintln!("coffer server listening on {scheme}://{}", running.addr);
        eprintln!("{place}");
        running
            .serve_until_signal(std::time::Duration::from_secs(30))
            .await;
        Ok(())
    })
}

/// Sweeps the backend every `sweep.interval`, the first time one interval (at most a
/// minute) after start.
async fn sweep_now_and_then(gateway: std::sync::Arc<s3_gateway::Gateway>, sweep: Sweep) {
    let mut wait = sweep.interval.min(std::time::Duration::from_secs(60));
    loop {
        tokio::time::sleep(wait).await;
        wait = sweep.interval;
        match gateway.sweep(sweep.grace).await {
            Ok(s) if s.data + s.uploads > 0 => eprintln!(
                "sweep: deleted {} data objects no record names, aborted {} unfinished uploads",
                s.data, s.uploads
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep of the backend failed; trying again later"),
        }
    }
}

/// A Go duration (`30s`, `1m30s`, `500ms`), zero allowed.
fn duration(text: &str) -> Result<std::time::Duration, String> {
    kes_server::config::duration::parse(text)
}

/// A Go duration (`30s`, `1m30s`, `500ms`) greater than zero.
fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    match kes_server::config::duration::parse(text)? {
        d if d.is_zero() => Err("must be greater than zero".into()),
        d => Ok(d),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn aws_credentials_file_profiles() {
        let text = "[default]\naws_access_key_id = AKD\naws_secret_access_key = SKD\n\n[other]\naws_access_key_id=AKO\n# comment\naws_secret_access_key=SKO\n[half]\naws_access_key_id = X\n";
        let (a, s) = super::credentials_profile(text, "default").unwrap();
        assert_eq!((a.as_str(), s.as_str()), ("AKD", "SKD"));
        let (a, s) = super::credentials_profile(text, "other").unwrap();
        assert_eq!((a.as_str(), s.as_str()), ("AKO", "SKO"));
        assert!(super::credentials_profile(text, "half").is_none());
        assert!(super::credentials_profile(text, "missing").is_none());
    }
}
