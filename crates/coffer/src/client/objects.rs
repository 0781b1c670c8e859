//! `mb`, `rb`, `ls`, `cat`, `head`, `stat`, `rm`, `du`.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use s3_client::aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, VersioningConfiguration,
};
use s3_client::transfer::{self, NoProgress};
use s3_client::{listing, Connection};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::{date, human, Ctx, EncArgs, EncRules, Target};

/// `coffer mb`.
#[derive(Debug, Args)]
pub struct MbArgs {
    /// ALIAS/BUCKET to create.
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Succeed when the bucket exists already.
    #[arg(long, short = 'p')]
    pub ignore_existing: bool,
    /// Enable object lock (and versioning) on the new bucket.
    #[arg(long, short = 'l')]
    pub with_lock: bool,
    /// Enable versioning on the new bucket.
    #[arg(long)]
    pub with_versioning: bool,
    /// Region of the bucket.
    #[arg(long)]
    pub region: Option<String>,
}

/// `coffer mb`.
pub async fn mb(ctx: Arc<Ctx>, args: MbArgs) -> Result<()> {
    for arg in &args.targets {
        let (conn, bucket, key) = ctx.bucket(arg)?;
        if !key.is_empty() {
            bail!("{arg}: give ALIAS/BUCKET, without an object name");
        }
        let mut req = conn
            .s3
            .create_bucket()
            .bucket(&bucket)
            .object_lock_enabled_for_bucket(args.with_lock);
        if let Some(region) = args.region.as_deref().filter(|r| *r != "us-east-1") {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match req.send().await.map_err(|e| conn.error(e)) {
            Ok(_) => {}
            Err(e)
                if args.ignore_existing
                    && matches!(
                        e.code(),
                        Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                    ) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create bucket {arg}")),
        }
        if args.with_versioning && !args.with_lock {
            conn.s3
                .put_bucket_versioning()
                .bucket(&bucket)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| conn.error(e))
                .with_context(|| format!("cannot enable versioning on {arg}"))?;
        }
        ctx.print(
            || format!("Bucket created successfully `{arg}`."),
            serde_json::json!({"status": "success", "bucket": arg}),
        );
    }
    Ok(())
}

/// `coffer rb`.
#[derive(Debug, Args)]
pub struct RbArgs {
    /// ALIAS/BUCKET to remove.
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Remove every object and version in the bucket first.
    #[arg(long)]
    pub force: bool,
}

/// `coffer rb`.
pub async fn rb(ctx: Arc<Ctx>, args: RbArgs) -> Result<()> {
    for arg in &args.targets {
        let (conn, bucket, key) = ctx.bucket(arg)?;
        if !key.is_empty() {
            bail!("{arg}: give ALIAS/BUCKET, without an object name");
        }
        if args.force {
            let versions = listing::versions(&conn, &bucket, "")
                .await
                .with_context(|| format!("cannot list {arg}"))?;
            let ids: Vec<(String, Option<String>)> = versions
                .into_iter()
                .map(|v| (v.key, Some(v.version_id)))
                .collect();
            delete_batch(&conn, &bucket, &ids)
                .await
                .with_context(|| format!("cannot empty {arg}"))?;
        }
        conn.s3
            .delete_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| conn.error(e))
            .with_context(|| format!("cannot remove bucket {arg}"))?;
        ctx.print(
            || format!("Removed `{arg}` successfully."),
            serde_json::json!({"status": "success", "bucket": arg}),
        );
    }
    Ok(())
}

