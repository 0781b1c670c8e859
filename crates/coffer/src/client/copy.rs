//! `cp` and `mirror`: files ↔ objects, objects ↔ objects, stdin → object.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use s3_client::transfer::{self, Inflight, Progress, Sse, UploadOptions};
use s3_client::{listing, Connection};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::progress::Meter;
use super::{Ctx, EncArgs, EncRules, Target};

/// Flags shared by `cp` and `mirror`.
#[derive(Debug, Clone, Args)]
pub struct TransferArgs {
    /// Objects (files) copied at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    /// Part size of multipart uploads, in MiB (5..=5120).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(5..=5120))]
    pub part_size: u64,
    /// Parts of one large file uploaded at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub part_parallel: u16,
    /// Resume unfinished multipart uploads of the same objects, and keep the upload on
    /// the server (instead of aborting it) when interrupted.
    #[arg(long = "continue", short = 'c')]
    pub resume: bool,
    /// `key=value;…` user metadata for uploaded objects.
    #[arg(long, value_name = "KEY=VALUE;...")]
    pub attr: Option<String>,
    #[command(flatten)]
    pub enc: EncArgs,
}

/// `coffer cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Sources, then the target: local paths (`-` for stdin) or ALIAS/BUCKET/KEY.
    #[arg(required = true, num_args = 2..)]
    pub paths: Vec<String>,
    /// Copy directories and prefixes with everything under them.
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// The version of the source object to copy.
    #[arg(long)]
    pub version_id: Option<String>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// `coffer mirror`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Source directory or ALIAS/BUCKET/PREFIX.
    pub source: String,
    /// Target directory or ALIAS/BUCKET/PREFIX.
    pub target: String,
    /// Remove what the target has and the source does not.
    #[arg(long)]
    pub remove: bool,
    /// Print what would be copied and removed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// One end of a copy.
#[derive(Debug, Clone)]
enum End {
    File(PathBuf),
    Stdin,
    Object {
        alias: String,
        bucket: String,
        key: String,
        version: Option<String>,
    },
}

impl End {
    fn display(&self) -> String {
        match self {
            End::File(p) => p.display().to_string(),
            End::Stdin => "-".into(),
            End::Object {
                alias, bucket, key, ..
            } => format!("{alias}/{bucket}/{key}"),
        }
    }
}

#[derive(Debug, Clone)]
struct Job {
    src: End,
    dst: End,
    size: Option<u64>,
}

/// Joins a target prefix and a relative name: `dir/` + `a/b` or `dir` (a directory) + …
fn join_key(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        format!("{prefix}{rel}")
    } else {
        format!("{prefix}/{rel}")
    }
}

/// The last component of a path or key, without a trailing slash.
fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// Whether the target names a container (bucket, prefix ending in `/`, directory).
fn is_container(t: &Target) -> bool {
    match t {
        Target::Local(p) => p.is_dir() || p.to_string_lossy().ends_with('/'),
        Target::Remote { key, .. } => key.is_empty() || key.ends_with('/'),
    }
}

fn dst_end(target: &Target, rel: Option<&str>) -> End {
    match target {
        Target::Local(p) => End::File(match rel {
            Some(r) => p.join(r),
            None => p.clone(),
        }),
        Target::Remote { alias, bucket, key } => End::Object {
            alias: alias.clone(),
            bucket: bucket.clone(),
            key: match rel {
                Some(r) => join_key(key, r),
                None => key.clone(),
            },
            version: None,
        },
    }
}

