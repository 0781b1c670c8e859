//! ACLs as AWS has them by default since 2023: Object Ownership `BucketOwnerEnforced`,
//! ACLs disabled. Every bucket and object belongs to the bucket owner with
//! FULL_CONTROL; `private` and `bucket-owner-full-control` (which say just that) are
//! accepted, every other ACL, canned or by grant, is refused with 400
//! `AccessControlListNotSupported` rather than silently ignored. Access is granted with
//! bucket policies.

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::errors::s3;
use super::{list, versioning, CofferS3};

/// The bucket setting that records deleted ownership controls (`none`); absent, the
/// bucket reports `BucketOwnerEnforced`.
const SETTING: &str = "ownership";

fn not_supported() -> s3s::S3Error {
    crate::sse::error(
        "AccessControlListNotSupported",
        400,
        "The bucket does not allow ACLs (Object Ownership is BucketOwnerEnforced); use a bucket policy",
    )
}

/// Checks a request's ACL headers (`x-amz-acl` and `x-amz-grant-*`): only the canned
/// ACLs that mean "the owner has full control" pass.
pub fn check_headers(canned: Option<&str>, grants: &[Option<&String>]) -> S3Result<()> {
    let allowed = match canned {
        None => true,
        Some(a) => a == ObjectCannedACL::PRIVATE || a == ObjectCannedACL::BUCKET_OWNER_FULL_CONTROL,
    };
    if !allowed || grants.iter().any(Option::is_some) {
        return Err(not_supported());
    }
    Ok(())
}

/// The ACL headers of an input with `acl` and the given `grant_*` fields, checked
/// (`check_acl!(in s, input, …)` also answers 403 where the bucket blocks public ACLs,
/// as S3 does with BlockPublicAcls).
macro_rules! check_acl {
    (in $s:expr, $input:expr, $($grant:ident),*) => {
        $crate::s3::acl::blocked(
            $s,
            &$input.bucket,
            $crate::s3::acl::check_headers(
                $input.acl.as_ref().map(|a| a.as_str()),
                &[$($input.$grant.as_ref()),*],
            ),
        )
        .await
    };
    ($input:expr, $($grant:ident),*) => {
        $crate::s3::acl::check_headers(
            $input.acl.as_ref().map(|a| a.as_str()),
            &[$($input.$grant.as_ref()),*],
        )
    };
}

/// A refused ACL on a bucket with `BlockPublicAcls` is 403 `AccessDenied`.
pub async fn blocked(s: &CofferS3, bucket: &str, checked: S3Result<()>) -> S3Result<()> {
    if checked.is_err()
        && super::public_access::config_of(s.store.as_ref(), bucket)
            .await
            .ok()
            .flatten()
            .is_some_and(|c| c.block_public_acls)
    {
        return Err(s3_error!(
            AccessDenied,
            "The bucket blocks public ACLs (BlockPublicAcls)"
        ));
    }
    checked
}
pub(crate) use check_acl;

