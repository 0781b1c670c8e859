//! mc-style client commands: `alias`, `mb`, `rb`, `ls`, `cp`, `mirror`, `cat`, `head`,
//! `stat`, `rm`, `tag`, `du`, `encrypt`, `admin kms key`.
//!
//! Paths are `ALIAS/BUCKET/KEY` for objects and anything else for local files, as in mc.
//! Output is for people on a terminal, one JSON object per line with `--json`, nothing
//! but errors with `--quiet`.

mod buckets;
mod copy;
mod objects;
mod progress;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use clap::Args;
use s3_client::alias::Aliases;
use s3_client::transfer::Sse;
use s3_client::Connection;
use zeroize::Zeroizing;

pub use buckets::{
    alias, encrypt, kms_key, tag, AliasCommand, EncryptCommand, KmsKeyCommand, TagCommand,
};
pub use copy::{cp, mirror, CpArgs, MirrorArgs};
pub use objects::{
    cat, du, head, ls, mb, rb, rm, stat, CatArgs, DuArgs, HeadArgs, LsArgs, MbArgs, RbArgs, RmArgs,
    StatArgs,
};

/// Output flags every client command takes.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// One JSON object per line instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

/// Encryption flags as mc spells them; each may be given several times or as a
/// comma-separated list.
#[derive(Clone, Default, Args)]
pub struct EncArgs {
    /// SSE-S3 for objects under ALIAS/BUCKET/PREFIX.
    #[arg(
        long = "enc-s3",
        value_name = "ALIAS/BUCKET/PREFIX",
        value_delimiter = ','
    )]
    pub s3: Vec<String>,
    /// SSE-KMS with KEY for objects under ALIAS/BUCKET/PREFIX.
    #[arg(
        long = "enc-kms",
        value_name = "ALIAS/BUCKET/PREFIX=KEY",
        value_delimiter = ','
    )]
    pub kms: Vec<String>,
    /// SSE-C with a client key (32 bytes, base64) for objects under ALIAS/BUCKET/PREFIX.
    #[arg(
        long = "enc-c",
        value_name = "ALIAS/BUCKET/PREFIX=BASE64KEY",
        value_delimiter = ','
    )]
    pub c: Vec<String>,
}

impl Drop for EncArgs {
    fn drop(&mut self) {
        // The parsed keys are zeroized on their own; these are the texts they came from.
        for item in &mut self.c {
            zeroize::Zeroize::zeroize(item);
        }
    }
}

impl std::fmt::Debug for EncArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `--enc-c` values hold client keys: only their prefixes are shown.
        let prefixes: Vec<&str> = self
            .c
            .iter()
            .map(|item| item.split_once('=').map_or("", |(p, _)| p))
            .collect();
        f.debug_struct("EncArgs")
            .field("s3", &self.s3)
            .field("kms", &self.kms)
            .field("c", &prefixes)
            .finish()
    }
}

/// Encryption choices by path prefix; the longest matching prefix wins.
#[derive(Debug, Default, Clone)]
pub struct EncRules(Vec<(String, Sse)>);

impl EncRules {
    /// Parses the flags.
    pub fn parse(args: &EncArgs) -> Result<Self> {
        let mut rules = Vec::new();
        for prefix in &args.s3 {
            rules.push((prefix.trim().to_string(), Sse::S3));
        }
        for item in &args.kms {
            let (prefix, key) = item
                .rsplit_once('=')
                .filter(|(_, k)| !k.is_empty())
                .ok_or_else(|| anyhow!("--enc-kms {item:?}: expected ALIAS/BUCKET/PREFIX=KEY"))?;
            rules.push((prefix.trim().to_string(), Sse::Kms(key.to_string())));
        }
        for item in &args.c {
            // The key is base64, which may itself end in '='; split at the first '='
            // that leaves a decodable 32-byte key.
            let parsed = item.match_indices('=').find_map(|(at, _)| {
                let (prefix, key) = (&item[..at], &item[at + 1..]);
                customer_key(key).map(|k| (prefix.to_string(), k))
            });
            let (prefix, key) = parsed.ok_or_else(|| {
                anyhow!("--enc-c: expected ALIAS/BUCKET/PREFIX=KEY with KEY the base64 of 32 bytes")
            })?;
            rules.push((prefix.trim().to_string(), Sse::C(Arc::new(key))));
        }
        Ok(Self(rules))
    }

