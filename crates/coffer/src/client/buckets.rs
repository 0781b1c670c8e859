//! `alias`, `tag`, `encrypt` and `admin kms key`.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use s3_client::admin::Admin;
use s3_client::alias::Alias;
use s3_client::aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging,
};
use s3_client::Connection;

use super::Ctx;

/// `coffer alias`.
#[derive(Subcommand)]
pub enum AliasCommand {
    /// Add or replace an alias (stored with mode 0600).
    Set {
        /// Alias name.
        name: String,
        /// Endpoint URL, http(s)://host[:port].
        url: String,
        /// Access key.
        access_key: String,
        /// Secret key.
        secret_key: String,
        /// Bucket lookup: auto, on (path style) or off (virtual-host style).
        #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
        path: String,
        /// Signing region.
        #[arg(long)]
        region: Option<String>,
    },
    /// List aliases (from coffer's file, mc's config.json and MC_HOST_*).
    Ls {
        /// Only this alias.
        name: Option<String>,
        /// Print secret keys too.
        #[arg(long)]
        show_secret: bool,
    },
    /// Remove an alias from coffer's file.
    Rm {
        /// Alias name.
        name: String,
    },
}

impl std::fmt::Debug for AliasCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The secret key is never printed.
            AliasCommand::Set { name, url, .. } => {
                write!(
                    f,
                    "AliasCommand::Set {{ name: {name:?}, url: {url:?}, .. }}"
                )
            }
            AliasCommand::Ls { name, .. } => write!(f, "AliasCommand::Ls {{ name: {name:?} }}"),
            AliasCommand::Rm { name } => write!(f, "AliasCommand::Rm {{ name: {name:?} }}"),
        }
    }
}

/// `coffer alias …`.
pub async fn alias(ctx: Arc<Ctx>, cmd: AliasCommand) -> Result<()> {
    // Aliases are edited on a private copy: the context keeps what was loaded.
    let mut aliases = s3_client::alias::Aliases::load()?;
    match cmd {
        AliasCommand::Set {
            name,
            url,
            access_key,
            secret_key,
            path,
            region,
        } => {
            let mut alias = Alias::new(&url, &access_key, &secret_key)?;
            alias.path = path;
            alias.region = region;
            aliases.set(&name, alias)?;
            ctx.print(
                || format!("Added `{name}` successfully."),
                serde_json::json!({"status": "success", "alias": name, "url": url}),
            );
        }
        AliasCommand::Rm { name } => {
            aliases.remove(&name)?;
            ctx.print(
                || format!("Removed `{name}` successfully."),
                serde_json::json!({"status": "success", "alias": name}),
            );
        }
        AliasCommand::Ls { name, show_secret } => {
            let all = aliases.all();
            if let Some(n) = &name {
                if !all.contains_key(n.as_str()) {
                    bail!("no alias named {n:?}");
                }
            }
            for (n, (a, source)) in all {
                if name.as_deref().is_some_and(|x| x != n) {
                    continue;
                }
                let secret = if show_secret {
                    a.secret_key.clone()
                } else {
                    "*".repeat(8)
                };
                ctx.print(
                    || {
                        format!(
                            "{n}\n  URL       : {}\n  AccessKey : {}\n  SecretKey : {secret}\n  API       : {}\n  Path      : {}\n  Source    : {}\n",
                            a.url, a.access_key, a.api, a.path, source.label()
                        )
                    },
                    serde_json::json!({"status": "success", "alias": n, "URL": a.url,
                        "accessKey": a.access_key, "secretKey": secret, "api": a.api,
                        "path": a.path, "source": source.label()}),
                );
            }
        }
    }
    Ok(())
}

