//! A filesystem keystore: one file per key, for testing and small single-node set-ups.
//!
//! A key is created by writing a temporary file (mode 0600), fsyncing it, then
//! hard-linking it to the key's name: the link fails if the name exists, so creation is
//! atomic and create-if-absent, and a crash leaves either no key or the whole key. The
//! directory is fsynced after each change. Leftover temporary files are ignored by
//! listing and removed at open.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use zeroize::Zeroizing;

use crate::{Error, KeyStore, Result, Status, MAX_VALUE_SIZE};

const TMP_PREFIX: &str = ".tmp-";

/// Keys as files in one directory.
#[derive(Debug, Clone)]
pub struct FsKeyStore {
    dir: PathBuf,
}

impl FsKeyStore {
    /// Opens (creating if needed, mode 0755) the key directory `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| backend("create key directory", &e))?;
        let entries = std::fs::read_dir(&dir).map_err(|e| backend("read key directory", &e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self { dir })
    }

    /// The key directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn key_path(&self, name: &str) -> Result<PathBuf> {
        let bad = name.is_empty()
            || name.starts_with(TMP_PREFIX)
            || name.contains(['/', '\\', '.', '\0']);
        if bad {
            return Err(Error::InvalidName);
        }
        Ok(self.dir.join(name))
    }
}

/// A missing key file means "not found" only while the key directory exists; without
/// the directory (an unmounted volume, say) the keystore is unreachable, and a caller
/// must not conclude that the key is gone.
fn not_found(dir: &Path) -> Error {
    if dir.is_dir() {
        Error::NotFound
    } else {
        Error::Unreachable(format!("key directory {} is missing", dir.display()))
    }
}

fn backend(what: &str, e: &std::io::Error) -> Error {
    Error::Backend(format!("{what}: {e}"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Backend(format!("keystore task failed: {e}")))?
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| backend("sync key directory", &e))
}

fn create_file(dir: &Path, path: &Path, value: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = (|| {
        let mut f = opts
            .open(&tmp)
            .map_err(|e| backend("create key file", &e))?;
        f.write_all(value)
            .map_err(|e| backend("write key file", &e))?;
        f.sync_all().map_err(|e| backend("sync key file", &e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists),
            Err(e) => Err(backend("link key file", &e)),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result?;
    sync_dir(dir)
}

#[async_trait::async_trait]
impl KeyStore for FsKeyStore {
    async fn create(&self, name: &str, value: &[u8]) -> Result<()> {
        let path = self.key_path(name)?;
        let dir = self.dir.clone();
        let value = Zeroizing::new(value.to_vec());
        blocking(move || create_file(&dir, &path, &value)).await
    }

    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        let path = self.key_path(name)?;
        let dir = self.dir.clone();
        blocking(move || {
            use std::io::Read;
            let f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(&dir)),
                Err(e) => return Err(backend("open key file", &e)),
            };
            let mut buf = Zeroizing::new(Vec::new());
            f.take(MAX_VALUE_SIZE as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(|e| backend("read key file", &e))?;
            if buf.len() > MAX_VALUE_SIZE {
                return Err(Error::Backend("key file larger than 1 MiB".into()));
            }
            Ok(buf)
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let path = self.key_path(name)?;
        let dir = self.dir.clone();
        blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(&dir)),
                Err(e) => return Err(backend("remove key file", &e)),
            }
            sync_dir(&dir)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = self.dir.clone();
        let prefix = prefix.to_string();
        blocking(move || {
            let mut names = Vec::new();
            let entries = std::fs::read_dir(&dir).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Error::Unreachable(format!("key directory {} is missing", dir.display()))
                }
                _ => backend("read key directory", &e),
            })?;
            for entry in entries {
                let entry = entry.map_err(|e| backend("read key directory", &e))?;
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
                if is_file && !name.starts_with(TMP_PREFIX) && name.starts_with(&prefix) {
                    names.push(name);
                }
            }
            names.sort();
            Ok(names)
        })
        .await
    }

    async fn status(&self) -> Result<Status> {
        let dir = self.dir.clone();
        blocking(move || {
            let start = Instant::now();
            let meta = std::fs::metadata(&dir)
                .map_err(|e| Error::Unreachable(format!("key directory: {e}")))?;
            if !meta.is_dir() {
                return Err(Error::Unreachable(
                    "key directory is not a directory".into(),
                ));
            }
            Ok(Status {
                latency: start.elapsed().max(std::time::Duration::from_nanos(1)),
            })
        })
        .await
    }
}