/// Every file under `dir`, as paths relative to it, sorted.
fn walk(dir: &Path) -> Result<Vec<(String, u64, i64)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("{}", d.display()))? {
            let entry = entry.with_context(|| format!("{}", d.display()))?;
            let path = entry.path();
            let meta = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|_| anyhow!("{}: outside {}", path.display(), dir.display()))?;
                let rel = rel
                    .to_str()
                    .ok_or_else(|| anyhow!("{}: not UTF-8", path.display()))?
                    .replace(std::path::MAIN_SEPARATOR, "/");
                out.push((rel, meta.len(), mtime(&meta)));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn mtime(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

/// The jobs of `coffer cp`.
async fn plan_cp(ctx: &Ctx, args: &CpArgs) -> Result<Vec<Job>> {
    let (dst_arg, srcs) = args
        .paths
        .split_last()
        .ok_or_else(|| anyhow!("cp needs a source and a target"))?;
    let dst = ctx.target(dst_arg);
    if let Target::Remote { bucket, .. } = &dst {
        if bucket.is_empty() {
            bail!("{dst_arg}: the target must name a bucket");
        }
    }
    let many = srcs.len() > 1 || args.recursive;
    if many && !is_container(&dst) && matches!(dst, Target::Remote { .. }) {
        bail!("{dst_arg}: copying several objects needs a target ending in '/'");
    }
    let mut jobs = Vec::new();
    for src_arg in srcs {
        match ctx.target(src_arg) {
            Target::Local(p) if p.as_os_str() == "-" => {
                if is_container(&dst) {
                    bail!("{dst_arg}: name the object to write stdin to");
                }
                jobs.push(Job {
                    src: End::Stdin,
                    dst: dst_end(&dst, None),
                    size: None,
                });
            }
            Target::Local(p) => {
                let meta = std::fs::metadata(&p)
                    .with_context(|| format!("{}: cannot read", p.display()))?;
                if meta.is_dir() {
                    if !args.recursive {
                        bail!("{}: is a directory (use --recursive)", p.display());
                    }
                    let keep_name = !src_arg.ends_with('/');
                    for (under, size, _) in walk(&p)? {
                        let rel = if keep_name {
                            format!("{}/{under}", base_name(src_arg))
                        } else {
                            under.clone()
                        };
                        jobs.push(Job {
                            src: End::File(p.join(&under)),
                            dst: dst_end(&dst, Some(&rel)),
                            size: Some(size),
                        });
                    }
                } else {
                    let rel = (many || is_container(&dst)).then(|| base_name(src_arg).to_string());
                    jobs.push(Job {
                        src: End::File(p.clone()),
                        dst: dst_end(&dst, rel.as_deref()),
                        size: Some(meta.len()),
                    });
                }
            }
            Target::Remote { alias, bucket, key } => {
                if bucket.is_empty() {
                    bail!("{src_arg}: name a bucket and an object");
                }
                let conn = ctx.connect(&alias)?;
                if args.recursive {
                    let keep_name = !key.is_empty() && !key.ends_with('/');
                    let prefix = if keep_name {
                        format!("{key}/")
                    } else {
                        key.clone()
                    };
                    let listing = listing::objects(&conn, &bucket, &prefix, true)
                        .await
                        .with_context(|| format!("cannot list {src_arg}"))?;
                    for o in listing.objects {
                        let under = &o.key[prefix.len()..];
                        let rel = if keep_name {
                            format!("{}/{under}", base_name(&key))
                        } else {
                            under.to_string()
                        };
                        jobs.push(Job {
                            src: End::Object {
                                alias: alias.clone(),
                                bucket: bucket.clone(),
                                key: o.key.clone(),
                                version: None,
                            },
                            dst: dst_end(&dst, Some(&rel)),
                            size: Some(o.size),
                        });
                    }
                } else {
                    if key.is_empty() || key.ends_with('/') {
                        bail!("{src_arg}: is a bucket or prefix (use --recursive)");
                    }
                    let sse = EncRules::parse(&args.transfer.enc)?.for_path(src_arg);
                    let size = head_size(&conn, &bucket, &key, args.version_id.as_deref(), &sse)
                        .await
                        .with_context(|| format!("cannot copy {src_arg}"))?;
                    let rel = (many || is_container(&dst)).then(|| base_name(&key).to_string());
                    jobs.push(Job {
                        src: End::Object {
                            alias,
                            bucket,
                            key: key.clone(),
                            version: args.version_id.clone(),
                        },
                        dst: dst_end(&dst, rel.as_deref()),
                        size: Some(size),
                    });
                }
            }
        }
    }
    Ok(jobs)
}

async fn head_size(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    sse: &Sse,
) -> Result<u64> {
    let mut req = conn
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_string));
    req = s3_client::with_customer_key!(req, sse);
    let out = req.send().await.map_err(|e| conn.error(e))?;
    Ok(out
        .content_length()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0))
}

/// `Content-Type` and user metadata.
type Attrs = (Option<String>, Vec<(String, String)>);

/// Parses `--attr "k=v;k2=v2"`.
fn attrs(text: Option<&str>) -> Result<Attrs> {
    let mut content_type = None;
    let mut meta = Vec::new();
    for item in text.unwrap_or("").split(';').filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--attr {item:?}: expected KEY=VALUE"))?;
        if k.eq_ignore_ascii_case("content-type") {
            content_type = Some(v.to_string());
        } else {
            let k = k
                .strip_prefix("x-amz-meta-")
                .or_else(|| k.strip_prefix("X-Amz-Meta-"))
                .unwrap_or(k);
            meta.push((k.to_string(), v.to_string()));
        }
    }
    Ok((content_type, meta))
}

