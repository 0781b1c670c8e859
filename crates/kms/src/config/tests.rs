//! Tests of environment parsing: every family, the mixing rules and the error lines.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::kes::*;
use super::*;
use crate::secret_file::tests::TempDir;

const SECRET: &str = "my-key:eEm+JI9/q4JhH8QwKvf3LKo4DEBl6QbfvAl1CAbMIv8=";
const MASTER: &str = "old-key:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

fn parse_in(vars: &[(&str, &str)], secrets: &Path) -> Result<Option<KmsConfig>, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    from_env_in(&|k: &str| map.get(k).cloned(), secrets)
}

fn parse(vars: &[(&str, &str)]) -> Result<Option<KmsConfig>, ConfigError> {
    parse_in(vars, Path::new("/nonexistent-secrets"))
}

fn err(vars: &[(&str, &str)]) -> String {
    parse(vars).unwrap_err().to_string()
}

fn api_key() -> String {
    kes_proto::ApiKey::generate().unwrap().encode()
}

fn kes_with(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut v = vec![
        (KES_ENDPOINT, "https://127.0.0.1:7373".to_string()),
        (KES_KEY_NAME, "my-key".to_string()),
        (KES_CAPATH, data("ec-cert.pem")),
    ];
    v.extend(extra.iter().cloned());
    v
}

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn nothing_set_or_only_empty_values_means_no_kms() {
    assert!(parse(&[]).unwrap().is_none());
    assert!(parse(&[
        (SECRET_KEY, ""),
        (KES_ENDPOINT, "  "),
        (SECRET_KEY_FILE, "")
    ])
    .unwrap()
    .is_none());
    // A key file that does not exist counts as unset (MinIO's Docker image sets one).
    assert!(parse(&[(SECRET_KEY_FILE, "/nonexistent/kms_key")])
        .unwrap()
        .is_none());
}

#[test]
fn kes_with_api_key_and_ellipses() {
    let key = api_key();
    let vars = kes_with(&[
        (
            KES_ENDPOINT,
            " https://kes{1...3}:7373 , kes{08...09}:7373,".into(),
        ),
        (KES_API_KEY, key.clone()),
    ]);
    let Some(KmsConfig::Kes(c)) = parse(&as_refs(&vars)).unwrap() else {
        panic!("expected KES")
    };
    assert_eq!(
        c.endpoints,
        [
            "https://kes1:7373",
            "https://kes2:7373",
            "https://kes3:7373",
            "https://kes08:7373",
            "https://kes09:7373"
        ]
    );
    assert_eq!(c.key_name, "my-key");
    let cfg = KmsConfig::Kes(c);
    assert!(cfg.to_string().starts_with("KES at https://kes1:7373, "));
    assert!(!format!("{cfg:?}").contains(&key[7..]));
}

#[test]
fn kes_with_certificate_files() {
    let plain = kes_with(&[
        (KES_CERT_FILE, data("ec-cert.pem")),
        (KES_KEY_FILE, data("ec-plain.pem")),
    ]);
    assert!(matches!(
        parse(&as_refs(&plain)),
        Ok(Some(KmsConfig::Kes(_)))
    ));

    let encrypted = kes_with(&[
        (KES_CERT_FILE, data("ec-cert.pem")),
        (KES_KEY_FILE, data("ec-aes256.pem")),
        (KES_KEY_PASSWORD, "coffer-test".into()),
    ]);
    let Some(cfg) = parse(&as_refs(&encrypted)).unwrap() else {
        panic!("expected KES")
    };
    // The key fits the certificate: the TLS configuration accepts the pair.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(connect(cfg)).unwrap();

    let no_password = kes_with(&[
        (KES_CERT_FILE, data("ec-cert.pem")),
        (KES_KEY_FILE, data("ec-aes256.pem")),
    ]);
    let e = parse(&as_refs(&no_password)).unwrap_err().to_string();
    assert!(
        e.starts_with("kms: MINIO_KMS_KES_KEY_PASSWORD: not set"),
        "{e}"
    );

    let wrong = kes_with(&[
        (KES_CERT_FILE, data("ec-cert.pem")),
        (KES_KEY_FILE, data("ec-aes256.pem")),
        (KES_KEY_PASSWORD, "hunter2".into()),
    ]);
    let e = parse(&as_refs(&wrong)).unwrap_err().to_string();
    assert!(e.starts_with("kms: MINIO_KMS_KES_KEY_PASSWORD: "), "{e}");
    assert!(!e.contains("hunter2"), "{e}");

    let missing = kes_with(&[
        (KES_CERT_FILE, data("ec-cert.pem")),
        (KES_KEY_FILE, "/nonexistent/key.pem".into()),
    ]);
    let e = parse(&as_refs(&missing)).unwrap_err().to_string();
    assert!(e.starts_with("kms: MINIO_KMS_KES_KEY_FILE: "), "{e}");
}

