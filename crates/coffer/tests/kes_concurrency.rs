//! 16 concurrent clients generate and decrypt on many keys while other keys are
//! deleted and re-imported with new key bytes. Every data key the server returns is
//! checked locally against the key bytes the test imported: the server must never seal
//! with a wrong key, including a stale cached version of a re-created one.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{kes_client, server_cert, start_kes, TempDir};
use kes_proto::apikey::ApiKey;
use kes_proto::crypto::{Algorithm, SecretKey};

const STABLE: usize = 8;
const CHURN: usize = 4;
const CLIENTS: usize = 16;

/// Key bytes of `name` at `version`: distinct for every (name, version).
fn key_bytes(name: usize, version: usize) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = name as u8;
    k[1..9].copy_from_slice(&(version as u64).to_le_bytes());
    k[9] = 0xa5;
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_never_get_a_wrong_key() {
    let dir = TempDir::new("kes-conc");
    let (cert_path, key_path, cert) = server_cert(dir.path());
    let admin = ApiKey::generate().expect("key");
    let config = format!(
        "admin:\n  identity: {}\ntls:\n  key: {}\n  cert: {}\nlog:\n  audit: off\nkeystore:\n  fs:\n    path: {}\n",
        admin.identity(),
        key_path.display(),
        cert_path.display(),
        dir.path().join("keys").display()
    );
    let cfg = dir.path().join("config.yml");
    std::fs::write(&cfg, config).expect("config");
    let proc = start_kes(&[
        "--config",
        cfg.to_str().expect("utf-8"),
        "--addr",
        "127.0.0.1:0",
    ]);
    let setup = kes_client(&proc.addr, &admin, &cert);
    let total = STABLE + CHURN;
    for n in 0..total {
        setup
            .import_key(&format!("k{n}"), &key_bytes(n, 0), "AES256")
            .await
            .expect("import");
    }
    // versions[n]: current version of churn key n (even = present, odd = deleted).
    let versions: Arc<Vec<AtomicUsize>> =
        Arc::new((0..total).map(|_| AtomicUsize::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(6);

    let churn = {
        let (client, versions, stop) = (
            kes_client(&proc.addr, &admin, &cert),
            versions.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut cycles = 0;
            while !stop.load(Ordering::Relaxed) {
                for n in STABLE..total {
                    let name = format!("k{n}");
                    versions[n].fetch_add(1, Ordering::SeqCst); // odd: deleting
                    client.delete_key(&name).await.expect("delete");
                    let v = versions[n].load(Ordering::SeqCst) + 1;
                    client
                        .import_key(&name, &key_bytes(n, v), "AES256")
                        .await
                        .expect("re-import");
                    versions[n].store(v, Ordering::SeqCst); // even: present with bytes v
                }
                cycles += 1;
            }
            cycles
        })
    };

    let mut workers = Vec::new();
    for c in 0..CLIENTS {
        let (client, versions) = (kes_client(&proc.addr, &admin, &cert), versions.clone());
        workers.push(tokio::spawn(async move {
            let (mut ok, mut missing, mut i) = (0u64, 0u64, c);
            while Instant::now() < deadline {
                i = (i * 7 + 3) % total;
                let name = format!("k{i}");
                let ctx = format!("client-{c}-{ok}");
                let before = versions[i].load(Ordering::SeqCst);
                let dek = match client.generate(&name, ctx.as_bytes()).await {
                    Ok(d) => d,
                    Err(kms::Error::Api(e)) if e.status == 404 && i >= STABLE => {
                        missing += 1;
                        continue;
                    }
                    Err(e) => panic!("generate {name}: {e}"),
                };
                let after = versions[i].load(Ordering::SeqCst);
                // The sealing key must be a version that existed during the request.
                let sealed_by = (before / 2 * 2..=after + 1).step_by(2).find(|v| {
                    SecretKey::new(Algorithm::Aes256, key_bytes(i, *v))
                        .decrypt(&dek.ciphertext, ctx.as_bytes())
                        .is_ok_and(|pt| pt[..] == dek.plaintext[..])
                });
                assert!(
                    sealed_by.is_some(),
                    "{name}: data key sealed by an unexpected key (versions {before}..{after})"
                );
                if i < STABLE {
                    let pt = client
                        .decrypt(&name, &dek.ciphertext, ctx.as_bytes())
                        .await
                        .expect("decrypt");
                    assert_eq!(&pt[..], &dek.plaintext[..]);
                    let other = format!("k{}", (i + 1) % STABLE);
                    assert!(client
                        .decrypt(&other, &dek.ciphertext, ctx.as_bytes())
                        .await
                        .is_err());
                }
                ok += 1;
            }
            (ok, missing)
        }));
    }
    let mut total_ok = 0;
    for w in workers {
        let (ok, _) = w.await.expect("worker");
        total_ok += ok;
    }
    stop.store(true, Ordering::Relaxed);
    let cycles = churn.await.expect("churn");
    assert!(total_ok > 100, "only {total_ok} successful generate calls");
    assert!(cycles > 2, "only {cycles} churn cycles");
}
