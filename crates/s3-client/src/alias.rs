//! Aliases: a name for an S3 endpoint and its credentials, as mc keeps them.
//!
//! Three sources, first match wins:
//! 1. `MC_HOST_<ALIAS>=https://ACCESS:SECRET@host:port` in the environment (mc's form);
//! 2. coffer's own file, `$COFFER_CONFIG_DIR/aliases.json` (default
//!    `$XDG_CONFIG_HOME/coffer/` or `~/.config/coffer/`), written with mode 0600;
//! 3. mc's `config.json` (`$MC_CONFIG_DIR` or `~/.mc/`), read as it is and never written.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One endpoint with its credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// `http(s)://host[:port]`, no path.
    pub url: String,
    /// Access key.
    #[serde(rename = "accessKey")]
    pub access_key: String,
    /// Secret key.
    #[serde(rename = "secretKey")]
    pub secret_key: String,
    /// Signature version (`s3v4`); kept for mc compatibility.
    #[serde(default = "s3v4")]
    pub api: String,
    /// Bucket lookup: `auto`, `on` (path style) or `off` (virtual-host style).
    #[serde(default = "auto")]
    pub path: String,
    /// Signing region; `us-east-1` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

fn s3v4() -> String {
    "s3v4".into()
}

fn auto() -> String {
    "auto".into()
}

impl fmt::Debug for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alias")
            .field("url", &self.url)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("path", &self.path)
            .finish()
    }
}

impl Alias {
    /// A new alias after checking the URL.
    pub fn new(url: &str, access_key: &str, secret_key: &str) -> Result<Self> {
        let url = check_url(url)?;
        Ok(Self {
            url,
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            api: s3v4(),
            path: auto(),
            region: None,
        })
    }

    /// Whether requests put the bucket in the path (rather than in the host name).
    pub fn path_style(&self) -> bool {
        match self.path.as_str() {
            "on" => true,
            "off" => false,
            _ => !self.host().ends_with(".amazonaws.com"),
        }
    }

    /// The host (and port) of the URL.
    pub fn host(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |x| x.1);
        rest.split('/').next().unwrap_or(rest)
    }

    /// The signing region.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or("us-east-1")
    }
}

/// Checks an endpoint URL and returns it without a trailing slash.
fn check_url(url: &str) -> Result<String> {
    let trimmed = url.trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(Error::Config(format!(
            "invalid URL {trimmed:?}: it must start with http:// or https://"
        )));
    };
    if scheme != "http" && scheme != "https" {
        return Err(Error::Config(format!(
            "invalid URL {trimmed:?}: the scheme must be http or https"
        )));
    }
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return Err(Error::Config(format!(
            "invalid URL {trimmed:?}: give only scheme, host and port"
        )));
    }
    Ok(trimmed.to_string())
}

/// Alias names: letters, digits, `-` and `_`, starting with a letter (as mc).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Where an alias was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `MC_HOST_<name>`.
    Env,
    /// coffer's aliases file.
    Coffer,
    /// mc's config.json (read only).
    Mc,
}

impl Source {
    /// A short label for listings.
    pub fn label(self) -> &'static str {
        match self {
            Source::Env => "env",
            Source::Coffer => "coffer",
            Source::Mc => "mc",
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default = "version")]
    version: String,
    #[serde(default)]
    aliases: BTreeMap<String, Alias>,
    /// mc's config version 9 called them hosts.
    #[serde(default, skip_serializing)]
    hosts: BTreeMap<String, Alias>,
}

fn version() -> String {
    "10".into()
}

/// Every alias this user has, from the three sources.
#[derive(Debug)]
pub struct Aliases {
    path: PathBuf,
    own: BTreeMap<String, Alias>,
    mc: BTreeMap<String, Alias>,
    env: BTreeMap<String, Alias>,
}