/// Runs the jobs, `parallel` at a time, with one progress meter; aborts (or keeps, with
/// `--continue`) the multipart uploads it started when interrupted.
async fn execute(ctx: Arc<Ctx>, jobs: Vec<Job>, args: &TransferArgs) -> Result<()> {
    let rules = EncRules::parse(&args.enc)?;
    let (content_type, metadata) = attrs(args.attr.as_deref())?;
    let known: u64 = jobs.iter().filter_map(|j| j.size).sum();
    let all_known = jobs.iter().all(|j| j.size.is_some());
    let label = match jobs.as_slice() {
        [one] => base_name(&one.src.display()).to_string(),
        _ => format!("{} objects", jobs.len()),
    };
    let meter = Arc::new(Meter::new(
        &label,
        all_known.then_some(known),
        !ctx.out.quiet && !ctx.out.json,
    ));
    let inflight = Arc::new(Inflight::default());
    let base = UploadOptions {
        part_size: args.part_size << 20,
        parallel: usize::from(args.part_parallel),
        resume: args.resume,
        content_type,
        metadata,
        ..UploadOptions::default()
    };
    let limit = Arc::new(Semaphore::new(usize::from(args.parallel)));
    let mut tasks = JoinSet::new();
    let count = jobs.len();
    // Every job of one run writes to the same target, so one alias holds its uploads.
    let target_alias = jobs.iter().find_map(|j| match &j.dst {
        End::Object { alias, .. } => Some(alias.clone()),
        _ => None,
    });
    for job in jobs {
        let (ctx, meter, inflight, limit) =
            (ctx.clone(), meter.clone(), inflight.clone(), limit.clone());
        let mut opts = base.clone();
        opts.sse = rules.for_path(&job.dst.display());
        let src_sse = rules.for_path(&job.src.display());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let (src, dst) = (job.src.display(), job.dst.display());
            let stored = copy_one(&ctx, &job, &opts, &src_sse, meter.clone(), &inflight)
                .await
                .with_context(|| format!("cannot copy {src} to {dst}"))?;
            if ctx.out.json {
                let mut v = serde_json::json!({
                    "status": "success", "source": src, "target": dst, "size": stored.size,
                });
                if !stored.etag.is_empty() {
                    v["etag"] = stored.etag.clone().into();
                }
                if let Some(id) = &stored.version_id {
                    v["versionId"] = id.clone().into();
                }
                if stored.resumed_parts > 0 {
                    v["resumedParts"] = stored.resumed_parts.into();
                }
                println!("{v}");
            }
            anyhow::Ok(stored.size)
        });
    }
    let run = async {
        let mut first_error = None;
        let mut total = 0;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(n)) => total += n,
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(anyhow!("copy task failed: {e}"));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(total),
        }
    };
    let outcome = tokio::select! {
        r = run => r,
        _ = tokio::signal::ctrl_c() => {
            tasks.abort_all();
            Err(interrupted(&ctx, &inflight, args.resume, target_alias.as_deref()).await)
        }
    };
    let total = outcome?;
    let summary = meter.finish(total);
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if !ctx.out.json && !ctx.out.quiet && (count > 1 || !on_terminal) {
        println!("{summary}");
    }
    Ok(())
}

/// After Ctrl-C: abort the uploads this run started, or keep them to resume.
async fn interrupted(
    ctx: &Ctx,
    inflight: &Inflight,
    keep: bool,
    target_alias: Option<&str>,
) -> anyhow::Error {
    let pending = inflight.take();
    if keep {
        return anyhow!(
            "interrupted; {} multipart upload(s) kept on the server: run the same command with --continue to resume",
            pending.len()
        );
    }
    let aborted = match target_alias.map(|a| ctx.connect(a)) {
        Some(Ok(conn)) => transfer::abort_all(&conn, &pending).await,
        _ => 0,
    };
    anyhow!("interrupted; aborted {aborted} unfinished multipart upload(s)")
}

