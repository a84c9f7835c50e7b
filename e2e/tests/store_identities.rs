//! Each component's object-store identity is allowed what the component does and refused
//! everything else (issue 12, "one admin key everywhere"), against the real SeaweedFS
//! of the test run, whose identities come from the chart's own generator
//! (charts/thumbnail-operator/files/s3-identities.sh, through hack/s3-server.sh): the
//! configuration the chart and `make dev` run is the one tested here.
//!
//! The allowed calls are the components' own code where it is a library (the shim's
//! Store, the operator's ObjectStore); the refused ones are plain S3 calls.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use thumbnail_api::contract::ObjectLocation;
use thumbnail_api::crd::Format;
use thumbnail_api::ownership::shim_original_key;
use thumbnail_testkit::s3::Identity;
use thumbnail_testkit::{unique_namespace, S3Env};

/// What the test run's server holds for one test: keys under a namespace of its own in
/// the identities' bucket, and a bucket no identity was given.
struct Fixture {
    admin: S3Env,
    bucket: String,
    namespace: String,
    original: String,
    thumbnail: String,
    /// A key of the identities' bucket outside originals/ and thumbnails/.
    elsewhere: String,
    /// A bucket of someone else (no identity has rights there) with an object.
    foreign: String,
    /// The administrator-allowed source bucket (S3_RESIZER_READ) with an object.
    allowed_source: String,
}

const FOREIGN_KEY: &str = "payroll/2025.xlsx";
const SOURCE_KEY: &str = "shared/photo.jpg";

async fn fixture() -> Fixture {
    let admin = S3Env::from_env();
    let bucket = S3Env::identity_bucket();
    let namespace = unique_namespace("ids");
    let original = shim_original_key(&namespace, "cat");
    let thumbnail = format!("thumbnails/{namespace}/cat/0b8f11aa-g1.jpg");
    let elsewhere = format!("elsewhere/{namespace}/note");
    admin.put(&bucket, &original, b"original".to_vec()).await;
    admin.put(&bucket, &elsewhere, b"elsewhere".to_vec()).await;
    admin
        .client
        .put_object()
        .bucket(&bucket)
        .key(&thumbnail)
        .body(ByteStream::from_static(b"thumbnail"))
        .content_type("image/jpeg")
        .metadata("width", "256")
        .metadata("height", "171")
        .send()
        .await
        .expect("admin stores a thumbnail");
    let foreign = admin.new_bucket("foreign").await;
    admin.put(&foreign, FOREIGN_KEY, b"salaries".to_vec()).await;
    let allowed_source = std::env::var("THUMBNAIL_TEST_S3_RESIZER_READ")
        .expect("THUMBNAIL_TEST_S3_RESIZER_READ (hack/test.sh sets it)");
    admin
        .put(
            &allowed_source,
            &format!("{namespace}/{SOURCE_KEY}"),
            b"src".to_vec(),
        )
        .await;
    Fixture {
        admin,
        bucket,
        namespace,
        original,
        thumbnail,
        elsewhere,
        foreign,
        allowed_source,
    }
}

/// Fails unless the store refused the call as not permitted (403 AccessDenied), not for
/// any other reason (a missing key or bucket would prove nothing).
fn refused<T, E: ProvideErrorMetadata + std::fmt::Debug>(
    who: Identity,
    what: &str,
    result: Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) {
    match result {
        Ok(_) => panic!("{who:?} was allowed to {what}; it must be refused"),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let code = e
                .as_service_error()
                .and_then(|s| s.code().map(str::to_string));
            assert!(
                status == Some(403) && code.as_deref().is_none_or(|c| c == "AccessDenied"),
                "{who:?} {what}: refused with {status:?} {code:?}, want 403 AccessDenied: {e:?}"
            );
        }
    }
}

/// The object requests the checks make, sent as the client's identity, with the SDK's
/// own result (what [`refused`] reads the status and code from).
type Sent<T, E> = Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>;

async fn get_object(
    c: &aws_sdk_s3::Client,
    bucket: impl Into<String>,
    key: impl Into<String>,
) -> Sent<
    aws_sdk_s3::operation::get_object::GetObjectOutput,
    aws_sdk_s3::operation::get_object::GetObjectError,
> {
    c.get_object().bucket(bucket).key(key).send().await
}

async fn put_object(
    c: &aws_sdk_s3::Client,
    bucket: impl Into<String>,
    key: impl Into<String>,
) -> Sent<
    aws_sdk_s3::operation::put_object::PutObjectOutput,
    aws_sdk_s3::operation::put_object::PutObjectError,
> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
}

async fn delete_object(
    c: &aws_sdk_s3::Client,
    bucket: impl Into<String>,
    key: impl Into<String>,
) -> Sent<
    aws_sdk_s3::operation::delete_object::DeleteObjectOutput,
    aws_sdk_s3::operation::delete_object::DeleteObjectError,
