//! The S3 API on top of an [`ObjectStore`]: s3s parses, authenticates (SigV4) and routes
//! requests; this module maps each operation to the store. One file per operation
//! family; errors are mapped to S3 codes in [`errors`] only.
//!
//! Operations not implemented here answer `NotImplemented` (s3s's default), never a
//! wrong success.

pub(crate) mod acl;
mod body;
mod checksum;
mod convert;
mod copy_source;
mod errors;
mod lifecycle;
mod list;
mod lock;
mod multipart;
mod objects;
pub mod policy;
mod public_access;
mod versioning;
mod write;

pub use versioning::SETTING as VERSIONING_SETTING;

/// Whether object lock lets a version be deleted for good now (no governance bypass).
pub fn lock_allows_delete(
    version: &crate::store::ObjectMeta,
) -> Result<(), crate::store::StoreError> {
    lock::deletable(version, false)
}

use std::sync::Arc;

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

use crate::sse::{self, Sse};
use crate::store::ObjectStore;
use errors::s3;

/// The S3 service of a Coffer object server.
#[derive(Debug, Clone)]
pub struct CofferS3 {
    store: Arc<dyn ObjectStore>,
    sse: Arc<Sse>,
    root: String,
}

impl CofferS3 {
    /// Serves the S3 API from `store`, encrypting as `sse` says; `root` is the root
    /// user's access key.
    pub fn new(store: Arc<dyn ObjectStore>, sse: Arc<Sse>, root: &str) -> Self {
        Self {
            store,
            sse,
            root: root.to_string(),
        }
    }

    /// The bucket's default encryption, if it has one.
    async fn bucket_encryption(&self, bucket: &str) -> S3Result<Option<sse::bucket::Default>> {
        Ok(self
            .bucket_encryption_config(bucket)
            .await?
            .map(|c| c.default()))
    }

    async fn bucket_encryption_config(
        &self,
        bucket: &str,
    ) -> S3Result<Option<sse::bucket::Config>> {
        json_setting(self.store.as_ref(), bucket, sse::bucket::SETTING).await
    }

    /// The bucket owner to record for a request's caller (`None`: root or anonymous).
    fn owner_of<T>(&self, req: &S3Request<T>) -> Option<String> {
        req.credentials
            .as_ref()
            .map(|c| c.access_key.clone())
            .filter(|c| *c != self.root)
    }

    /// Checks that the caller of `req` may do `action` on `bucket/key`.
    pub(crate) async fn authorize_key<T>(
        &self,
        req: &S3Request<T>,
        action: &str,
        bucket: &str,
        key: &str,
    ) -> S3Result<()> {
        let client = req.extensions.get::<ClientInfo>().copied();
        authorize(
            self.store.as_ref(),
            &self.root,
            req.credentials.as_ref().map(|c| c.access_key.as_str()),
            action,
            bucket,
            Some(key),
            request_facts(client, &req.uri, &req.headers),
        )
        .await
    }
}

pub(crate) const POLICY: &str = "policy.json";

/// A bucket setting stored as JSON, parsed (`None`: unset).
pub(crate) async fn json_setting<T: serde::de::DeserializeOwned>(
    store: &dyn ObjectStore,
    bucket: &str,
    name: &str,
) -> S3Result<Option<T>> {
    match store.get_bucket_setting(bucket, name).await.map_err(s3)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(s3s::S3Error::internal_error),
    }
}
const TAGGING: &str = "tagging.json";

/// Who is calling: set by the HTTP layer as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    /// Peer address.
    pub addr: std::net::SocketAddr,
    /// Whether the connection is TLS.
    pub secure: bool,
}

/// Access control.
///
/// - The root user (the first configured user) may do everything, as MinIO's root.
/// - Another user owns the buckets it creates and may do everything in them.
/// - Everything else (anonymous requests, users acting on buckets they do not own) needs
///   an `Allow` in the bucket's policy for that principal and no matching `Deny` (see
///   [`policy`]).
#[derive(Debug, Clone)]
pub struct PolicyAccess {
    store: Arc<dyn ObjectStore>,
    root: String,
}

