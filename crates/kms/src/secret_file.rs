//! Key files: read only when no one but the owner can access them, written atomically
//! with mode 0600.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Where Docker and Kubernetes mount secrets; relative `*_FILE` paths are also tried here.
pub(crate) const SECRETS_DIR: &str = "/run/secrets";

/// The file a `*_FILE` variable names: the path as given, or for a relative path that
/// does not exist, the same name under `secrets_dir`. `None` if neither exists.
pub(crate) fn resolve(path: &str, secrets_dir: &Path) -> Option<PathBuf> {
    let p = Path::new(path);
    if p.exists() {
        return Some(p.to_path_buf());
    }
    if p.is_relative() {
        let alt = secrets_dir.join(p);
        if alt.exists() {
            return Some(alt);
        }
    }
    None
}

/// Reads a secret file as trimmed text. Refuses (with a `chmod 600` hint) a file that group
/// or others may access, and an empty one. Errors name the path, never the content.
pub(crate) fn read(path: &Path) -> Result<Zeroizing<String>, String> {
    let display = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {display}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{display} is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{display} is accessible by group or others (mode {mode:04o}); \
                 run `chmod 600 {display}`"
            ));
        }
    }
    let bytes =
        Zeroizing::new(std::fs::read(path).map_err(|e| format!("cannot read {display}: {e}"))?);
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("{display} is not text"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{display} is empty"));
    }
    Ok(Zeroizing::new(text.to_string()))
}

/// Creates `path` holding `content` with mode 0600, unless it already exists: the content
/// goes to a temporary file that is then linked into place, so a reader never sees a
/// partial file and of two racing writers exactly one wins. Returns `false` if the file
/// existed (the caller reads it then).
pub(crate) fn create_new(path: &Path, content: &[u8]) -> std::io::Result<bool> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;

    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let _ = std::fs::remove_file(&tmp);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(content)?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            use aws_lc_rs::rand::{SecureRandom, SystemRandom};
            let mut r = [0u8; 8];
            SystemRandom::new().fill(&mut r).unwrap();
            let d = std::env::temp_dir().join(format!(
                "coffer-kms-{tag}-{}-{}",
                std::process::id(),
                hex::encode(r)
            ));
            std::fs::create_dir_all(&d).unwrap();
            Self(d)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[cfg(unix)]
    pub(crate) fn chmod(p: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn refuses_files_others_can_read() {
        let dir = TempDir::new("secret");
        let f = dir.0.join("key");
        std::fs::write(&f, "name:secret-value\n").unwrap();
        chmod(&f, 0o644);
        let err = read(&f).unwrap_err();
        assert!(
            err.contains("chmod 600") && !err.contains("secret-value"),
            "{err}"
        );
        chmod(&f, 0o600);
        assert_eq!(read(&f).unwrap().as_str(), "name:secret-value");
        std::fs::write(&f, " \n").unwrap();
        assert!(read(&f).unwrap_err().contains("empty"));
    }

    #[test]
    fn resolves_relative_paths_under_the_secrets_dir() {
        let dir = TempDir::new("resolve");
        std::fs::write(dir.0.join("kms_key"), "x").unwrap();
        assert_eq!(resolve("kms_key", &dir.0), Some(dir.0.join("kms_key")));
        assert_eq!(resolve("missing", &dir.0), None);
        let abs = dir.0.join("kms_key");
        assert_eq!(
            resolve(abs.to_str().unwrap(), Path::new("/nowhere")),
            Some(abs)
        );
    }

    #[test]
    #[cfg(unix)]
    fn creates_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("create");
        let f = dir.0.join("a/b/key");
        assert!(create_new(&f, b"one").unwrap());
        assert!(!create_new(&f, b"two").unwrap());
        assert_eq!(std::fs::read(&f).unwrap(), b"one");
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers = std::fs::read_dir(dir.0.join("a/b")).unwrap().count();
        assert_eq!(leftovers, 1);
    }
}