> {
    c.delete_object().bucket(bucket).key(key).send().await
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(), String> {
    put_object(c, bucket, key)
        .await
        .map(drop)
        .map_err(|e| format!("{e:?}"))
}

/// The refusals every identity shares: other buckets (read, write, list), listing
/// buckets' contents, creating buckets, the keys outside the components' prefixes.
async fn refused_everywhere_else(f: &Fixture, who: Identity) {
    let c = f.admin.as_identity(who).client;
    refused(
        who,
        "read a foreign bucket",
        get_object(&c, &f.foreign, FOREIGN_KEY).await,
    );
    refused(
        who,
        "write a foreign bucket",
        put_object(&c, &f.foreign, "x").await,
    );
    refused(
        who,
        "delete in a foreign bucket",
        delete_object(&c, &f.foreign, FOREIGN_KEY).await,
    );
    refused(
        who,
        "list a foreign bucket",
        c.list_objects_v2().bucket(&f.foreign).send().await,
    );
    refused(
        who,
        "create a bucket",
        c.create_bucket()
            .bucket(unique_namespace("mine").to_lowercase())
            .send()
            .await,
    );
    refused(
        who,
        "read outside originals/ and thumbnails/",
        get_object(&c, &f.bucket, &f.elsewhere).await,
    );
    refused(
        who,
        "write outside originals/ and thumbnails/",
        put_object(&c, &f.bucket, &f.elsewhere).await,
    );
    refused(
        who,
        "delete outside originals/ and thumbnails/",
        delete_object(&c, &f.bucket, &f.elsewhere).await,
    );
    // The shim alone lists its own bucket: HeadBucket (its readiness probe) needs
    // s3:ListBucket, which S3 cannot grant without listing.
    if who != Identity::Shim {
        refused(
            who,
            "list the other namespaces' objects",
            c.list_objects_v2()
                .bucket(&f.bucket)
                .prefix("thumbnails/")
                .send()
                .await,
        );
    }
    // A ListBuckets answers, but names no bucket the identity has no right to list.
    if let Ok(out) = c.list_buckets().send().await {
        let names: Vec<_> = out.buckets().iter().filter_map(|b| b.name()).collect();
        assert!(
            !names.contains(&f.foreign.as_str()),
            "{who:?} sees the foreign bucket in ListBuckets: {names:?}"
        );
    }
    // Nothing of the above changed the admin's view.
    assert_eq!(f.admin.get(&f.foreign, FOREIGN_KEY).await, b"salaries");
    assert_eq!(f.admin.get(&f.bucket, &f.elsewhere).await, b"elsewhere");
}

#[tokio::test]
async fn the_resizer_reads_sources_and_writes_only_thumbnails() {
    let f = fixture().await;
    let who = Identity::Resizer;
    let c = f.admin.as_identity(who).client;
    // Allowed: read the shim's originals and the allowed sources, write its output.
    let got = c
        .get_object()
        .bucket(&f.bucket)
        .key(&f.original)
        .send()
        .await
        .expect("the resizer reads an original");
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"original"
    );
    let source = format!("{}/{SOURCE_KEY}", f.namespace);
    get_object(&c, &f.allowed_source, &source)
        .await
        .expect("the resizer reads an allowed source bucket");
    let output = format!("thumbnails/{}/cat/0b8f11aa-g2.webp", f.namespace);
    put(&c, &f.bucket, &output)
        .await
        .expect("the resizer writes its output");
    // Refused: deleting anything, writing originals or sources, reading thumbnails.
    refused(
        who,
        "delete an original",
        delete_object(&c, &f.bucket, &f.original).await,
    );
    refused(
        who,
        "delete a thumbnail",
        delete_object(&c, &f.bucket, &f.thumbnail).await,
    );
    refused(
        who,
        "overwrite an original",
        put_object(&c, &f.bucket, &f.original).await,
    );
    refused(
        who,
        "write a new original",
        put_object(&c, &f.bucket, shim_original_key(&f.namespace, "new")).await,
    );
    refused(
        who,
        "write an allowed source",
        put_object(&c, &f.allowed_source, &source).await,
    );
    refused(
        who,
        "delete an allowed source",
        delete_object(&c, &f.allowed_source, &source).await,
    );
    refused(
        who,
        "list an allowed source bucket",
        c.list_objects_v2().bucket(&f.allowed_source).send().await,
    );
    refused(
        who,
        "read a stored thumbnail",
        get_object(&c, &f.bucket, &f.thumbnail).await,
    );
    refused(
        who,
        "start a multipart upload of an original",
        c.create_multipart_upload()
            .bucket(&f.bucket)
            .key(shim_original_key(&f.namespace, "mp"))
            .send()
            .await,
    );
    refused_everywhere_else(&f, who).await;
    assert_eq!(f.admin.get(&f.bucket, &f.original).await, b"original");
    assert_eq!(f.admin.get(&f.allowed_source, &source).await, b"src");
}

