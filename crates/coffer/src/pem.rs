//! Writing PEM files (certificates and private keys).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine;

/// PEM text of one DER object with the given label.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes `text` to `path` with `mode` (0600 for keys), refusing to overwrite unless
/// `force`.
pub fn write(path: &Path, text: &str, mode: u32, force: bool) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    let mut f = opts.open(path).with_context(|| {
        if path.exists() && !force {
            format!("{} exists; use --force to overwrite it", path.display())
        } else {
            format!("cannot write {}", path.display())
        }
    })?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