async fn copy_one(
    ctx: &Ctx,
    job: &Job,
    opts: &UploadOptions,
    src_sse: &Sse,
    meter: Arc<Meter>,
    inflight: &Inflight,
) -> Result<transfer::Stored> {
    match (&job.src, &job.dst) {
        (
            End::File(path),
            End::Object {
                alias, bucket, key, ..
            },
        ) => {
            let conn = ctx.connect(alias)?;
            let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
            let src = transfer::Source::File(Arc::new(file));
            Ok(transfer::upload(&conn, src, job.size, bucket, key, opts, meter, inflight).await?)
        }
        (
            End::Stdin,
            End::Object {
                alias, bucket, key, ..
            },
        ) => {
            let conn = ctx.connect(alias)?;
            let mut stdin = tokio::io::stdin();
            let src = transfer::Source::Stream(&mut stdin);
            Ok(transfer::upload(&conn, src, None, bucket, key, opts, meter, inflight).await?)
        }
        (
            End::Object {
                alias,
                bucket,
                key,
                version,
            },
            End::File(path),
        ) => {
            let conn = ctx.connect(alias)?;
            download_file(
                &conn,
                bucket,
                key,
                version.as_deref(),
                src_sse,
                path,
                &meter,
            )
            .await
        }
        (
            End::Object {
                alias: sa,
                bucket: sb,
                key: sk,
                version,
            },
            End::Object {
                alias: da,
                bucket: db,
                key: dk,
                ..
            },
        ) => {
            let src = ctx.connect(sa)?;
            let dst = ctx.connect(da)?;
            let small = job.size.is_some_and(|n| n < (5 << 30));
            if sa == da && small {
                let stored =
                    server_copy(&src, sb, sk, version.as_deref(), src_sse, db, dk, opts).await?;
                let stored = transfer::Stored {
                    size: job.size.unwrap_or(0),
                    ..stored
                };
                meter.add(stored.size);
                return Ok(stored);
            }
            let mut req = src
                .s3
                .get_object()
                .bucket(sb)
                .key(sk)
                .set_version_id(version.clone());
            req = s3_client::with_customer_key!(req, src_sse);
            let out = req.send().await.map_err(|e| src.error(e))?;
            let mut body = out.body.into_async_read();
            let src = transfer::Source::Stream(&mut body);
            Ok(transfer::upload(&dst, src, job.size, db, dk, opts, meter, inflight).await?)
        }
        (End::File(from), End::File(to)) => {
            if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir).await?;
            }
            let n = tokio::fs::copy(from, to)
                .await
                .with_context(|| format!("{} to {}", from.display(), to.display()))?;
            meter.add(n);
            Ok(transfer::Stored {
                size: n,
                ..Default::default()
            })
        }
        (_, End::Stdin) => bail!("stdin cannot be a target"),
        (End::Stdin, End::File(_)) => bail!("use a shell redirection to copy stdin to a file"),
    }
}

