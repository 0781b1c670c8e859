//! The contract every keystore honours, run against each backend available here.

use std::sync::Arc;

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

async fn contract(store: Arc<dyn KeyStore>) {
    assert!(matches!(store.get("k1").await, Err(Error::NotFound)));
    assert!(matches!(store.delete("k1").await, Err(Error::NotFound)));
    store.create("k1", b"value-1").await.expect("create");
    assert!(matches!(
        store.create("k1", b"other").await,
        Err(Error::AlreadyExists)
    ));
    assert_eq!(
        &store.get("k1").await.expect("get")[..],
        b"value-1",
        "first value kept"
    );
    store.create("k2", b"value-2").await.expect("create");
    store.create("other", b"x").await.expect("create");
    assert_eq!(store.list("").await.expect("list"), ["k1", "k2", "other"]);
    assert_eq!(store.list("k").await.expect("list"), ["k1", "k2"]);
    assert!(store.list("zzz").await.expect("list").is_empty());
    store.delete("k1").await.expect("delete");
    assert!(matches!(store.get("k1").await, Err(Error::NotFound)));
    assert_eq!(store.list("k").await.expect("list"), ["k2"]);
    store.create("k1", b"again").await.expect("re-create");
    assert_eq!(&store.get("k1").await.expect("get")[..], b"again");
    assert!(store.status().await.expect("status").latency.as_nanos() > 0);

    // Concurrent creates of one name: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = store.clone();
        tasks.push(tokio::spawn(
            async move { s.create("race", &[i]).await.is_ok() },
        ));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.expect("task"));
    }
    assert_eq!(winners, 1);
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
