//! Configuration files of both KES eras: what parses, what each invalid file says.

use std::time::Duration;

use kes_server::config::{parse, Format, KeystoreConfig};
use keystore::vault::{Jwt, Login};

const ID_A: &str = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";
const ID_M: &str = "dd46485bedc9ad2909d2e8f9017216eec4413bc5c64b236d992f7ec19c843c5f";

fn env(name: &str) -> Option<String> {
    match name {
        "ADMIN" => Some(ID_A.to_string()),
        "KEYS_DIR" => Some("/tmp/keys".to_string()),
        _ => None,
    }
}

fn yaml(text: &str) -> Result<kes_server::config::Config, String> {
    parse(text, Format::Yaml, &env).map_err(|e| e.0)
}

fn toml(text: &str) -> Result<kes_server::config::Config, String> {
    parse(text, Format::Toml, &env).map_err(|e| e.0)
}

#[test]
fn seed_toml_parses_with_its_vault_keystore() {
    let seed = include_str!("../../coffer/tests/data/seed-kes-config.toml");
    // As shipped, the AppRole credentials are blank: a one-line error names the field.
    assert_eq!(
        toml(seed).expect_err("blank approle id"),
        "keystore.vault.approle.id: missing (the AppRole role ID)"
    );
    let seed = seed
        .replace("id     = \"\"", "id     = \"role-1\"")
        .replace("secret = \"\"", "secret = \"secret-1\"");
    let c = toml(&seed).expect("seed parses");
    assert_eq!(c.address, "127.0.0.1:7373");
    assert_eq!(c.admin, None, "the seed has no root");
    assert_eq!(c.identities.get(ID_M).map(String::as_str), Some("minio"));
    let p = c.policies.get("minio").expect("policy");
    assert!(p.allows("/v1/key/generate/minio-default"));
    assert!(!p.allows("/v1/key/delete/minio-default"));
    assert_eq!(c.cache.any, Duration::from_secs(300));
    assert_eq!(c.cache.unused, Duration::from_secs(20));
    let KeystoreConfig::Vault(v) = &c.keystore else {
        panic!("not vault: {:?}", c.keystore)
    };
    assert_eq!(v.endpoint, "https://127.0.0.1:8200");
    assert_eq!((v.engine.as_str(), v.prefix.as_str()), ("kv", "minio"));
    assert_eq!(v.version, keystore::vault::KvVersion::V1);
    let Login::AppRole(a) = &v.login else {
        panic!("not approle: {:?}", v.login)
    };
    assert_eq!(a.engine, "approle");
    assert_eq!(a.retry, Duration::from_secs(15));
    assert_eq!(
        v.ping,
        Duration::from_secs(10),
        "the seed's [keystore.vault.status] ping"
    );
    assert!(v.transit.is_none());
    assert_eq!(
        v.tls.ca.as_deref(),
        Some(std::path::Path::new("./vault-tls.crt"))
    );
    let debug = format!("{:?}", c.keystore);
    assert!(
        !debug.contains("secret-1") && !debug.contains("role-1"),
        "{debug}"
    );
    assert!(!c.log.audit, "first era: audit off unless configured");
}

#[test]
fn current_yaml_with_env_substitution() {
    let c = yaml(
        r#"
version: v1
address: 0.0.0.0:7373
admin:
  identity: ${ADMIN}
tls:
  key: ./server.key
  cert: ./server.cert
  auth: off
api:
  /v1/ready:
    skip_auth: true
    timeout: 5s
cache:
  expiry:
    any: 5m0s
    unused: 20s
    offline: 1h
log:
  error: on
  audit: off
policy:
  my-app:
    allow:
    - /v1/key/create/my-app*
    deny:
    - /v1/key/generate/my-app-internal*
    identities:
    - DD46485BEDC9AD2909D2E8F9017216EEC4413BC5C64B236D992F7EC19C843C5F
keys:
  - name: my-key
keystore:
  fs:
    path: ${KEYS_DIR}
"#,
    )
    .expect("valid");
    assert_eq!(c.admin.as_deref(), Some(ID_A));
    assert_eq!(
        c.identities.get(ID_M).map(String::as_str),
        Some("my-app"),
        "identities are lowercased"
    );
    assert!(c.api["/v1/ready"].skip_auth);
    assert_eq!(c.api["/v1/ready"].timeout, Some(Duration::from_secs(5)));
    assert_eq!(c.cache.offline, Duration::from_secs(3600));
    assert_eq!(c.keys, ["my-key"]);
    assert!(!c.log.audit && c.log.error);
    assert!(
        matches!(c.keystore, KeystoreConfig::Fs { ref path } if path.to_str() == Some("/tmp/keys"))
    );
}

