//! Reading secrets (keys) from files, refusing files others can read.

use std::path::Path;

use anyhow::{bail, Context, Result};
use zeroize::Zeroizing;

/// Reads a secret file. On Unix, a file readable or writable by group or others is
/// refused: a key that others can read is no longer secret.
pub fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let display = path.display();
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read key file {display}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "key file {display} is accessible by group or others (mode {mode:04o}); \
                 run `chmod 600 {display}`"
            );
        }
    }
    if !meta.is_file() {
        bail!("key file {display} is not a regular file");
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read key file {display}"))?;
    Ok(Zeroizing::new(bytes))
}