/// The one ACL there is: the owner with FULL_CONTROL.
fn owner_grants() -> (Owner, Vec<Grant>) {
    let owner = list::owner();
    let grant = Grant {
        grantee: Some(Grantee {
            display_name: owner.display_name.clone(),
            id: owner.id.clone(),
            type_: Type::from_static(Type::CANONICAL_USER),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    };
    (owner, vec![grant])
}

/// An `AccessControlPolicy` body passes only if it grants exactly that.
fn check_policy(policy: Option<&AccessControlPolicy>) -> S3Result<()> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let owner = list::owner();
    let grants = policy.grants.as_deref().unwrap_or_default();
    let owner_only = grants.iter().all(|g| {
        g.permission.as_ref().map(|p| p.as_str()) == Some(Permission::FULL_CONTROL)
            && g.grantee
                .as_ref()
                .is_some_and(|e| e.type_.as_str() == Type::CANONICAL_USER && e.id == owner.id)
    });
    if grants.len() > 1 || !owner_only {
        return Err(not_supported());
    }
    Ok(())
}

/// GetBucketAcl.
pub async fn get_bucket(
    s: &CofferS3,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    s.store.head_bucket(&req.input.bucket).await.map_err(s3)?;
    let (owner, grants) = owner_grants();
    Ok(S3Response::new(GetBucketAclOutput {
        owner: Some(owner),
        grants: Some(grants),
    }))
}

/// PutBucketAcl.
pub async fn put_bucket(
    s: &CofferS3,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let i = &req.input;
    s.store.head_bucket(&i.bucket).await.map_err(s3)?;
    let checked = check_acl!(
        i,
        grant_full_control,
        grant_read,
        grant_read_acp,
        grant_write,
        grant_write_acp
    )
    .and_then(|()| check_policy(i.access_control_policy.as_ref()));
    blocked(s, &i.bucket, checked).await?;
    Ok(S3Response::new(PutBucketAclOutput::default()))
}

/// GetObjectAcl.
pub async fn get_object(
    s: &CofferS3,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let i = &req.input;
    let version = versioning::requested(i.version_id.as_deref())?;
    s.store
        .head_object(&i.bucket, &i.key, version)
        .await
        .map_err(s3)?;
    let (owner, grants) = owner_grants();
    Ok(S3Response::new(GetObjectAclOutput {
        owner: Some(owner),
        grants: Some(grants),
        ..Default::default()
    }))
}

/// PutObjectAcl.
pub async fn put_object(
    s: &CofferS3,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let i = &req.input;
    let version = versioning::requested(i.version_id.as_deref())?;
    s.store
        .head_object(&i.bucket, &i.key, version)
        .await
        .map_err(s3)?;
    let checked = check_acl!(
        i,
        grant_full_control,
        grant_read,
        grant_read_acp,
        grant_write,
        grant_write_acp
    )
    .and_then(|()| check_policy(i.access_control_policy.as_ref()));
    blocked(s, &i.bucket, checked).await?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}

/// GetBucketOwnershipControls: `BucketOwnerEnforced`, unless the controls were deleted.
pub async fn get_ownership(
    s: &CofferS3,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let bucket = &req.input.bucket;
    s.store.head_bucket(bucket).await.map_err(s3)?;
    if s.store
        .get_bucket_setting(bucket, SETTING)
        .await
        .map_err(s3)?
        .is_some()
    {
        return Err(crate::sse::error(
            "OwnershipControlsNotFoundError",
            404,
            "The bucket ownership controls were not found",
        ));
    }
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: ObjectOwnership::from_static(
                    ObjectOwnership::BUCKET_OWNER_ENFORCED,
                ),
            }],
        }),
    }))
}

/// PutBucketOwnershipControls: `BucketOwnerEnforced` is the only setting there is.
pub async fn put_ownership(
    s: &CofferS3,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let i = &req.input;
    s.store.head_bucket(&i.bucket).await.map_err(s3)?;
    check_ownership(
        i.ownership_controls
            .rules
            .iter()
            .map(|r| &r.object_ownership),
    )?;
    s.store
        .set_bucket_setting(&i.bucket, SETTING, None)
        .await
        .map_err(s3)?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
}

/// Refuses every Object Ownership but `BucketOwnerEnforced`.
pub fn check_ownership<'a>(rules: impl IntoIterator<Item = &'a ObjectOwnership>) -> S3Result<()> {
    let mut n = 0;
    for r in rules {
        n += 1;
        if r.as_str() != ObjectOwnership::BUCKET_OWNER_ENFORCED {
            return Err(s3_error!(
                InvalidArgument,
                "only BucketOwnerEnforced is supported: this server has no ACLs"
            ));
        }
    }
    if n != 1 {
        return Err(s3_error!(MalformedXML, "ownership controls hold one rule"));
    }
    Ok(())
}

/// DeleteBucketOwnershipControls (ACLs stay disabled).
pub async fn delete_ownership(
    s: &CofferS3,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let bucket = &req.input.bucket;
    s.store.head_bucket(bucket).await.map_err(s3)?;
    s.store
        .set_bucket_setting(bucket, SETTING, Some("none"))
        .await
        .map_err(s3)?;
    Ok(S3Response::new(
        DeleteBucketOwnershipControlsOutput::default(),
    ))
}