/// `coffer tag`.
#[derive(Debug, Subcommand)]
pub enum TagCommand {
    /// Replace the tags of an object or bucket: "k1=v1&k2=v2".
    Set {
        /// ALIAS/BUCKET[/KEY].
        target: String,
        /// Tags as `k1=v1&k2=v2`.
        tags: String,
        /// The version of the object.
        #[arg(long)]
        version_id: Option<String>,
    },
    /// Print the tags of an object or bucket.
    List {
        /// ALIAS/BUCKET[/KEY].
        target: String,
        /// The version of the object.
        #[arg(long)]
        version_id: Option<String>,
    },
    /// Remove every tag of an object or bucket.
    Remove {
        /// ALIAS/BUCKET[/KEY].
        target: String,
        /// The version of the object.
        #[arg(long)]
        version_id: Option<String>,
    },
}

fn parse_tags(text: &str) -> Result<Vec<Tag>> {
    text.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k.is_empty() {
                bail!("tag {pair:?}: the key is empty");
            }
            Tag::builder().key(k).value(v).build().context("tag")
        })
        .collect()
}

/// `coffer tag …`.
pub async fn tag(ctx: Arc<Ctx>, cmd: TagCommand) -> Result<()> {
    match cmd {
        TagCommand::Set {
            target,
            tags,
            version_id,
        } => {
            let (conn, bucket, key) = ctx.bucket(&target)?;
            let tagging = Tagging::builder()
                .set_tag_set(Some(parse_tags(&tags)?))
                .build()
                .context("tags")?;
            if key.is_empty() {
                conn.s3
                    .put_bucket_tagging()
                    .bucket(&bucket)
                    .tagging(tagging)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| conn.error(e))
            } else {
                conn.s3
                    .put_object_tagging()
                    .bucket(&bucket)
                    .key(&key)
                    .set_version_id(version_id)
                    .tagging(tagging)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| conn.error(e))
            }
            .with_context(|| format!("cannot tag {target}"))?;
            ctx.print(
                || format!("Tags set for {target}."),
                serde_json::json!({"status": "success", "name": target}),
            );
        }
        TagCommand::List { target, version_id } => {
            let (conn, bucket, key) = ctx.bucket(&target)?;
            let tags: Vec<(String, String)> = if key.is_empty() {
                match conn.s3.get_bucket_tagging().bucket(&bucket).send().await {
                    Ok(out) => pairs(out.tag_set()),
                    Err(e) => {
                        let e = conn.error(e);
                        if e.code() == Some("NoSuchTagSet") {
                            Vec::new()
                        } else {
                            return Err(e).with_context(|| format!("cannot read tags of {target}"));
                        }
                    }
                }
            } else {
                let out = conn
                    .s3
                    .get_object_tagging()
                    .bucket(&bucket)
                    .key(&key)
                    .set_version_id(version_id)
                    .send()
                    .await
                    .map_err(|e| conn.error(e))
                    .with_context(|| format!("cannot read tags of {target}"))?;
                pairs(out.tag_set())
            };
            let width = tags.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            let map: serde_json::Map<_, _> = tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            ctx.print(
                || {
                    let mut s = format!("Name: {target}");
                    for (k, v) in &tags {
                        s.push_str(&format!("\n{k:<width$} : {v}"));
                    }
                    s
                },
                serde_json::json!({"status": "success", "name": target, "tagset": map}),
            );
        }
        TagCommand::Remove { target, version_id } => {
            let (conn, bucket, key) = ctx.bucket(&target)?;
            if key.is_empty() {
                conn.s3
                    .delete_bucket_tagging()
                    .bucket(&bucket)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| conn.error(e))
            } else {
                conn.s3
                    .delete_object_tagging()
                    .bucket(&bucket)
                    .key(&key)
                    .set_version_id(version_id)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| conn.error(e))
            }
            .with_context(|| format!("cannot remove the tags of {target}"))?;
            ctx.print(
                || format!("Tags removed for {target}."),
                serde_json::json!({"status": "success", "name": target}),
            );
        }
    }
    Ok(())
}

fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// `coffer encrypt`.
#[derive(Debug, Subcommand)]
pub enum EncryptCommand {
    /// Set the bucket's default encryption: `sse-s3 ALIAS/BUCKET` or
    /// `sse-kms KEY ALIAS/BUCKET`.
    Set {
        /// sse-s3 or sse-kms.
        #[arg(value_parser = ["sse-s3", "sse-kms"])]
        kind: String,
        /// For sse-kms the key name, then ALIAS/BUCKET; for sse-s3 only ALIAS/BUCKET.
        #[arg(required = true, num_args = 1..=2)]
        args: Vec<String>,
    },
    /// Print the bucket's default encryption.
    Info {
        /// ALIAS/BUCKET.
        target: String,
    },
    /// Remove the bucket's default encryption.
    Clear {
        /// ALIAS/BUCKET.
        target: String,
    },
}

/// The bucket's default encryption: algorithm and KMS key, or `None`.
pub async fn bucket_encryption(
    conn: &Connection,
    bucket: &str,
) -> Result<Option<(String, Option<String>)>> {
    match conn.s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(out) => Ok(out
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| {
                (
                    d.sse_algorithm().as_str().to_string(),
                    d.kms_master_key_id().map(str::to_string),
                )
            })),
        Err(e) => {
            let e = conn.error(e);
            if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") {
                Ok(None)
            } else {
                Err(e.into())
            }
        }
    }
}

/// `coffer encrypt …`.
pub async fn encrypt(ctx: Arc<Ctx>, cmd: EncryptCommand) -> Result<()> {
    match cmd {
        EncryptCommand::Set { kind, args } => {
            let (key, target) = match (kind.as_str(), args.as_slice()) {
                ("sse-s3", [target]) => (None, target.clone()),
                ("sse-kms", [key, target]) => (Some(key.clone()), target.clone()),
                ("sse-s3", _) => bail!("usage: coffer encrypt set sse-s3 ALIAS/BUCKET"),
                _ => bail!("usage: coffer encrypt set sse-kms KEY ALIAS/BUCKET"),
            };
            let (conn, bucket, _) = ctx.bucket(&target)?;
            let mut default =
                ServerSideEncryptionByDefault::builder().sse_algorithm(if key.is_some() {
                    ServerSideEncryption::AwsKms
                } else {
                    ServerSideEncryption::Aes256
                });
            if let Some(k) = &key {
                default = default.kms_master_key_id(k);
            }
            let config = ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            default.build().context("encryption rule")?,
                        )
                        .build(),
                )
                .build()
                .context("encryption configuration")?;
            conn.s3
                .put_bucket_encryption()
                .bucket(&bucket)
                .server_side_encryption_configuration(config)
                .send()
                .await
                .map_err(|e| conn.error(e))
                .with_context(|| format!("cannot set the encryption of {target}"))?;
            ctx.print(
                || format!("Auto encryption configuration has been set successfully for {target}"),
                serde_json::json!({"status": "success", "url": target, "algorithm": kind, "keyId": key}),
            );
        }
        EncryptCommand::Info { target } => {
            let (conn, bucket, _) = ctx.bucket(&target)?;
            let enc = bucket_encryption(&conn, &bucket)
                .await
                .with_context(|| format!("cannot read the encryption of {target}"))?;
            let (alg, key) = match &enc {
                Some((alg, key)) => (
                    Some(if alg == "aws:kms" {
                        "sse-kms"
                    } else {
                        "sse-s3"
                    }),
                    key.clone(),
                ),
                None => (None, None),
            };
            ctx.print(
                || match (alg, &key) {
                    (Some(a), Some(k)) => format!("Auto encryption '{a}' is enabled with KeyID: {k}"),
                    (Some(a), None) => format!("Auto encryption '{a}' is enabled"),
                    _ => format!("Auto encryption is not enabled for {target}"),
                },
                serde_json::json!({"status": "success", "url": target,
                    "enc": {"algorithm": alg.unwrap_or(""), "keyId": key.clone().unwrap_or_default()}}),
            );
        }
        EncryptCommand::Clear { target } => {
            let (conn, bucket, _) = ctx.bucket(&target)?;
            conn.s3
                .delete_bucket_encryption()
                .bucket(&bucket)
                .send()
                .await
                .map_err(|e| conn.error(e))
                .with_context(|| format!("cannot clear the encryption of {target}"))?;
            ctx.print(
                || {
                    format!(
                        "Auto encryption configuration has been cleared successfully for {target}"
                    )
                },
                serde_json::json!({"status": "success", "url": target}),
            );
        }
    }
    Ok(())
}