impl PolicyAccess {
    /// Evaluates the policies kept in `store`; `root` is the root user's access key.
    pub fn new(store: Arc<dyn ObjectStore>, root: &str) -> Self {
        Self {
            store,
            root: root.to_string(),
        }
    }
}

fn denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied.")
}

/// Whether `caller` (an access key, `None` if anonymous) may do `action` on `bucket` /
/// `key`. The one decision point for requests and for copy sources.
pub(crate) async fn authorize(
    store: &dyn ObjectStore,
    root: &str,
    caller: Option<&str>,
    action: &str,
    bucket: &str,
    key: Option<&str>,
    mut facts: policy::RequestFacts,
) -> S3Result<()> {
    if caller == Some(root) {
        return Ok(());
    }
    let owner = match store.bucket_owner(bucket).await {
        Ok(owner) => owner,
        // As S3: a bucket that does not exist is reported as such, even anonymously.
        Err(crate::store::StoreError::NoSuchBucket) => return Err(s3_error!(NoSuchBucket)),
        Err(e) => return Err(s3(e)),
    };
    if caller.is_some() && owner.as_deref() == caller {
        return Ok(());
    }
    if caller.is_none() && public_access::restricts_anonymous(store, bucket).await {
        return Err(denied());
    }
    let text = match store.get_bucket_setting(bucket, POLICY).await {
        Ok(Some(text)) => text,
        Err(crate::store::StoreError::NoSuchBucket) => return Err(s3_error!(NoSuchBucket)),
        _ => return Err(denied()),
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|_| denied())?;
    let resource = match key {
        Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
        None => format!("arn:aws:s3:::{bucket}"),
    };
    if let (Some(key), true) = (key, text.contains("ExistingObjectTag")) {
        if let Ok(meta) = store.head_object(bucket, key, None).await {
            for (k, v) in meta.tags {
                facts
                    .values
                    .entry(format!("s3:existingobjecttag/{}", k.to_ascii_lowercase()))
                    .or_default()
                    .push(v);
            }
        }
    }
    if policy::allows(&doc, caller, action, &resource, &facts) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// The condition facts of a request: client address, TLS, listing parameters and
/// `x-amz-*` headers (including the tags of `x-amz-tagging`).
pub(crate) fn request_facts(
    client: Option<ClientInfo>,
    uri: &hyper::Uri,
    headers: &hyper::HeaderMap,
) -> policy::RequestFacts {
    let mut facts = policy::RequestFacts::default();
    if let Some(info) = client {
        facts.source_ip = Some(info.addr.ip());
        facts.secure = info.secure;
    }
    if let Some(q) = uri.query() {
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = match k {
                "prefix" => "s3:prefix",
                "delimiter" => "s3:delimiter",
                "max-keys" => "s3:max-keys",
                _ => continue,
            };
            let v = urlencoding_decode(v);
            facts.values.entry(key.to_string()).or_default().push(v);
        }
    }
    for (name, value) in headers {
        let Ok(v) = value.to_str() else { continue };
        let key = match name.as_str() {
            "user-agent" => "aws:useragent".to_string(),
            "referer" => "aws:referer".to_string(),
            "x-amz-tagging" => {
                for pair in v.split('&') {
                    let (k, tv) = pair.split_once('=').unwrap_or((pair, ""));
                    facts
                        .values
                        .entry(format!(
                            "s3:requestobjecttag/{}",
                            urlencoding_decode(k).to_ascii_lowercase()
                        ))
                        .or_default()
                        .push(urlencoding_decode(tv));
                }
                format!("s3:{}", name.as_str())
            }
            n if n.starts_with("x-amz-") => format!("s3:{n}"),
            _ => continue,
        };
        facts.values.entry(key).or_default().push(v.to_string());
    }
    facts
}