#[tokio::test]
async fn the_shim_writes_and_deletes_originals_and_reads_thumbnails() {
    let f = fixture().await;
    let who = Identity::Shim;
    let env = f.admin.as_identity(who);
    let store = api_shim::store::Store {
        client: env.client.clone(),
        bucket: f.bucket.clone(),
    };
    // Allowed, through the shim's own code: readiness, a multipart upload (more than one
    // part) of an original, the listing that finds abandoned uploads, downloads, deletes.
    store.check().await.expect("the shim's readiness probe");
    let key = shim_original_key(&f.namespace, "big");
    let mut writer = store.writer(key.clone(), "image/jpeg", 64 << 20);
    let chunk = bytes::Bytes::from(vec![7u8; api_shim::store::PART_SIZE]);
    writer
        .push(chunk.clone())
        .await
        .unwrap_or_else(|e| panic!("first part: {e:?}"));
    writer
        .push(chunk)
        .await
        .unwrap_or_else(|e| panic!("second part: {e:?}"));
    let written = writer
        .finish()
        .await
        .unwrap_or_else(|(e, _)| panic!("multipart upload of an original: {e:?}"));
    assert_eq!(written, 2 * api_shim::store::PART_SIZE as u64);
    store
        .abort_pending_uploads(&f.bucket, &key)
        .await
        .expect("listing and aborting abandoned uploads of an original");
    store
        .get(&f.bucket, &f.thumbnail, None)
        .await
        .expect("the shim downloads a thumbnail");
    store
        .delete(&f.bucket, &key)
        .await
        .expect("the shim deletes an original");
    assert!(!f.admin.exists(&f.bucket, &key).await);
    // Refused: writing or deleting thumbnails, reading originals back.
    let c = env.client;
    refused(
        who,
        "write a thumbnail",
        put_object(&c, &f.bucket, &f.thumbnail).await,
    );
    refused(
        who,
        "delete a thumbnail",
        delete_object(&c, &f.bucket, &f.thumbnail).await,
    );
    refused(
        who,
        "start a multipart upload of a thumbnail",
        c.create_multipart_upload()
            .bucket(&f.bucket)
            .key(format!("thumbnails/{}/x.jpg", f.namespace))
            .send()
            .await,
    );
    refused(
        who,
        "read an original",
        get_object(&c, &f.bucket, &f.original).await,
    );
    refused(
        who,
        "read an allowed source",
        get_object(
            &c,
            &f.allowed_source,
            format!("{}/{SOURCE_KEY}", f.namespace),
        )
        .await,
    );
    refused_everywhere_else(&f, who).await;
    assert_eq!(f.admin.get(&f.bucket, &f.thumbnail).await, b"thumbnail");
}

#[tokio::test]
async fn the_operator_deletes_and_reads_back_thumbnails_and_writes_nothing() {
    let f = fixture().await;
    let who = Identity::Operator;
    let env = f.admin.as_identity(who);
    let objects = thumbnail_operator::objects::ObjectStore::from_client(env.client.clone());
    // Allowed, through the operator's own code: reading back a stored thumbnail, deleting
    // thumbnails and the shim's originals.
    let at = ObjectLocation {
        bucket: f.bucket.clone(),
        key: f.thumbnail.clone(),
    };
    let stored = objects
        .stored_thumbnail(&at, Format::Jpeg)
        .await
        .expect("the operator reads back a stored thumbnail");
    assert_eq!(stored.map(|o| (o.width, o.height)), Some((256, 171)));
    // Refused: writing anything, reading originals or sources.
    let c = env.client;
    refused(
        who,
        "write a thumbnail",
        put_object(&c, &f.bucket, &f.thumbnail).await,
    );
    refused(
        who,
        "write an original",
        put_object(&c, &f.bucket, &f.original).await,
    );
    refused(
        who,
        "read an original",
        get_object(&c, &f.bucket, &f.original).await,
    );
    refused(
        who,
        "read an allowed source",
        get_object(
            &c,
            &f.allowed_source,
            format!("{}/{SOURCE_KEY}", f.namespace),
        )
        .await,
    );
    refused(
        who,
        "delete an allowed source",
        delete_object(
            &c,
            &f.allowed_source,
            format!("{}/{SOURCE_KEY}", f.namespace),
        )
        .await,
    );
    refused_everywhere_else(&f, who).await;
    objects
        .delete(&f.bucket, &f.thumbnail)
        .await
        .expect("the operator deletes a thumbnail");
    objects
        .delete(&f.bucket, &f.original)
        .await
        .expect("the operator deletes the shim's original");
    assert!(!f.admin.exists(&f.bucket, &f.thumbnail).await);
    assert!(!f.admin.exists(&f.bucket, &f.original).await);
}
