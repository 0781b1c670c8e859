//! The S3 API on top of an [`ObjectStore`]: s3s parses, authenticates (SigV4) and routes
//! requests; this module maps each operation to the store. One file per operation
//! family; errors are mapped to S3 codes in [`errors`] only.
//!
//! Operations not implemented here answer `NotImplemented` (s3s's default), never a
//! wrong success.

mod convert;
mod errors;
mod list;
mod multipart;
mod objects;
pub mod policy;

use std::sync::Arc;

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

use crate::store::ObjectStore;
use errors::s3;

/// The S3 service of a Coffer object server.
#[derive(Debug, Clone)]
pub struct CofferS3 {
    store: Arc<dyn ObjectStore>,
}

impl CofferS3 {
    /// Serves the S3 API from `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }
}

const POLICY: &str = "policy.json";

/// Who is calling: set by the HTTP layer as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    /// Peer address.
    pub addr: std::net::SocketAddr,
    /// Whether the connection is TLS.
    pub secure: bool,
}

/// Access control: signed requests pass (s3s verified the signature); anonymous ones
/// need a bucket policy that allows them (see [`policy`]).
#[derive(Debug, Clone)]
pub struct PolicyAccess {
    store: Arc<dyn ObjectStore>,
}

impl PolicyAccess {
    /// Evaluates the policies kept in `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }
}

#[async_trait::async_trait]
impl s3s::access::S3Access for PolicyAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_some() {
            return Ok(());
        }
        let denied = || s3_error!(AccessDenied, "Access Denied.");
        let (bucket, resource) = match cx.s3_path() {
            s3s::path::S3Path::Root => return Err(denied()),
            s3s::path::S3Path::Bucket { bucket } => {
                (bucket.to_string(), format!("arn:aws:s3:::{bucket}"))
            }
            s3s::path::S3Path::Object { bucket, key } => {
                (bucket.to_string(), format!("arn:aws:s3:::{bucket}/{key}"))
            }
        };
        let action = policy::action_of(cx.s3_op().name()).ok_or_else(denied)?;
        let Ok(Some(text)) = self.store.get_bucket_setting(&bucket, POLICY).await else {
            return Err(denied());
        };
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|_| denied())?;
        let mut facts = policy::RequestFacts::default();
        if let Some(info) = cx.extensions_mut().get::<ClientInfo>().copied() {
            facts.source_ip = Some(info.addr.ip());
            facts.secure = info.secure;
        }
        if let Some(q) = cx.uri().query() {
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
        for (name, value) in cx.headers() {
            let Ok(v) = value.to_str() else { continue };
            let key = match name.as_str() {
                "user-agent" => "aws:useragent".to_string(),
                "referer" => "aws:referer".to_string(),
                n if n.starts_with("x-amz-") => format!("s3:{n}"),
                _ => continue,
            };
            facts.values.entry(key).or_default().push(v.to_string());
        }
        if policy::allows_anonymous(&doc, action, &resource, &facts) {
            Ok(())
        } else {
            Err(denied())
        }
    }
}

fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let Some(v) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.store.list_buckets().await.map_err(s3)?;
        Ok(S3Response::new(ListBucketsOutput {
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
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket;
        self.store.create_bucket(&bucket).await.map_err(s3)?;
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