#[async_trait::async_trait]
impl s3s::access::S3Access for PolicyAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let caller = cx.credentials().map(|c| c.access_key.clone());
        let caller = caller.as_deref();
        let (bucket, key) = match cx.s3_path() {
            // ListBuckets: any signed user (each sees the buckets it may see).
            s3s::path::S3Path::Root => {
                return if caller.is_some() {
                    Ok(())
                } else {
                    Err(denied())
                }
            }
            s3s::path::S3Path::Bucket { bucket } => (bucket.to_string(), None),
            s3s::path::S3Path::Object { bucket, key } => {
                (bucket.to_string(), Some(key.to_string()))
            }
        };
        if cx.s3_op().name() == "CreateBucket" {
            let Some(caller) = caller else {
                return Err(denied());
            };
            let as_owner = (caller != self.root).then_some(caller);
            return match self.store.bucket_owner(&bucket).await {
                // Someone else's bucket: the name is taken.
                Ok(owner) if owner.as_deref() != as_owner => Err(s3_error!(BucketAlreadyExists)),
                _ => Ok(()),
            };
        }
        if cx.s3_op().name() == "DeleteObjects" {
            // Authorized key by key in the handler (objects::delete_many).
            return match self.store.bucket_owner(&bucket).await {
                Err(crate::store::StoreError::NoSuchBucket) => Err(s3_error!(NoSuchBucket)),
                _ => Ok(()),
            };
        }
        let Some(action) = policy::action_of(cx.s3_op().name()) else {
            // Operations outside the policy vocabulary: root and bucket owners only.
            if caller == Some(self.root.as_str()) {
                return Ok(());
            }
            return match self.store.bucket_owner(&bucket).await {
                Ok(owner) if caller.is_some() && owner.as_deref() == caller => Ok(()),
                Err(crate::store::StoreError::NoSuchBucket) => Err(s3_error!(NoSuchBucket)),
                _ => Err(denied()),
            };
        };
        // A request naming a version needs the version action (s3:GetObjectVersion, …),
        // as in S3: a policy can deny old versions while allowing current ones.
        let names_version = cx
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("versionId=")));
        let action = match names_version {
            true => policy::version_action(action).unwrap_or(action),
            false => action,
        };
        let client = cx.extensions_mut().get::<ClientInfo>().copied();
        let facts = request_facts(client, cx.uri(), cx.headers());
        authorize(
            self.store.as_ref(),
            &self.root,
            caller,
            action,
            &bucket,
            key.as_deref(),
            facts,
        )
        .await
    }
}

/// Decodes a condition value; a value with a broken escape is kept as sent.
fn urlencoding_decode(s: &str) -> String {
    convert::percent_decode(s).unwrap_or_else(|| s.to_string())
}