#[test]
fn invalid_configs_name_the_field() {
    let base = format!("admin:\n  identity: {ID_A}\nkeystore:\n  fs:\n    path: /tmp/k\n");
    let cases: Vec<(String, &str)> = vec![
        (format!("{base}bogus: 1\n"), "bogus"),
        (format!("{base}tls:\n  key: a\n  kee: b\n"), "kee"),
        ("admin:\n  identity: ${NOPE}\nkeystore:\n  fs:\n    path: x\n".into(), "NOPE"),
        ("keystore:\n  fs:\n    path: x\n".into(), "admin.identity"),
        (format!("admin:\n  identity: {ID_A}\n"), "keystore"),
        (format!("{base}cache:\n  expiry:\n    any: 5 minutes\n"), "cache.expiry.any"),
        (format!("{base}policy:\n  p:\n    identities: [not-an-identity]\n"), "policy.p.identities[0]"),
        (format!("{base}policy:\n  p:\n    identities: [{ID_A}]\n"), "admin identity"),
        (
            format!("{base}policy:\n  p:\n    identities: [{ID_M}]\n  q:\n    identities: [{ID_M}]\n"),
            "already assigned",
        ),
        (format!("admin:\n  identity: {ID_A}\nkeystore:\n  fs:\n    path: a\n  vault:\n    endpoint: b\n"), "more than one"),
        (format!("{base}version: v2\n"), "version"),
        (format!("{base}api:\n  /v1/nope:\n    skip_auth: true\n"), "api./v1/nope"),
        (format!("{base}log:\n  audit: loud\n"), "log.audit"),
        (format!("{base}tls:\n  auth: on\n"), "tls.ca"),
        (format!("{base}tls:\n  password: secret\n"), "tls.password"),
        (format!("{base}keys:\n  - name: bad.name\n"), "keys[0]"),
        (format!("admin:\n  identity: {ID_A}\nkeystore:\n  azure:\n    x: 1\n"), "keystore.azure"),
        ("admin: [\n".into(), ""),
    ];
    for (text, want) in cases {
        let err = yaml(&text).expect_err(&text);
        assert!(err.contains(want), "want {want:?} in {err:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(!err.contains("secret"), "a secret value leaked: {err}");
    }
}

#[test]
fn toml_errors_and_defaults() {
    assert!(
        toml("root = \"disabled\"\n")
            .expect("minimal")
            .admin
            .as_deref()
            == Some("disabled")
    );
    let c = toml("").expect("empty first-era file: in-memory keystore");
    assert!(matches!(c.keystore, KeystoreConfig::Memory));
    let err = toml("address = 1\n").expect_err("type");
    assert!(err.contains("address"), "{err}");
    let err = toml("[kms.vault]\naddress = \"x\"\n").expect_err("kms wrap");
    assert!(err.contains("kms"), "{err}");
}

mod fuzz {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,300}") {
            let _ = kes_server::config::parse(&text, kes_server::config::Format::Yaml, &|_| None);
            let _ = kes_server::config::parse(&text, kes_server::config::Format::Toml, &|_| None);
        }

        #[test]
        fn mutated_valid_configs_never_panic(cut in 0usize..200, insert in "[ :\\-\\[\\]{}\"'#a-z0-9\\n$]{0,8}") {
            let base = "admin:\n  identity: 3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22\npolicy:\n  p:\n    allow: [/v1/key/*]\ncache:\n  expiry:\n    any: 5m\nkeystore:\n  fs:\n    path: /tmp/x\n";
            let at = cut.min(base.len());
            let at = (0..=at).rev().find(|i| base.is_char_boundary(*i)).unwrap_or(0);
            let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
            let _ = kes_server::config::parse(&text, kes_server::config::Format::Yaml, &|_| None);
        }

        #[test]
        fn route_resolution_never_panics(path in "/[a-z0-9/%*._-]{0,60}") {
            let table = kes_server::routes::table();
            if let Some((route, canonical, resource)) = kes_server::routes::resolve(&table, &path) {
                prop_assert!(canonical.starts_with(route.path.trim_end_matches('/')));
                prop_assert!(path.ends_with(&resource));
            }
        }
    }
}