impl Aliases {
    /// Loads aliases from the default places (see the module documentation).
    pub fn load() -> Result<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let own_dir = var("COFFER_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| var("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("coffer")))
            .or_else(|| home.as_ref().map(|h| h.join(".config/coffer")))
            .ok_or_else(|| {
                Error::Config("neither COFFER_CONFIG_DIR, XDG_CONFIG_HOME nor HOME is set".into())
            })?;
        let mc_dir = var("MC_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".mc")));
        let env = std::env::vars()
            .filter_map(|(k, v)| Some((k.strip_prefix("MC_HOST_")?.to_string(), v)))
            .map(|(name, v)| Ok((name.clone(), from_mc_host(&name, &v)?)))
            .collect::<Result<_>>()?;
        Self::from_files(&own_dir.join("aliases.json"), mc_dir.as_deref(), env)
    }

    fn from_files(
        path: &Path,
        mc_dir: Option<&Path>,
        env: BTreeMap<String, Alias>,
    ) -> Result<Self> {
        let own = read_file(path)?.map(|f| f.aliases).unwrap_or_default();
        let mc = match mc_dir {
            Some(dir) => read_file(&dir.join("config.json"))?
                .map(|mut f| {
                    f.aliases.append(&mut f.hosts);
                    f.aliases
                })
                .unwrap_or_default(),
            None => BTreeMap::new(),
        };
        Ok(Self {
            path: path.to_path_buf(),
            own,
            mc,
            env,
        })
    }

    /// The alias called `name`, and where it came from.
    pub fn get(&self, name: &str) -> Option<(&Alias, Source)> {
        self.env
            .get(name)
            .map(|a| (a, Source::Env))
            .or_else(|| self.own.get(name).map(|a| (a, Source::Coffer)))
            .or_else(|| self.mc.get(name).map(|a| (a, Source::Mc)))
    }

    /// Every alias, by name, with the one that wins for each name.
    pub fn all(&self) -> BTreeMap<&str, (&Alias, Source)> {
        let mut out = BTreeMap::new();
        for (source, map) in [
            (Source::Mc, &self.mc),
            (Source::Coffer, &self.own),
            (Source::Env, &self.env),
        ] {
            for (name, alias) in map {
                out.insert(name.as_str(), (alias, source));
            }
        }
        out
    }

    /// Adds or replaces an alias in coffer's file.
    pub fn set(&mut self, name: &str, alias: Alias) -> Result<()> {
        if !valid_name(name) {
            return Err(Error::Config(format!(
                "invalid alias name {name:?}: use letters, digits, '-' and '_', starting with a letter"
            )));
        }
        self.own.insert(name.to_string(), alias);
        self.save()
    }

    /// Removes an alias from coffer's file; mc's file is never written.
    pub fn remove(&mut self, name: &str) -> Result<()> {
        if self.own.remove(name).is_some() {
            return self.save();
        }
        if self.mc.contains_key(name) {
            return Err(Error::Config(format!(
                "alias {name} comes from mc's config.json, which coffer does not change; remove it with mc"
            )));
        }
        if self.env.contains_key(name) {
            return Err(Error::Config(format!(
                "alias {name} comes from the MC_HOST_{name} environment variable"
            )));
        }
        Err(Error::Config(format!("no alias {name}")))
    }

    /// The path of coffer's aliases file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn save(&self) -> Result<()> {
        let file = File {
            version: version(),
            aliases: self.own.clone(),
            hosts: BTreeMap::new(),
        };
        let text = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::Config(format!("cannot encode aliases: {e}")))?;
        let io = |e: std::io::Error| Error::Io(format!("{}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(io)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
            f.write_all(&text).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

fn read_file(path: &Path) -> Result<Option<File>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(format!("{}: {e}", path.display()))),
    }
}

/// Parses mc's `MC_HOST_<alias>` form, `scheme://ACCESS:SECRET@host[:port]`.
fn from_mc_host(name: &str, value: &str) -> Result<Alias> {
    let bad = || {
        Error::Config(format!(
            "MC_HOST_{name}: expected scheme://ACCESS_KEY:SECRET_KEY@host[:port]"
        ))
    };
    let (scheme, rest) = value.split_once("://").ok_or_else(bad)?;
    let (creds, host) = rest.rsplit_once('@').ok_or_else(bad)?;
    let (access, secret) = creds.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| {
        kes_proto::percent::decode(s)
            .ok_or_else(|| Error::Config(format!("MC_HOST_{name}: bad %-escape")))
    };
    Alias::new(
        &format!("{scheme}://{host}"),
        &decode(access)?,
        &decode(secret)?,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn url_checks() {
        assert_eq!(
            Alias::new("http://127.0.0.1:9000/", "a", "b").unwrap().url,
            "http://127.0.0.1:9000"
        );
        assert!(Alias::new("127.0.0.1:9000", "a", "b").is_err());
        assert!(Alias::new("ftp://x", "a", "b").is_err());
        assert!(Alias::new("http://x/bucket", "a", "b").is_err());
    }

    #[test]
    fn mc_host_form() {
        let a = from_mc_host("play", "https://AK:s%2Fk@play.min.io:9000").unwrap();
        assert_eq!(a.url, "https://play.min.io:9000");
        assert_eq!(a.access_key, "AK");
        assert_eq!(a.secret_key, "s/k");
        assert!(from_mc_host("x", "https://play.min.io").is_err());
        assert!(from_mc_host("x", "https://a:%+2@h").is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let a = Alias::new("http://h", "AK", "very-secret").unwrap();
        assert!(!format!("{a:?}").contains("very-secret"));
    }

    #[test]
    fn path_style() {
        let mut a = Alias::new("https://s3.amazonaws.com", "a", "b").unwrap();
        assert!(!a.path_style());
        a.path = "on".into();
        assert!(a.path_style());
        assert!(Alias::new("http://127.0.0.1:9000", "a", "b")
            .unwrap()
            .path_style());
    }

    #[test]
    fn files_mc_read_only_and_mode() {
        let dir = std::env::temp_dir().join(format!("coffer-alias-{}", std::process::id()));
        let mc = dir.join("mc");
        std::fs::create_dir_all(&mc).unwrap();
        std::fs::write(
            mc.join("config.json"),
            r#"{"version":"10","aliases":{"myminio":{"url":"http://127.0.0.1:9000","accessKey":"minio","secretKey":"minio123","api":"s3v4","path":"auto"}}}"#,
        )
        .unwrap();
        let own = dir.join("coffer/aliases.json");
        let mut aliases = Aliases::from_files(&own, Some(&mc), BTreeMap::new()).unwrap();
        assert_eq!(aliases.get("myminio").unwrap().1, Source::Mc);
        assert!(aliases.remove("myminio").is_err());
        aliases
            .set("local", Alias::new("http://h:1", "a", "b").unwrap())
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&own).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Aliases::from_files(&own, Some(&mc), BTreeMap::new()).unwrap();
        assert_eq!(again.get("local").unwrap().1, Source::Coffer);
        assert!(std::fs::read_to_string(mc.join("config.json"))
            .unwrap()
            .contains("minio123"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
