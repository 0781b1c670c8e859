//! The contract every keystore honours (`common::contract`), run against the local
//! backends; `vault.rs` runs it against OpenBao.

mod common;

use std::sync::Arc;

use common::contract;
use keystore::{Error, FsKeyStore, KeyStore, MemoryKeyStore};

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "coffer-keystore-{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_keystore_contract() {
    contract(Arc::new(MemoryKeyStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_keystore_contract() {
    let dir = tmpdir("contract");
    contract(Arc::new(FsKeyStore::open(&dir).expect("open"))).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn fs_keystore_files_are_private_and_names_are_checked() {
    let dir = tmpdir("perm");
    let store = FsKeyStore::open(&dir).expect("open");
    store.create("k", b"secret").await.expect("create");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("k"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    for bad in ["", "a/b", "..", "a.b", "a\\b", ".tmp-x"] {
        assert!(
            matches!(store.create(bad, b"x").await, Err(Error::InvalidName)),
            "{bad:?}"
        );
        assert!(
            matches!(store.get(bad).await, Err(Error::InvalidName)),
            "{bad:?}"
        );
    }
    // A leftover temporary file from a crash is removed at open and never listed.
    std::fs::write(dir.join(".tmp-123-4"), b"partial").expect("write");
    assert_eq!(store.list("").await.expect("list"), ["k"]);
    let store = FsKeyStore::open(&dir).expect("reopen");
    assert!(!dir.join(".tmp-123-4").exists());
    assert_eq!(&store.get("k").await.expect("get")[..], b"secret");
    // A missing directory is "unreachable", not "not found".
    std::fs::remove_dir_all(&dir).expect("rm");
    assert!(matches!(store.status().await, Err(Error::Unreachable(_))));
    assert!(matches!(store.get("k").await, Err(Error::Unreachable(_))));
    assert!(matches!(
        store.delete("k").await,
        Err(Error::Unreachable(_))
    ));
    assert!(matches!(store.list("").await, Err(Error::Unreachable(_))));
}