#[test]
fn vault_keystore_settings_of_the_current_era() {
    let base = format!("admin:\n  identity: {ID_A}\nkeystore:\n  vault:\n");
    let c = yaml(&format!(
        "{base}    endpoint: http://127.0.0.1:8200\n    engine: secrets\n    version: v2\n    namespace: team\n    prefix: kes\n    approle:\n      engine: ar\n      namespace: /\n      id: r\n      secret: s3cr3t-value\n      retry: 2s\n    status:\n      ping: 3s\n"
    ))
    .expect("valid");
    let KeystoreConfig::Vault(v) = &c.keystore else {
        panic!("not vault")
    };
    assert_eq!(v.engine, "secrets");
    assert_eq!(v.version, keystore::vault::KvVersion::V2);
    assert_eq!(v.namespace.as_deref(), Some("team"));
    assert_eq!(v.prefix, "kes");
    let Login::AppRole(a) = &v.login else {
        panic!("not approle")
    };
    assert_eq!(a.engine, "ar");
    assert_eq!(a.namespace.as_deref(), Some("/"));
    assert_eq!(a.retry, Duration::from_secs(2));
    assert_eq!(v.ping, Duration::from_secs(3));
    assert!(!format!("{c:?}").contains("s3cr3t-value"));

    // Transit wrapping and Kubernetes login with a literal token.
    let c = yaml(&format!(
        "{base}    endpoint: http://127.0.0.1:8200\n    transit:\n      key: wrap\n    kubernetes:\n      role: minio\n      jwt: eyJhbGciOi.s3cr3t-jwt.c2ln\n"
    ))
    .expect("valid");
    let KeystoreConfig::Vault(v) = &c.keystore else {
        panic!("not vault")
    };
    let t = v.transit.as_ref().expect("transit");
    assert_eq!((t.engine.as_str(), t.key.as_str()), ("transit", "wrap"));
    let Login::Kubernetes(k) = &v.login else {
        panic!("not kubernetes")
    };
    assert_eq!(
        (k.engine.as_str(), k.role.as_str()),
        ("kubernetes", "minio")
    );
    assert!(matches!(&k.jwt, Jwt::Token(t) if t.as_str() == "eyJhbGciOi.s3cr3t-jwt.c2ln"));
    assert_eq!(v.ping, Duration::from_secs(15), "default status.ping");
    assert!(!format!("{c:?}").contains("s3cr3t-jwt"));

    // A jwt containing '/' is a file: it must exist, and is read at each login.
    let jwt_file = std::env::temp_dir().join(format!("coffer-config-jwt-{}", std::process::id()));
    std::fs::write(&jwt_file, "eyJ.token.sig").expect("write jwt");
    let c = yaml(&format!(
        "{base}    endpoint: http://127.0.0.1:8200\n    transit:\n      engine: wrapping\n      key: k\n    kubernetes:\n      engine: k8s\n      namespace: /\n      role: minio\n      jwt: {}\n      retry: 3s\n    status:\n      ping: 0s\n",
        jwt_file.display()
    ))
    .expect("valid");
    let _ = std::fs::remove_file(&jwt_file);
    let KeystoreConfig::Vault(v) = &c.keystore else {
        panic!("not vault")
    };
    assert_eq!(
        v.transit.as_ref().map(|t| t.engine.as_str()),
        Some("wrapping")
    );
    let Login::Kubernetes(k) = &v.login else {
        panic!("not kubernetes")
    };
    assert!(matches!(&k.jwt, Jwt::File(p) if *p == jwt_file));
    assert_eq!(
        (k.engine.as_str(), k.namespace.as_deref()),
        ("k8s", Some("/"))
    );
    assert_eq!(k.retry, Duration::from_secs(3));
    assert_eq!(v.ping, Duration::from_secs(15), "0 means the default");

    let ok_auth = "    approle:\n      id: r\n      secret: s3cr3t-value\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{base}    engine: kv\n{ok_auth}"),
            "keystore.vault.endpoint: missing",
        ),
        (
            format!("{base}    endpoint: 127.0.0.1:8200\n{ok_auth}"),
            "keystore.vault.endpoint",
        ),
        (
            format!("{base}    endpoint: http://h\n    version: v3\n{ok_auth}"),
            "keystore.vault.version",
        ),
        (
            format!("{base}    endpoint: http://h\n"),
            "keystore.vault.approle: missing",
        ),
        (
            format!("{base}    endpoint: http://h\n    approle:\n      secret: s3cr3t-value\n"),
            "keystore.vault.approle.id: missing",
        ),
        (
            format!("{base}    endpoint: http://h\n    approle:\n      id: r\n"),
            "keystore.vault.approle.secret: missing",
        ),
        (
            format!("{base}    endpoint: https://h\n{ok_auth}"),
            "keystore.vault.tls.ca",
        ),
        (
            format!("{base}    endpoint: http://h\n    tls:\n      key: k\n{ok_auth}"),
            "keystore.vault.tls",
        ),
        (
            format!("{base}    endpoint: http://h\n    transit:\n      engine: t\n{ok_auth}"),
            "keystore.vault.transit.key: missing",
        ),
        (
            format!("{base}    endpoint: http://h\n    kubernetes:\n      jwt: s3cr3t-value\n"),
            "keystore.vault.kubernetes.role: missing",
        ),
        (
            format!("{base}    endpoint: http://h\n    kubernetes:\n      role: r\n"),
            "keystore.vault.kubernetes.jwt: missing",
        ),
        (
            format!("{base}    endpoint: http://h\n    kubernetes:\n      role: r\n      jwt: /nonexistent/coffer/token\n"),
            "keystore.vault.kubernetes.jwt: cannot read /nonexistent/coffer/token",
        ),
        (
            format!("{base}    endpoint: http://h\n    kubernetes:\n      role: r\n{ok_auth}"),
            "approle and kubernetes are both set",
        ),
        (
            format!("{base}    endpoint: http://h\n    status:\n      ping: soon\n{ok_auth}"),
            "keystore.vault.status.ping",
        ),
    ];
    for (text, want) in cases {
        let err = yaml(&text).expect_err(&text);
        assert!(err.contains(want), "want {want:?} in {err:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(
            !err.contains("s3cr3t-value"),
            "a secret value leaked: {err}"
        );
    }
}