/// `coffer admin kms key`.
#[derive(Debug, Subcommand)]
pub enum KmsKeyCommand {
    /// Check a key: generate a data key under it and decrypt it again.
    Status {
        /// Alias of the object server.
        alias: String,
        /// Key name; the server's default key when absent.
        key: Option<String>,
    },
    /// Create a key in the KMS.
    Create {
        /// Alias of the object server.
        alias: String,
        /// Key name.
        key: String,
    },
    /// List the keys of the KMS.
    List {
        /// Alias of the object server.
        alias: String,
        /// Only names matching this pattern (`*` wildcards).
        #[arg(default_value = "*")]
        pattern: String,
    },
}

fn admin(ctx: &Ctx, alias: &str) -> Result<Admin> {
    if alias.contains('/') {
        bail!("{alias}: give only the alias of the server");
    }
    let conn = ctx.connect(alias)?;
    Ok(Admin::new(&conn)?)
}

/// `coffer admin kms key …`, printing what mc prints.
pub async fn kms_key(ctx: Arc<Ctx>, cmd: KmsKeyCommand) -> Result<()> {
    match cmd {
        KmsKeyCommand::Status { alias, key } => {
            let status = admin(&ctx, &alias)?
                .key_status(key.as_deref())
                .await
                .with_context(|| format!("cannot get the key status from {alias}"))?;
            let enc_ok = status.encryption_error.is_none();
            let dec_ok = enc_ok && status.decryption_error.is_none();
            ctx.print(
                || {
                    let mut s = format!("Key: {}\n", status.key_id);
                    match &status.encryption_error {
                        None => s.push_str("   - Encryption ✔\n"),
                        Some(e) => s.push_str(&format!("   - Encryption ✗ ({e})\n")),
                    }
                    match (&status.encryption_error, &status.decryption_error) {
                        (Some(_), _) => s.push_str("   - Decryption ?"),
                        (None, None) => s.push_str("   - Decryption ✔"),
                        (None, Some(e)) => s.push_str(&format!("   - Decryption ✗ ({e})")),
                    }
                    s
                },
                serde_json::json!({"status": "success", "key-id": status.key_id,
                    "encryptionErr": status.encryption_error.clone().unwrap_or_default(),
                    "decryptionErr": status.decryption_error.clone().unwrap_or_default()}),
            );
            if !(enc_ok && dec_ok) {
                bail!("key {} does not work", status.key_id);
            }
        }
        KmsKeyCommand::Create { alias, key } => {
            admin(&ctx, &alias)?
                .create_key(&key)
                .await
                .with_context(|| format!("cannot create key {key} on {alias}"))?;
            ctx.print(
                || format!("Created master key `{key}` successfully"),
                serde_json::json!({"status": "success", "key-id": key}),
            );
        }
        KmsKeyCommand::List { alias, pattern } => {
            let keys = admin(&ctx, &alias)?
                .list_keys(&pattern)
                .await
                .with_context(|| format!("cannot list the keys of {alias}"))?;
            for k in keys {
                ctx.print(
                    || k.clone(),
                    serde_json::json!({"status": "success", "name": k}),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tag_parsing() {
        let tags = parse_tags("a=1&b=&c=x=y").unwrap();
        assert_eq!(
            pairs(&tags),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "".into()),
                ("c".into(), "x=y".into())
            ]
        );
        assert!(parse_tags("=v").is_err());
    }
}
