//! The contract every keystore honours, shared by the test binaries of this crate.

use std::sync::Arc;

use keystore::{Error, KeyStore};

/// Runs the whole contract against an empty `store`.
pub async fn contract(store: Arc<dyn KeyStore>) {
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