#[test]
fn aws_keystore_settings_of_both_eras() {
    let base = format!("admin:\n  identity: {ID_A}\nkeystore:\n  aws:\n    secretsmanager:\n");
    let c = yaml(&format!(
        "{base}      endpoint: https://secretsmanager.eu-west-1.amazonaws.com\n      region: eu-west-1\n      kmskey: alias/kes\n      credentials:\n        accesskey: AKIDCURRENT\n        secretkey: s3cr3t-value\n        token: t0k3n-value\n"
    ))
    .expect("valid");
    let KeystoreConfig::Aws(a) = &c.keystore else {
        panic!("not aws: {:?}", c.keystore)
    };
    assert_eq!(a.endpoint, "https://secretsmanager.eu-west-1.amazonaws.com");
    assert_eq!(a.region, "eu-west-1");
    assert_eq!(a.kms_key_id.as_deref(), Some("alias/kes"));
    let creds = a.credentials.as_ref().expect("static credentials");
    assert_eq!(creds.access_key, "AKIDCURRENT");
    assert_eq!(creds.secret_key.as_str(), "s3cr3t-value");
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cr3t-value") && !debug.contains("t0k3n-value"));

    // No credentials: the AWS environment variables at start-up.
    let c = yaml(&format!(
        "{base}      endpoint: http://127.0.0.1:5000\n      region: us-east-1\n"
    ))
    .expect("valid");
    let KeystoreConfig::Aws(a) = &c.keystore else {
        panic!("not aws")
    };
    assert!(a.credentials.is_none() && a.kms_key_id.is_none());

    // First era.
    let c = toml(
        "address = \"127.0.0.1:7373\"\nroot = \"disabled\"\n[keystore.aws.secrets_manager]\naddress = \"https://secretsmanager.us-east-2.amazonaws.com\"\nregion = \"us-east-2\"\nkms_key_id = \"k1\"\n[keystore.aws.secrets_manager.credentials]\naccess_key = \"AKIDFIRST\"\nsecret_key = \"s3cr3t-value\"\nsession_token = \"\"\n",
    )
    .expect("valid first era");
    let KeystoreConfig::Aws(a) = &c.keystore else {
        panic!("not aws")
    };
    assert_eq!(a.region, "us-east-2");
    assert_eq!(a.kms_key_id.as_deref(), Some("k1"));
    let creds = a.credentials.as_ref().expect("static credentials");
    assert_eq!(creds.access_key, "AKIDFIRST");
    assert!(creds.session_token.is_none());

    let ep = "      endpoint: http://h\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{base}      region: us-east-1\n"),
            "keystore.aws.secretsmanager.endpoint: missing",
        ),
        (
            format!("{base}      endpoint: h:443\n      region: us-east-1\n"),
            "keystore.aws.secretsmanager.endpoint",
        ),
        (
            format!("{base}{ep}"),
            "keystore.aws.secretsmanager.region: missing",
        ),
        (
            format!("{base}{ep}      region: r\n      credentials:\n        accesskey: a\n"),
            "keystore.aws.secretsmanager.credentials.secretkey: missing",
        ),
        (
            format!(
                "{base}{ep}      region: r\n      credentials:\n        secretkey: s3cr3t-value\n"
            ),
            "keystore.aws.secretsmanager.credentials.accesskey: missing",
        ),
        (
            format!("{base}{ep}      region: r\n      kmskey: a\n      kms_key_id: b\n"),
            "kmskey and kms_key_id are both set",
        ),
    ];
    for (text, want) in cases {
        let err = yaml(&text).expect_err(&text);
        assert!(err.contains(want), "want {want:?} in {err:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(!err.contains("s3cr3t-value"), "a secret leaked: {err}");
    }
}
