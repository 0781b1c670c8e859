//! The user's seed `kes-config.toml` (tests/data, copied from the project's shared seed)
//! and the `coffer kes` client commands, against real server processes.

mod common;

use common::{coffer, kes_client, server_cert, start_kes, start_kes_in, TempDir};
use kes_proto::apikey::ApiKey;
use kms::Error;

const SEED: &str = include_str!("data/seed-kes-config.toml");
const SEED_IDENTITY: &str = "dd46485bedc9ad2909d2e8f9017216eec4413bc5c64b236d992f7ec19c843c5f";

fn api_status(e: &Error) -> u16 {
    match e {
        Error::Api(a) => a.status,
        other => panic!("not an API error: {other}"),
    }
}

#[test]
fn seed_config_as_is_names_the_blank_approle_id() {
    let dir = TempDir::new("seed-vault");
    server_cert(dir.path());
    std::fs::rename(
        dir.path().join("server.crt"),
        dir.path().join("kes-tls.crt"),
    )
    .expect("rename");
    std::fs::rename(
        dir.path().join("server.key"),
        dir.path().join("kes-tls.key"),
    )
    .expect("rename");
    std::fs::write(dir.path().join("kes-config.toml"), SEED).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .current_dir(dir.path())
        .args(["kes", "server", "--config", "kes-config.toml"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("keystore.vault.approle.id: missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_config_with_fs_keystore_enforces_its_policy() {
    let dir = TempDir::new("seed-fs");
    let (_, _, cert) = server_cert(dir.path());
    std::fs::rename(
        dir.path().join("server.crt"),
        dir.path().join("kes-tls.crt"),
    )
    .expect("rename");
    std::fs::rename(
        dir.path().join("server.key"),
        dir.path().join("kes-tls.key"),
    )
    .expect("rename");
    let minio = ApiKey::generate().expect("key");
    let vault_start = SEED
        .find("[keystore.vault]")
        .expect("seed has a vault keystore");
    let config = format!("{}[keystore.fs]\npath = \"./keys\"\n", &SEED[..vault_start])
        .replace(SEED_IDENTITY, minio.identity().as_str());
    std::fs::write(dir.path().join("kes-config.toml"), config).expect("write");
    let proc = start_kes_in(
        &["--config", "kes-config.toml", "--addr", "127.0.0.1:0"],
        Some(dir.path()),
    );

    let m = kes_client(&proc.addr, &minio, &cert);
    m.create_key("minio-default")
        .await
        .expect("policy allows create of minio-*");
    let dek = m.generate("minio-default", b"{}").await.expect("generate");
    let pt = m
        .decrypt("minio-default", &dek.ciphertext, b"{}")
        .await
        .expect("decrypt");
    assert_eq!(&pt[..], &dek.plaintext[..]);
    assert!(
        dir.path().join("keys").join("minio-default").exists(),
        "key stored in ./keys"
    );
    assert_eq!(
        api_status(&m.create_key("other").await.expect_err("outside policy")),
        403
    );
    assert_eq!(
        api_status(&m.list_keys("*").await.expect_err("list not allowed")),
        403
    );
    assert_eq!(
        api_status(
            &m.delete_key("minio-default")
                .await
                .expect_err("delete not allowed")
        ),
        403
    );

    let stranger = kes_client(&proc.addr, &ApiKey::generate().expect("key"), &cert);
    assert_eq!(
        api_status(
            &stranger
                .generate("minio-default", b"")
                .await
                .expect_err("no policy")
        ),
        403
    );
}

#[test]
fn kes_cli_against_a_dev_server() {
    let proc = start_kes(&["--dev", "--addr", "127.0.0.1:0"]);
    let api_key = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found = proc.stderr.lock().expect("lines").iter().find_map(|l| {
                l.trim()
                    .strip_prefix("admin API key:")
                    .map(|k| k.trim().to_string())
            });
            if let Some(k) = found {
                break k;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "dev server printed no API key"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let server = format!("https://{}", proc.addr);
    let env = [
        ("KES_SERVER", server.as_str()),
        ("KES_API_KEY", api_key.as_str()),
    ];
    let run = |args: &[&str]| {
        let (ok, out, err) = coffer(args, &env);
        assert!(ok, "coffer {args:?}: {err}");
        out
    };
    run(&["kes", "key", "create", "-k", "app-1", "app-2"]);
    let ls = run(&["kes", "key", "ls", "-k"]);
    assert_eq!(ls.lines().collect::<Vec<_>>(), ["app-1", "app-2"]);
    let info = run(&["kes", "key", "info", "-k", "app-1"]);
    assert!(info.contains("AES256"), "{info}");
    let dek: serde_json::Value =
        serde_json::from_str(&run(&["kes", "key", "dek", "-k", "app-1", "ctx"])).expect("json");
    let ct = dek["ciphertext"].as_str().expect("ciphertext");
    let pt = run(&["kes", "key", "decrypt", "-k", "app-1", ct, "ctx"]);
    assert_eq!(pt.trim(), dek["plaintext"].as_str().expect("plaintext"));
    let (ok, _, err) = coffer(&["kes", "key", "decrypt", "-k", "app-1", ct, "other"], &env);
    assert!(
        !ok && err.contains("decryption failed: ciphertext is not authentic"),
        "{err}"
    );
    run(&["kes", "key", "rm", "-k", "app-2"]);
    let (ok, _, err) = coffer(&["kes", "key", "info", "-k", "app-2"], &env);
    assert!(!ok && err.contains("key does not exist"), "{err}");
    let status = run(&["kes", "status", "-k"]);
    assert!(status.contains("online"), "{status}");
    // Without -k the self-signed dev certificate is refused.
    let (ok, _, _) = coffer(&["kes", "key", "ls"], &env);
    assert!(!ok);
    // Without credentials: a message naming what to set.
    let (ok, _, err) = coffer(
        &["kes", "key", "ls", "-k"],
        &[("KES_SERVER", server.as_str())],
    );
    assert!(!ok && err.contains("KES_API_KEY"), "{err}");
}

#[test]
fn identity_new_and_of_agree() {
    let dir = TempDir::new("identity");
    let key = dir.path().join("client.key");
    let cert = dir.path().join("client.crt");
    let (ok, out, err) = coffer(
        &[
            "kes",
            "identity",
            "new",
            "--key",
            key.to_str().expect("utf-8"),
            "--cert",
            cert.to_str().expect("utf-8"),
            "--ip",
            "127.0.0.1",
            "--dns",
            "localhost",
            "client-1",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let api_key = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("kes:v1:"))
        .expect("API key printed");
    let identity = out
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("identity printed");
    let (_, of_key, _) = coffer(&["kes", "identity", "of", api_key], &[]);
    let (_, of_cert, err) = coffer(
        &["kes", "identity", "of", cert.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(of_key.trim(), identity);
    assert_eq!(of_cert.trim(), identity, "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o077, 0, "private key readable by others");
    }
    // Existing files are not overwritten without --force.
    let (ok, _, err) = coffer(
        &[
            "kes",
            "identity",
            "new",
            "--key",
            key.to_str().expect("utf-8"),
            "--cert",
            cert.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(!ok && err.contains("--force"), "{err}");
    let (ok, _, err) = coffer(&["kes", "identity", "of", "kes:v1:not-base64!"], &[]);
    assert!(!ok && err.contains("API key"), "{err}");
}
