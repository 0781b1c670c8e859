//! `coffer server DIR`: the object server, configured by MinIO's environment variables.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;

/// `coffer server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Data directory (created if missing).
    dir: PathBuf,
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

/// Runs the object server until the process ends.
pub fn run(args: ServerArgs) -> Result<()> {
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
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start runtime")?;
    rt.block_on(async move {
        let running = s3_server::start(&args.dir, config)
            .await
            .map_err(|e| anyhow!(e))?;
        let scheme = if running.https { "https" } else { "http" };
        eprintln!("coffer server listening on {scheme}://{}", running.addr);
        eprintln!("data directory: {}", args.dir.display());
        running.wait().await;
        Ok(())
    })
}