/// Deletes keys (and versions) 1000 at a time; fails on the first key refused.
async fn delete_batch(
    conn: &Connection,
    bucket: &str,
    items: &[(String, Option<String>)],
) -> Result<()> {
    for chunk in items.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|(k, v)| {
                ObjectIdentifier::builder()
                    .key(k)
                    .set_version_id(v.clone())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .context("delete request")?;
        let out = conn
            .s3
            .delete_objects()
            .bucket(bucket)
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .context("delete request")?,
            )
            .send()
            .await
            .map_err(|e| conn.error(e))?;
        if let Some(e) = out.errors().first() {
            bail!(
                "{}: {}: {}",
                e.key().unwrap_or_default(),
                e.code().unwrap_or("Error"),
                e.message().unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `coffer ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// ALIAS, ALIAS/BUCKET or ALIAS/BUCKET/PREFIX.
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// List everything under the prefix, not only one level.
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// List every version and delete marker.
    #[arg(long)]
    pub versions: bool,
}

/// `coffer ls`.
pub async fn ls(ctx: Arc<Ctx>, args: LsArgs) -> Result<()> {
    for arg in &args.targets {
        let (conn, bucket, prefix) = ctx.remote(arg)?;
        if bucket.is_empty() {
            let out = conn
                .s3
                .list_buckets()
                .send()
                .await
                .map_err(|e| conn.error(e))
                .with_context(|| format!("cannot list {arg}"))?;
            for b in out.buckets() {
                let name = b.name().unwrap_or_default();
                let when = date(b.creation_date());
                ctx.print(
                    || format!("[{when}] {:>6} {name}/", "0B"),
                    serde_json::json!({"status": "success", "type": "folder", "key": format!("{name}/"),
                                       "lastModified": when, "size": 0}),
                );
            }
            continue;
        }
        if args.versions {
            let all = listing::versions(&conn, &bucket, &prefix)
                .await
                .with_context(|| format!("cannot list {arg}"))?;
            let mut count_for_key = std::collections::HashMap::<String, usize>::new();
            for v in &all {
                *count_for_key.entry(v.key.clone()).or_default() += 1;
            }
            let mut seen = std::collections::HashMap::<String, usize>::new();
            for v in &all {
                // mc numbers versions per key, v1 the oldest.
                let seen_n = seen.entry(v.key.clone()).or_default();
                *seen_n += 1;
                let n = count_for_key[&v.key] - *seen_n + 1;
                let (when, kind) = (
                    date(v.modified.as_ref()),
                    if v.delete_marker { "DEL" } else { "PUT" },
                );
                ctx.print(
                    || format!("[{when}] {:>6} STANDARD {} v{n} {kind} {}", human(v.size), v.version_id, v.key),
                    serde_json::json!({"status": "success", "key": v.key, "versionId": v.version_id,
                        "versionOrdinal": n, "isLatest": v.latest, "isDeleteMarker": v.delete_marker,
                        "size": v.size, "lastModified": when}),
                );
            }
            continue;
        }
        let prefix = listing_prefix(&conn, &bucket, &prefix, args.recursive).await;
        let listing = listing::objects(&conn, &bucket, &prefix, args.recursive)
            .await
            .with_context(|| format!("cannot list {arg}"))?;
        let shown = |key: &str| -> String {
            if args.recursive {
                key[prefix.len()..].to_string()
            } else {
                key[prefix.rfind('/').map_or(0, |i| i + 1)..].to_string()
            }
        };
        for p in &listing.prefixes {
            let name = shown(p);
            ctx.print(
                || format!("[{}] {:>6} {name}", " ".repeat(23), "0B"),
                serde_json::json!({"status": "success", "type": "folder", "key": p, "size": 0}),
            );
        }
        for o in &listing.objects {
            let (name, when) = (shown(&o.key), date(o.modified.as_ref()));
            ctx.print(
                || format!("[{when}] {:>6} {} {name}", human(o.size), o.class),
                serde_json::json!({"status": "success", "type": "file", "key": o.key, "size": o.size,
                                   "etag": o.etag, "lastModified": when, "storageClass": o.class}),
            );
        }
    }
    Ok(())
}

/// `ALIAS/BUCKET/dir` lists the contents of `dir/` when `dir` is a prefix, not an object.
async fn listing_prefix(conn: &Connection, bucket: &str, prefix: &str, recursive: bool) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        return prefix.to_string();
    }
    let is_object = conn
        .s3
        .head_object()
        .bucket(bucket)
        .key(prefix)
        .send()
        .await
        .is_ok();
    if is_object && !recursive {
        prefix.to_string()
    } else {
        let dir = format!("{prefix}/");
        let has_children = listing::objects(conn, bucket, &dir, false)
            .await
            .is_ok_and(|l| !l.objects.is_empty() || !l.prefixes.is_empty());
        if has_children {
            dir
        } else {
            prefix.to_string()
        }
    }
}

/// `coffer cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// Objects (ALIAS/BUCKET/KEY) or files to print.
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// The version of the object.
    #[arg(long)]
    pub version_id: Option<String>,
    #[command(flatten)]
    pub enc: EncArgs,
}

/// `coffer cat`.
pub async fn cat(ctx: Arc<Ctx>, args: CatArgs) -> Result<()> {
    let rules = EncRules::parse(&args.enc)?;
    let mut stdout = tokio::io::stdout();
    for arg in &args.targets {
        match ctx.target(arg) {
            Target::Local(p) => {
                let mut f = tokio::fs::File::open(&p)
                    .await
                    .with_context(|| format!("{}", p.display()))?;
                tokio::io::copy(&mut f, &mut stdout).await?;
            }
            Target::Remote { .. } => {
                let (conn, bucket, key) = ctx.bucket(arg)?;
                transfer::download(
                    &conn,
                    &bucket,
                    &key,
                    args.version_id.as_deref(),
                    &rules.for_path(arg),
                    &mut stdout,
                    &NoProgress,
                )
                .await
                .with_context(|| format!("cannot read {arg}"))?;
            }
        }
    }
    stdout.flush().await?;
    Ok(())
}

/// `coffer head`.
#[derive(Debug, Args)]
pub struct HeadArgs {
    /// The object (ALIAS/BUCKET/KEY).
    pub target: String,
    /// Lines to print.
    #[arg(long, short = 'n', default_value_t = 10)]
    pub lines: u64,
    /// The version of the object.
    #[arg(long)]
    pub version_id: Option<String>,
    #[command(flatten)]
    pub enc: EncArgs,
}

/// `coffer head`: the first lines of an object, reading no more than needed.
pub async fn head(ctx: Arc<Ctx>, args: HeadArgs) -> Result<()> {
    let (conn, bucket, key) = ctx.bucket(&args.target)?;
    let mut req = conn
        .s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .set_version_id(args.version_id.clone());
    let sse = EncRules::parse(&args.enc)?.for_path(&args.target);
    req = s3_client::with_customer_key!(req, &sse);
    let out = req
        .send()
        .await
        .map_err(|e| conn.error(e))
        .with_context(|| format!("cannot read {}", args.target))?;
    let mut reader = out.body.into_async_read();
    let mut stdout = tokio::io::stdout();
    let mut line = Vec::new();
    for _ in 0..args.lines {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .await
            .with_context(|| format!("cannot read {}", args.target))?;
        if n == 0 {
            break;
        }
        stdout.write_all(&line).await?;
    }
    stdout.flush().await?;
    Ok(())
}

/// `coffer stat`.
#[derive(Debug, Args)]
pub struct StatArgs {
    /// Objects (ALIAS/BUCKET/KEY) or buckets (ALIAS/BUCKET).
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// The version of the object.
    #[arg(long)]
    pub version_id: Option<String>,
    #[command(flatten)]
    pub enc: EncArgs,
}

/// `coffer stat`: name, date, size, ETag, type, metadata and the encryption headers.
pub async fn stat(ctx: Arc<Ctx>, args: StatArgs) -> Result<()> {
    let rules = EncRules::parse(&args.enc)?;
    for arg in &args.targets {
        let (conn, bucket, key) = ctx.bucket(arg)?;
        if key.is_empty() {
            stat_bucket(&ctx, &conn, arg, &bucket).await?;
            continue;
        }
        let sse = rules.for_path(arg);
        let mut req = conn
            .s3
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .set_version_id(args.version_id.clone());
        req = s3_client::with_customer_key!(req, sse);
        let h = req
            .send()
            .await
            .map_err(|e| conn.error(e))
            .with_context(|| format!("cannot stat {arg}"))?;
        let name = key.rsplit('/').next().unwrap_or(&key).to_string();
        let size = h
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let etag = h.e_tag().unwrap_or_default().trim_matches('"').to_string();
        let when = date(h.last_modified());
        let mut meta: Vec<(String, String)> = Vec::new();
        if let Some(ct) = h.content_type() {
            meta.push(("Content-Type".into(), ct.into()));
        }
        let mut user: Vec<_> = h.metadata().into_iter().flatten().collect();
        user.sort();
        for (k, v) in user {
            meta.push((format!("X-Amz-Meta-{}", title_case(k)), v.clone()));
        }
        let mut enc: Vec<(String, String)> = Vec::new();
        if let Some(s) = h.server_side_encryption() {
            enc.push(("X-Amz-Server-Side-Encryption".into(), s.as_str().into()));
        }
        if let Some(k) = h.ssekms_key_id() {
            enc.push((
                "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id".into(),
                k.into(),
            ));
        }
        if let Some(a) = h.sse_customer_algorithm() {
            enc.push((
                "X-Amz-Server-Side-Encryption-Customer-Algorithm".into(),
                a.into(),
            ));
        }
        if let Some(m) = h.sse_customer_key_md5() {
            enc.push((
                "X-Amz-Server-Side-Encryption-Customer-Key-Md5".into(),
                m.into(),
            ));
        }
        let version = h.version_id().map(str::to_string);
        let text = || {
            let mut s = format!(
                "Name      : {name}\nDate      : {when}\nSize      : {}\nETag      : {etag}\n",
                super::human_spaced(size)
            );
            if let Some(v) = &version {
                s.push_str(&format!("VersionID : {v}\n"));
            }
            s.push_str("Type      : file\nMetadata  :\n");
            for (k, v) in &meta {
                s.push_str(&format!("  {k}: {v}\n"));
            }
            if !enc.is_empty() {
                s.push_str("Encrypted :\n");
                for (k, v) in &enc {
                    s.push_str(&format!("  {k}: {v}\n"));
                }
            }
            s.trim_end().to_string()
        };
        let obj = |pairs: &[(String, String)]| -> serde_json::Map<String, serde_json::Value> {
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect()
        };
        let mut json = serde_json::json!({
            "status": "success", "name": name, "key": key, "lastModified": when, "size": size,
            "etag": etag, "type": "file", "metadata": obj(&meta), "encrypted": obj(&enc),
        });
        if let Some(v) = &version {
            json["versionId"] = v.clone().into();
        }
        ctx.print(text, json);
    }
    Ok(())
}

async fn stat_bucket(ctx: &Ctx, conn: &Connection, arg: &str, bucket: &str) -> Result<()> {
    conn.s3
        .head_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| conn.error(e))
        .with_context(|| format!("cannot stat {arg}"))?;
    let versioning = conn
        .s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .ok()
        .and_then(|v| v.status().map(|s| s.as_str().to_string()))
        .unwrap_or_else(|| "Un-versioned".into());
    let encryption = super::buckets::bucket_encryption(conn, bucket).await?;
    let enc_text = encryption
        .as_ref()
        .map(|(alg, key)| match key {
            Some(k) => format!("{alg} (key {k})"),
            None => alg.clone(),
        })
        .unwrap_or_else(|| "none".into());
    ctx.print(
        || {
            format!(
                "Name      : {bucket}\nType      : folder\nVersioning: {versioning}\nEncryption: {enc_text}"
            )
        },
        serde_json::json!({"status": "success", "name": bucket, "type": "folder",
                           "versioning": versioning, "encryption": enc_text}),
    );
    Ok(())
}

fn title_case(key: &str) -> String {
    key.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join("-")
}

/// `coffer rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Objects (ALIAS/BUCKET/KEY), or prefixes with --recursive --force.
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Remove everything under the prefix (needs --force).
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// Confirm a recursive removal.
    #[arg(long)]
    pub force: bool,
    /// Remove every version (and delete marker), not just add a delete marker.
    #[arg(long)]
    pub versions: bool,
    /// Remove this version of the object.
    #[arg(long)]
    pub version_id: Option<String>,
}