#[test]
fn kes_errors_name_the_variable() {
    let key = api_key();
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (
            vec![
                (KES_ENDPOINT, "https://k:7373".into()),
                (KES_API_KEY, key.clone()),
            ],
            "kms: MINIO_KMS_KES_KEY_NAME: not set",
        ),
        (kes_with(&[]), "kms: MINIO_KMS_KES_API_KEY: not set"),
        (
            kes_with(&[
                (KES_API_KEY, key.clone()),
                (KES_CERT_FILE, data("ec-cert.pem")),
            ]),
            "kms: MINIO_KMS_KES_API_KEY: set either",
        ),
        (
            kes_with(&[(KES_CERT_FILE, data("ec-cert.pem"))]),
            "kms: MINIO_KMS_KES_KEY_FILE: not set",
        ),
        (
            kes_with(&[(KES_API_KEY, "kes:v1:hunter2".into())]),
            "kms: MINIO_KMS_KES_API_KEY: not a valid",
        ),
        (
            kes_with(&[
                (KES_API_KEY, key.clone()),
                (KES_ENDPOINT, "http://k:7373".into()),
            ]),
            "kms: MINIO_KMS_KES_ENDPOINT: ",
        ),
        (
            kes_with(&[
                (KES_API_KEY, key.clone()),
                (KES_ENDPOINT, "https://k{3...1}".into()),
            ]),
            "kms: MINIO_KMS_KES_ENDPOINT: ",
        ),
        (
            kes_with(&[
                (KES_API_KEY, key.clone()),
                (KES_KEY_NAME, "bad/name".into()),
            ]),
            "kms: MINIO_KMS_KES_KEY_NAME: ",
        ),
        (
            kes_with(&[
                (KES_API_KEY, key.clone()),
                (KES_CAPATH, "/nonexistent".into()),
            ]),
            "kms: MINIO_KMS_KES_CAPATH: ",
        ),
        (
            vec![(KES_KEY_NAME, "k".into())],
            "kms: MINIO_KMS_KES_ENDPOINT: not set, but MINIO_KMS_KES_KEY_NAME is",
        ),
    ];
    for (vars, want) in cases {
        let e = parse(&as_refs(&vars)).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e} (want {want})");
        assert!(!e.contains("hunter2") && !e.contains(&key[7..]), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // The legacy CA variable still works.
    let legacy = [
        (KES_ENDPOINT, "https://k:7373".to_string()),
        (KES_KEY_NAME, "k".into()),
        (KES_API_KEY, key),
        (KES_CA_PATH, data("ec-cert.pem")),
    ];
    assert!(parse(&as_refs(&legacy)).is_ok());
}

#[test]
fn secret_key_from_variable_and_files() {
    let Some(KmsConfig::Builtin(b)) = parse(&[(SECRET_KEY, SECRET)]).unwrap() else {
        panic!("expected builtin")
    };
    assert_eq!(b.name(), "my-key");
    assert!(!b.is_legacy_master_key());

    let dir = TempDir::new("config");
    let file = dir.0.join("kms_key");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    crate::secret_file::tests::chmod(&file, 0o600);
    let by_path = parse(&[(SECRET_KEY_FILE, file.to_str().unwrap())]).unwrap();
    assert!(matches!(by_path, Some(KmsConfig::Builtin(_))));
    // A relative name is also looked up in the secrets directory.
    let relative = parse_in(&[(SECRET_KEY_FILE, "kms_key")], &dir.0).unwrap();
    assert!(matches!(relative, Some(KmsConfig::Builtin(_))));

    crate::secret_file::tests::chmod(&file, 0o644);
    let e = parse(&[(SECRET_KEY_FILE, file.to_str().unwrap())])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("kms: MINIO_KMS_SECRET_KEY_FILE: ") && e.contains("chmod 600"),
        "{e}"
    );
    assert!(!e.contains("eEm+"), "{e}");

    let e = err(&[(SECRET_KEY, "my-key:hunter2")]);
    assert!(
        e.starts_with("kms: MINIO_KMS_SECRET_KEY: ") && !e.contains("hunter2"),
        "{e}"
    );
}