/// Downloads into a temporary file beside `path`, renamed into place when complete.
async fn download_file(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    sse: &Sse,
    path: &Path,
    meter: &Meter,
) -> Result<transfer::Stored> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("{}", dir.display()))?;
    }
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".coffer-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let file = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("{}", tmp.display()))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let result = transfer::download(conn, bucket, key, version, sse, &mut out, meter).await;
    match result {
        Ok(n) => {
            drop(out);
            tokio::fs::rename(&tmp, path)
                .await
                .with_context(|| format!("{}", path.display()))?;
            Ok(transfer::Stored {
                size: n,
                ..Default::default()
            })
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e.into())
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn server_copy(
    conn: &Connection,
    src_bucket: &str,
    src_key: &str,
    version: Option<&str>,
    src_sse: &Sse,
    bucket: &str,
    key: &str,
    opts: &UploadOptions,
) -> Result<transfer::Stored> {
    let mut source = format!("{src_bucket}/{}", s3_client::percent_encode(src_key, true));
    if let Some(v) = version {
        source.push_str("?versionId=");
        source.push_str(&s3_client::percent_encode(v, false));
    }
    let mut req = conn
        .s3
        .copy_object()
        .bucket(bucket)
        .key(key)
        .copy_source(source);
    if let Some(c) = src_sse.customer() {
        req = req
            .copy_source_sse_customer_algorithm(c.algorithm)
            .copy_source_sse_customer_key(c.key.as_str())
            .copy_source_sse_customer_key_md5(c.key_md5);
    }
    req = s3_client::with_sse!(req, &opts.sse);
    let out = req.send().await.map_err(|e| conn.error(e))?;
    Ok(transfer::Stored {
        etag: out
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .unwrap_or_default()
            .trim_matches('"')
            .to_string(),
        version_id: out.version_id().map(str::to_string),
        // The caller knows the size from the source listing or HEAD.
        size: 0,
        resumed_parts: 0,
    })
}

/// `coffer cp`.
pub async fn cp(ctx: Arc<Ctx>, args: CpArgs) -> Result<()> {
    let jobs = plan_cp(&ctx, &args).await?;
    if jobs.is_empty() {
        bail!("nothing to copy");
    }
    execute(ctx, jobs, &args.transfer).await
}

/// What one side of a mirror holds: relative name → (size, modification seconds).
type Side = BTreeMap<String, (u64, i64)>;

async fn mirror_side(ctx: &Ctx, target: &Target) -> Result<Side> {
    match target {
        Target::Local(p) => {
            if !p.exists() {
                return Ok(Side::new());
            }
            Ok(walk(p)?
                .into_iter()
                .map(|(rel, size, t)| (rel, (size, t)))
                .collect())
        }
        Target::Remote { alias, bucket, key } => {
            if bucket.is_empty() {
                bail!("{}: name a bucket", target.display());
            }
            let conn = ctx.connect(alias)?;
            let prefix = if key.is_empty() || key.ends_with('/') {
                key.clone()
            } else {
                format!("{key}/")
            };
            let listing = listing::objects(&conn, bucket, &prefix, true)
                .await
                .with_context(|| format!("cannot list {}", target.display()))?;
            Ok(listing
                .objects
                .into_iter()
                .map(|o| {
                    let t = o.modified.map_or(0, |t| t.secs());
                    (o.key[prefix.len()..].to_string(), (o.size, t))
                })
                .collect())
        }
    }
}

fn end_at(target: &Target, rel: &str) -> End {
    match target {
        Target::Local(p) => End::File(p.join(rel)),
        Target::Remote { alias, bucket, key } => End::Object {
            alias: alias.clone(),
            bucket: bucket.clone(),
            key: join_key(key, rel),
            version: None,
        },
    }
}

/// `coffer mirror`: copies what is missing or differs (size, or a newer source).
pub async fn mirror(ctx: Arc<Ctx>, args: MirrorArgs) -> Result<()> {
    let (src, dst) = (ctx.target(&args.source), ctx.target(&args.target));
    if let Target::Local(p) = &src {
        if !p.is_dir() {
            bail!("{}: not a directory", p.display());
        }
    }
    let (have, want) = (
        mirror_side(&ctx, &dst).await?,
        mirror_side(&ctx, &src).await?,
    );
    let mut jobs = Vec::new();
    for (rel, (size, t)) in &want {
        let differs = match have.get(rel) {
            None => true,
            Some((dsize, dt)) => dsize != size || t > dt,
        };
        if differs {
            jobs.push(Job {
                src: end_at(&src, rel),
                dst: end_at(&dst, rel),
                size: Some(*size),
            });
        }
    }
    let extra: Vec<&String> = have.keys().filter(|k| !want.contains_key(*k)).collect();
    if args.dry_run {
        for job in &jobs {
            let (s, d) = (job.src.display(), job.dst.display());
            ctx.print(
                || format!("`{s}` -> `{d}`"),
                serde_json::json!({"status": "success", "source": s, "target": d, "dryRun": true}),
            );
        }
        if args.remove {
            for rel in &extra {
                let d = end_at(&dst, rel).display();
                ctx.print(
                    || format!("Would remove `{d}`"),
                    serde_json::json!({"status": "success", "removed": d, "dryRun": true}),
                );
            }
        }
        return Ok(());
    }
    let copied = jobs.len();
    if !jobs.is_empty() {
        execute(ctx.clone(), jobs, &args.transfer).await?;
    }
    let mut removed = 0;
    if args.remove {
        for rel in extra {
            match end_at(&dst, rel) {
                End::File(p) => tokio::fs::remove_file(&p)
                    .await
                    .with_context(|| format!("cannot remove {}", p.display()))?,
                End::Object {
                    alias, bucket, key, ..
                } => {
                    let conn = ctx.connect(&alias)?;
                    conn.s3
                        .delete_object()
                        .bucket(&bucket)
                        .key(&key)
                        .send()
                        .await
                        .map_err(|e| conn.error(e))
                        .with_context(|| format!("cannot remove {alias}/{bucket}/{key}"))?;
                }
                End::Stdin => {}
            }
            removed += 1;
        }
    }
    ctx.print(
        || {
            format!(
                "Mirrored {copied} object(s), removed {removed}, {} unchanged",
                want.len() - copied
            )
        },
        serde_json::json!({"status": "success", "copied": copied, "removed": removed,
                           "unchanged": want.len() - copied}),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_names() {
        assert_eq!(join_key("", "a/b"), "a/b");
        assert_eq!(join_key("dir/", "a"), "dir/a");
        assert_eq!(join_key("dir", "a"), "dir/a");
        assert_eq!(base_name("x/y/z/"), "z");
        assert_eq!(base_name("file"), "file");
    }

    #[test]
    fn attr_parsing() {
        let (ct, meta) = attrs(Some("Content-Type=text/plain;color=blue")).unwrap_or_default();
        assert_eq!(ct.as_deref(), Some("text/plain"));
        assert_eq!(meta, vec![("color".to_string(), "blue".to_string())]);
        assert!(attrs(Some("novalue")).is_err());
    }
}