/// `coffer rm`.
pub async fn rm(ctx: Arc<Ctx>, args: RmArgs) -> Result<()> {
    if args.recursive && !args.force {
        bail!("removing recursively needs --force as well");
    }
    for arg in &args.targets {
        let (conn, bucket, key) = ctx.bucket(arg)?;
        let items: Vec<(String, Option<String>)> = if args.recursive || args.versions {
            if args.versions {
                listing::versions(&conn, &bucket, &key)
                    .await
                    .with_context(|| format!("cannot list {arg}"))?
                    .into_iter()
                    .filter(|v| args.recursive || v.key == key)
                    .map(|v| (v.key, Some(v.version_id)))
                    .collect()
            } else {
                listing::objects(&conn, &bucket, &key, true)
                    .await
                    .with_context(|| format!("cannot list {arg}"))?
                    .objects
                    .into_iter()
                    .map(|o| (o.key, None))
                    .collect()
            }
        } else {
            if key.is_empty() {
                bail!("{arg}: name an object, or use --recursive --force");
            }
            vec![(key.clone(), args.version_id.clone())]
        };
        if items.len() == 1 {
            let (k, v) = &items[0];
            conn.s3
                .delete_object()
                .bucket(&bucket)
                .key(k)
                .set_version_id(v.clone())
                .send()
                .await
                .map_err(|e| conn.error(e))
                .with_context(|| format!("cannot remove {arg}"))?;
        } else {
            delete_batch(&conn, &bucket, &items)
                .await
                .with_context(|| format!("cannot remove {arg}"))?;
        }
        for (k, v) in &items {
            let alias = arg.split('/').next().unwrap_or_default();
            let path = format!("{alias}/{bucket}/{k}");
            ctx.print(
                || match v {
                    Some(v) => format!("Removed `{path}` (versionId={v})."),
                    None => format!("Removed `{path}`."),
                },
                serde_json::json!({"status": "success", "key": path, "versionId": v}),
            );
        }
    }
    Ok(())
}

/// `coffer du`.
#[derive(Debug, Args)]
pub struct DuArgs {
    /// ALIAS/BUCKET or ALIAS/BUCKET/PREFIX.
    #[arg(required = true)]
    pub targets: Vec<String>,
}

/// `coffer du`: bytes and objects under a prefix.
pub async fn du(ctx: Arc<Ctx>, args: DuArgs) -> Result<()> {
    for arg in &args.targets {
        let (conn, bucket, key) = ctx.bucket(arg)?;
        let listing = listing::objects(&conn, &bucket, &key, true)
            .await
            .with_context(|| format!("cannot list {arg}"))?;
        let size: u64 = listing.objects.iter().map(|o| o.size).sum();
        let count = listing.objects.len();
        ctx.print(
            || {
                format!(
                    "{}\t{count} object{}\t{arg}",
                    human(size),
                    if count == 1 { "" } else { "s" }
                )
            },
            serde_json::json!({"status": "success", "prefix": arg, "size": size, "objects": count}),
        );
    }
    Ok(())
}