#[test]
fn legacy_master_keys() {
    for var in ["MINIO_KMS_MASTER_KEY", "MINIO_SSE_MASTER_KEY"] {
        let Some(KmsConfig::Builtin(b)) = parse(&[(var, MASTER)]).unwrap() else {
            panic!("expected builtin")
        };
        assert!(b.is_legacy_master_key());
        assert_eq!(b.name(), "old-key");
    }
    let dir = TempDir::new("master");
    let file: PathBuf = dir.0.join("master");
    std::fs::write(&file, MASTER).unwrap();
    crate::secret_file::tests::chmod(&file, 0o600);
    let from_file = parse(&[("MINIO_KMS_MASTER_KEY_FILE", file.to_str().unwrap())]).unwrap();
    assert!(matches!(from_file, Some(KmsConfig::Builtin(b)) if b.is_legacy_master_key()));
    let e = err(&[("MINIO_SSE_MASTER_KEY", "old-key:0011")]);
    assert!(
        e.starts_with("kms: MINIO_SSE_MASTER_KEY: ") && !e.contains("0011"),
        "{e}"
    );
}

#[test]
fn two_families_are_refused_by_name() {
    let key = api_key();
    let mut kes = kes_with(&[(KES_API_KEY, key)]);
    kes.push((SECRET_KEY, SECRET.into()));
    assert_eq!(
        parse(&as_refs(&kes)).unwrap_err().to_string(),
        "kms: configuration for MINIO_KMS_KES_* and MINIO_KMS_SECRET_KEY is present; set only one"
    );
    let dir = TempDir::new("mix");
    let file = dir.0.join("k");
    std::fs::write(&file, SECRET).unwrap();
    let path = file.to_str().unwrap();
    type Vars<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Vars<'_>, &str, &str)> = vec![
        (
            vec![(SECRET_KEY, SECRET), (SECRET_KEY_FILE, path)],
            SECRET_KEY,
            SECRET_KEY_FILE,
        ),
        (
            vec![(SECRET_KEY, SECRET), ("MINIO_KMS_MASTER_KEY", MASTER)],
            SECRET_KEY,
            "MINIO_KMS_MASTER_KEY",
        ),
        (
            vec![
                ("MINIO_KMS_MASTER_KEY", MASTER),
                ("MINIO_SSE_MASTER_KEY", MASTER),
            ],
            "MINIO_KMS_MASTER_KEY",
            "MINIO_SSE_MASTER_KEY",
        ),
        (
            vec![
                (SECRET_KEY, SECRET),
                ("MINIO_SSE_VAULT_ENDPOINT", "http://v:8200"),
            ],
            SECRET_KEY,
            "MINIO_SSE_VAULT_*",
        ),
        (
            vec![
                (SECRET_KEY, SECRET),
                ("MINIO_KMS_SERVER", "https://kms:7373"),
            ],
            SECRET_KEY,
            "MINIO_KMS_SERVER",
        ),
    ];
    for (vars, a, b) in cases {
        assert_eq!(
            err(&vars),
            format!("kms: configuration for {a} and {b} is present; set only one")
        );
    }
    let e = err(&[("MINIO_KMS_SERVER", "https://kms:7373")]);
    assert!(e.starts_with("kms: MINIO_KMS_SERVER: MinIO KMS"), "{e}");
}

fn vault_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("MINIO_KMS_VAULT_ENDPOINT", "http://127.0.0.1:8200"),
        ("MINIO_KMS_VAULT_AUTH_TYPE", "approle"),
        ("MINIO_KMS_VAULT_APPROLE_ID", "role-id"),
        ("MINIO_KMS_VAULT_APPROLE_SECRET", "hunter2"),
        ("MINIO_KMS_VAULT_KEY_NAME", "my-minio-key"),
        ("MINIO_KMS_VAULT_KEY_VERSION", "2"),
        ("MINIO_KMS_VAULT_NAMESPACE", "ns1"),
    ]
}