    /// The encryption for the object at `path` (`ALIAS/BUCKET/KEY`).
    pub fn for_path(&self, path: &str) -> Sse {
        self.0
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, sse)| sse.clone())
            .unwrap_or_default()
    }
}

/// An SSE-C key: the base64 of 32 bytes, or (as older mc accepted) 32 characters as
/// they are.
fn customer_key(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .map(Zeroizing::new);
    let raw: &[u8] = match &decoded {
        Some(d) if d.len() == 32 => d,
        _ if text.len() == 32 => text.as_bytes(),
        _ => return None,
    };
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(raw);
    Some(key)
}

/// Where a path argument points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local file or directory (`-` is stdin/stdout).
    Local(PathBuf),
    /// An alias, a bucket in it, a key or prefix in that.
    Remote {
        /// Alias name.
        alias: String,
        /// Bucket; empty for the alias itself.
        bucket: String,
        /// Key or prefix; empty for the bucket itself.
        key: String,
    },
}

impl Target {
    /// `ALIAS/BUCKET/KEY` for a remote target, the path for a local one.
    pub fn display(&self) -> String {
        match self {
            Target::Local(p) => p.display().to_string(),
            Target::Remote { alias, bucket, key } => {
                let mut s = alias.clone();
                if !bucket.is_empty() {
                    s.push('/');
                    s.push_str(bucket);
                    if !key.is_empty() {
                        s.push('/');
                        s.push_str(key);
                    }
                }
                s
            }
        }
    }
}

/// What every client command works with.
pub struct Ctx {
    /// The user's aliases.
    pub aliases: Aliases,
    /// Output flags.
    pub out: OutputArgs,
    connections: std::sync::Mutex<std::collections::HashMap<String, Connection>>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    fn new(out: OutputArgs) -> Result<Self> {
        Ok(Self {
            aliases: Aliases::load()?,
            out,
            connections: Default::default(),
        })
    }

    /// Parses a path argument: remote when its first component names an alias.
    pub fn target(&self, arg: &str) -> Target {
        let (first, rest) = arg.split_once('/').unwrap_or((arg, ""));
        if arg != "-" && self.aliases.get(first).is_some() {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            return Target::Remote {
                alias: first.to_string(),
                bucket: bucket.to_string(),
                key: key.to_string(),
            };
        }
        Target::Local(PathBuf::from(arg))
    }

    /// A path argument that must be remote.
    pub fn remote(&self, arg: &str) -> Result<(Connection, String, String)> {
        match self.target(arg) {
            Target::Remote { alias, bucket, key } => Ok((self.connect(&alias)?, bucket, key)),
            Target::Local(_) => {
                let name = arg.split('/').next().unwrap_or(arg);
                bail!("{arg}: no alias named {name:?}; add one with `coffer alias set {name} URL ACCESS_KEY SECRET_KEY`")
            }
        }
    }

    /// A path argument that must name a bucket (and maybe a key).
    pub fn bucket(&self, arg: &str) -> Result<(Connection, String, String)> {
        let (conn, bucket, key) = self.remote(arg)?;
        if bucket.is_empty() {
            bail!("{arg}: name a bucket, as ALIAS/BUCKET");
        }
        Ok((conn, bucket, key))
    }