#[async_trait::async_trait]
impl S3 for CofferS3 {
    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        objects::attributes(self, req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let viewer = self.owner_of(&req);
        let i = req.input;
        let max = match i.max_buckets {
            None => usize::MAX,
            Some(n @ 1..=10_000) => n as usize,
            Some(_) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "max-buckets must be between 1 and 10000"
                ))
            }
        };
        let prefix = i.prefix.unwrap_or_default();

        // The continuation token is the last bucket name of the previous page.
        let after = i.continuation_token.unwrap_or_default();
        let mut buckets: Vec<_> = self
            .store
            .list_buckets()
            .await
            .map_err(s3)?
            .into_iter()
            .filter(|b| b.name.starts_with(prefix.as_str()) && b.name > after)
            // The root user sees every bucket; another user the buckets it owns.
            .filter(|b| viewer.is_none() || b.owner == viewer)
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        let continuation_token = (buckets.len() > max)
            .then(|| buckets.get(max - 1).map(|b| b.name.clone()))
            .flatten();
        buckets.truncate(max);
        Ok(S3Response::new(ListBucketsOutput {
            continuation_token,
            prefix: (!prefix.is_empty()).then_some(prefix),
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| Bucket {
                        name: Some(b.name),
                        creation_date: Some(convert::timestamp(
                            i128::from(b.created) * 1_000_000_000,
                        )),
                        ..Default::default()
                    })
                    .collect(),
            ),
            owner: Some(list::owner()),
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let owner = self.owner_of(&req);
        let with_lock = req.input.object_lock_enabled_for_bucket == Some(true);
        acl::check_acl!(
            req.input,
            grant_full_control,
            grant_read,
            grant_read_acp,
            grant_write,
            grant_write_acp
        )?;
        if let Some(o) = &req.input.object_ownership {
            acl::check_ownership([o])?;
        }
        let bucket = req.input.bucket;
        // s3s checks the other naming rules; S3 also refuses a dot next to a dash.
        if bucket.contains(".-") || bucket.contains("-.") {
            return Err(s3_error!(
                InvalidBucketName,
                "bucket names cannot have a dot next to a dash"
            ));
        }
        self.store
            .create_bucket(&bucket, owner.as_deref())
            .await
            .map_err(s3)?;
        if with_lock {
            self.enable_object_lock(&bucket, &lock::Config::default())
                .await?;
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.store
            .head_bucket(&req.input.bucket)
            .await
            .map_err(s3)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(crate::REGION.into()),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(s3)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.store
            .head_bucket(&req.input.bucket)
            .await
            .map_err(s3)?;
        // us-east-1 is reported as an empty location constraint, as AWS does.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let policy = self
            .store
            .get_bucket_setting(&req.input.bucket, POLICY)
            .await
            .map_err(s3)?;
        let policy = policy.ok_or_else(|| s3_error!(NoSuchBucketPolicy))?;
        Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(policy),
        }))
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let i = req.input;
        let v: serde_json::Value = serde_json::from_str(&i.policy)
            .map_err(|_| s3_error!(MalformedPolicy, "policy is not valid JSON"))?;
        policy::validate(&v, &i.bucket).map_err(|reason| s3_error!(MalformedPolicy, "{reason}"))?;
        public_access::check_policy(self.store.as_ref(), &i.bucket, &v).await?;
        self.store
            .set_bucket_setting(&i.bucket, POLICY, Some(&i.policy))
            .await
            .map_err(s3)?;
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.store
            .set_bucket_setting(&req.input.bucket, POLICY, None)
            .await
            .map_err(s3)?;
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let text = self
            .store
            .get_bucket_setting(&req.input.bucket, crate::cors::SETTING)
            .await
            .map_err(s3)?
            .ok_or_else(|| {
                s3_error!(
                    NoSuchCORSConfiguration,
                    "The CORS configuration does not exist"
                )
            })?;
        let rules: Vec<crate::cors::Rule> =
            serde_json::from_str(&text).map_err(s3s::S3Error::internal_error)?;
        let opt = |v: Vec<String>| (!v.is_empty()).then_some(v);
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(
                rules
                    .into_iter()
                    .map(|r| CORSRule {
                        id: r.id,
                        allowed_origins: r.origins,
                        allowed_methods: r.methods,
                        allowed_headers: opt(r.headers),
                        expose_headers: opt(r.expose),
                        max_age_seconds: r.max_age,
                    })
                    .collect(),
            ),
        }))
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let i = req.input;
        let rules: Vec<crate::cors::Rule> = i
            .cors_configuration
            .cors_rules
            .into_iter()
            .map(|r| crate::cors::Rule {
                id: r.id,
                origins: r.allowed_origins,
                methods: r.allowed_methods,
                headers: r.allowed_headers.unwrap_or_default(),
                expose: r.expose_headers.unwrap_or_default(),
                max_age: r.max_age_seconds,
            })
            .collect();
        crate::cors::validate(&rules).map_err(|m| s3_error!(InvalidRequest, "{m}"))?;
        let text = serde_json::to_string(&rules).map_err(s3s::S3Error::internal_error)?;
        self.store
            .set_bucket_setting(&i.bucket, crate::cors::SETTING, Some(&text))
            .await
            .map_err(s3)?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.store
            .set_bucket_setting(&req.input.bucket, crate::cors::SETTING, None)
            .await
            .map_err(s3)?;
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let i = req.input;
        let config = sse::bucket::Config::from_request(i.server_side_encryption_configuration)?;
        let kms = self.sse.kms().ok_or_else(|| {
            s3_error!(
                NotImplemented,
                "Server side encryption specified but KMS is not configured"
            )
        })?;
        if let Some(key) = config.kms_key() {
            // The key must exist and be usable before buckets rely on it.
            let mut ctx = kms::Context::new();
            ctx.insert("MinIO admin API", "ServerInfoHandler");
            kms.generate(key, &ctx).await.map_err(sse::kms_error)?;
        }
        let text = serde_json::to_string(&config).map_err(s3s::S3Error::internal_error)?;
        self.store
            .set_bucket_setting(&i.bucket, sse::bucket::SETTING, Some(&text))
            .await
            .map_err(s3)?;
        Ok(S3Response::new(PutBucketEncryptionOutput {}))
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let config = self
            .bucket_encryption_config(&req.input.bucket)
            .await?
            .ok_or_else(|| {
                sse::error(
                    "ServerSideEncryptionConfigurationNotFoundError",
                    404,
                    "The server side encryption configuration was not found",
                )
            })?;
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(config.to_response()),
        }))
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.store
            .set_bucket_setting(&req.input.bucket, sse::bucket::SETTING, None)
            .await
            .map_err(s3)?;
        Ok(S3Response::new(DeleteBucketEncryptionOutput {}))
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let text = self
            .store
            .get_bucket_setting(&req.input.bucket, TAGGING)
            .await
            .map_err(s3)?
            .ok_or_else(|| {
                s3_error!(
                    NoSuchTagSet,
                    "There is no tag set associated with the bucket."
                )
            })?;
        let tags: Vec<(String, String)> =
            serde_json::from_str(&text).map_err(s3s::S3Error::internal_error)?;
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: convert::tags_out(tags),
        }))
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let i = req.input;
        let tags = convert::tags_in(i.tagging, 50)?;
        let text = serde_json::to_string(&tags).map_err(s3s::S3Error::internal_error)?;
        self.store
            .set_bucket_setting(&i.bucket, TAGGING, Some(&text))
            .await
            .map_err(s3)?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.store
            .set_bucket_setting(&req.input.bucket, TAGGING, None)
            .await
            .map_err(s3)?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        lock::put_config(self, req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        lock::get_config(self, req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        lock::put_retention(self, req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        lock::get_retention(self, req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        lock::put_legal_hold(self, req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        lock::get_legal_hold(self, req).await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        lifecycle::put(self, req).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        lifecycle::get(self, req).await
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        lifecycle::delete(self, req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        acl::get_bucket(self, req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        acl::put_bucket(self, req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        acl::get_object(self, req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        acl::put_object(self, req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        acl::get_ownership(self, req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        acl::put_ownership(self, req).await
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        acl::delete_ownership(self, req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        public_access::get(self, req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        public_access::put(self, req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        public_access::delete(self, req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        public_access::policy_status(self, req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        versioning::get(self, req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        versioning::put(self, req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        objects::put(self, req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        objects::get(self, req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        objects::head(self, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        objects::delete(self, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        objects::delete_many(self, req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        objects::copy(self, req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        objects::get_tagging(self, req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        objects::put_tagging(self, req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        objects::delete_tagging(self, req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        list::v1(self, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        list::v2(self, req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        list::versions(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create(self, req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_uploads(self, req).await
    }
}