#[test]
fn vault_transit() {
    let Some(KmsConfig::Vault(v)) = parse(&vault_vars()).unwrap() else {
        panic!("expected Vault")
    };
    assert_eq!(v.endpoint, "http://127.0.0.1:8200");
    assert_eq!(v.approle_id, "role-id");
    assert_eq!(v.approle_secret.as_str(), "hunter2");
    assert_eq!((v.key_name.as_str(), v.key_version), ("my-minio-key", 2));
    assert_eq!(v.namespace.as_deref(), Some("ns1"));
    let cfg = KmsConfig::Vault(v);
    assert!(!format!("{cfg:?} {cfg}").contains("hunter2"));

    // The original MINIO_SSE_VAULT_* names.
    let old: Vec<(String, &str)> = vault_vars()
        .into_iter()
        .map(|(k, v)| (k.replace("MINIO_KMS_", "MINIO_SSE_"), v))
        .collect();
    let old: Vec<(&str, &str)> = old.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert!(matches!(parse(&old), Ok(Some(KmsConfig::Vault(_)))));

    let with = |var: &'static str, value: &'static str| {
        let mut v: Vec<_> = vault_vars()
            .into_iter()
            .filter(|(k, _)| *k != var)
            .collect();
        if !value.is_empty() {
            v.push((var, value));
        }
        err(&v)
    };
    for (var, value, want) in [
        ("MINIO_KMS_VAULT_AUTH_TYPE", "kubernetes", "only approle"),
        ("MINIO_KMS_VAULT_KEY_VERSION", "-1", "not a key version"),
        ("MINIO_KMS_VAULT_APPROLE_SECRET", "", "not set"),
        ("MINIO_KMS_VAULT_APPROLE_ID", "", "not set"),
        ("MINIO_KMS_VAULT_KEY_NAME", "", "not set"),
        ("MINIO_KMS_VAULT_ENDPOINT", "vault:8200", "URL"),
        ("MINIO_KMS_VAULT_CAPATH", "/nonexistent", "does not exist"),
    ] {
        let e = with(var, value);
        assert!(
            e.starts_with(&format!("kms: {var}: ")) && e.contains(want),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }
    let e = err(&[("MINIO_KMS_VAULT_KEY_NAME", "k")]);
    assert!(
        e.starts_with("kms: MINIO_KMS_VAULT_ENDPOINT: not set"),
        "{e}"
    );
}

#[test]
fn auto_encryption_values() {
    let get =
        |v: &'static str, value: &'static str| move |k: &str| (k == v).then(|| value.to_string());
    assert!(!auto_encryption(|_| None).unwrap());
    assert!(auto_encryption(get("MINIO_KMS_AUTO_ENCRYPTION", "on")).unwrap());
    assert!(auto_encryption(get("MINIO_KMS_AUTO_ENCRYPTION", "ON")).unwrap());
    assert!(!auto_encryption(get("MINIO_KMS_AUTO_ENCRYPTION", "off")).unwrap());
    assert!(!auto_encryption(get("MINIO_KMS_AUTO_ENCRYPTION", "")).unwrap());
    assert!(auto_encryption(get("MINIO_SSE_AUTO_ENCRYPTION", "on")).unwrap());
    let e = auto_encryption(get("MINIO_KMS_AUTO_ENCRYPTION", "yes please"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("kms: MINIO_KMS_AUTO_ENCRYPTION: "), "{e}");
}

#[tokio::test]
async fn connect_builds_each_backend() {
    let builtin = connect(parse(&[(SECRET_KEY, SECRET)]).unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (builtin.kind(), builtin.default_key()),
        ("MinIO builtin", "my-key")
    );
    crate::self_test(builtin.as_ref()).await.unwrap();

    let kes = kes_with(&[(KES_API_KEY, api_key())]);
    let kes = connect(parse(&as_refs(&kes)).unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!((kes.kind(), kes.default_key()), ("KES", "my-key"));

    let vault = connect(parse(&vault_vars()).unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (vault.kind(), vault.default_key()),
        ("Vault transit", "my-minio-key")
    );
}