    /// The connection for `alias` (one per alias per run).
    pub fn connect(&self, alias: &str) -> Result<Connection> {
        let mut cache = self
            .connections
            .lock()
            .map_err(|_| anyhow!("connection cache poisoned"))?;
        if let Some(c) = cache.get(alias) {
            return Ok(c.clone());
        }
        let (a, _) = self
            .aliases
            .get(alias)
            .ok_or_else(|| anyhow!("no alias named {alias:?}"))?;
        let conn = s3_client::connect(a).with_context(|| format!("alias {alias}"))?;
        cache.insert(alias.to_string(), conn.clone());
        Ok(conn)
    }

    /// Prints a result: `text` for people, `json` with `--json`, nothing with `--quiet`.
    pub fn print(&self, text: impl FnOnce() -> String, json: serde_json::Value) {
        if self.out.json {
            println!("{json}");
        } else if !self.out.quiet {
            println!("{}", text());
        }
    }
}

/// Runs a client command on a fresh runtime.
pub fn run<F, Fut>(out: OutputArgs, f: F) -> Result<()>
where
    F: FnOnce(Arc<Ctx>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let ctx = Arc::new(Ctx::new(out)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start runtime")?;
    rt.block_on(f(ctx))
}

/// Sizes as mc prints them: `5B`, `1.0KiB`, `11KiB`, `1.5GiB`.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{value:.0}{}", UNITS[unit])
    }
}

/// `5 B`, `1.0 MiB`: sizes with a space, as `stat` and the transfer summary print them.
pub fn human_spaced(n: u64) -> String {
    let h = human(n);
    let at = h.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(h.len());
    format!("{} {}", &h[..at], &h[at..])
}

/// `2024-01-15 10:23:45 UTC` from an SDK timestamp.
pub fn date(t: Option<&s3_client::aws_sdk_s3::primitives::DateTime>) -> String {
    t.map(|t| unix_date(t.secs())).unwrap_or_default()
}

/// `2024-01-15 10:23:45 UTC` from seconds since the epoch.
pub fn unix_date(secs: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return String::new();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The JSON form of an error, for `--json`.
pub fn error_json(e: &anyhow::Error) -> serde_json::Value {
    let s3 = e.chain().find_map(|c| c.downcast_ref::<s3_client::Error>());
    let mut err = serde_json::json!({ "message": format!("{e:#}") });
    if let Some(code) = s3.and_then(|s| s.code()) {
        err["code"] = code.into();
    }
    serde_json::json!({ "status": "error", "error": err })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(5), "5B");
        assert_eq!(human(1024), "1.0KiB");
        assert_eq!(human(11 * 1024 + 10), "11KiB");
        assert_eq!(human(3 << 30), "3.0GiB");
        assert_eq!(human_spaced(5), "5 B");
        assert_eq!(human_spaced(1 << 20), "1.0 MiB");
    }

    #[test]
    fn dates() {
        assert_eq!(unix_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(unix_date(1_705_314_225), "2024-01-15 10:23:45 UTC");
    }

    #[test]
    fn enc_rules() {
        let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let args = EncArgs {
            s3: vec!["a/b".into()],
            kms: vec!["a/b/k=my-key".into()],
            c: vec![
                format!("a/c/={key}"),
                "a/e/=0123456789abcdef0123456789abcdef".into(),
            ],
        };
        let rules = EncRules::parse(&args).unwrap();
        assert!(matches!(rules.for_path("a/b/x"), Sse::S3));
        assert!(matches!(rules.for_path("a/b/k1"), Sse::Kms(k) if k == "my-key"));
        assert!(matches!(rules.for_path("a/c/z"), Sse::C(_)));
        assert!(matches!(rules.for_path("a/d/z"), Sse::None));
        assert!(matches!(rules.for_path("a/e/z"), Sse::C(_)));
        assert!(
            !format!("{args:?}").contains(&key),
            "Debug shows an SSE-C key"
        );
        let mut bad = EncArgs::default();
        bad.c = vec!["a/b=short".into()];
        assert!(EncRules::parse(&bad).is_err());
        let mut bad = EncArgs::default();
        bad.kms = vec!["a/b".into()];
        assert!(EncRules::parse(&bad).is_err());
    }
}
