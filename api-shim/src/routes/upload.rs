//! POST /api/v1/thumbnails: the upload. The file is streamed to the store as it
//! arrives (bounded memory, size cap), checked to be an image from its first bytes,
//! and a Thumbnail is created for it. Whatever fails after the original was stored
//! deletes it again, so a rejected upload leaves nothing behind.

use std::collections::BTreeMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Bytes, BytesMut};
use kube::api::{ObjectMeta, PostParams};
use kube::ResourceExt as _;
use thumbnail_api::crd::{self, Fit, Format, Phase, S3Object, Source, Thumbnail, ThumbnailSpec};
use thumbnail_api::links::links;

use crate::base_url::BaseUrl;
use thumbnail_api::metadata::{
    ANNOTATION_ORIGINAL_FILENAME, ANNOTATION_SHIM_OWNS_SOURCE, FINALIZER, LABEL_CREATED_BY,
    LABEL_GROUP,
};
use thumbnail_api::ownership::{group_member_name, shim_original_key};
use utoipa::ToSchema;

use crate::error::{from_kube, ApiError, ApiResult, ErrorBody};
use crate::model::{
    group_links, GroupAccepted, MemberAccepted, Requested, UploadAccepted, UploadAnswer,
};
use crate::params::{Size, UploadParams};
use crate::state::AppState;
use crate::store::{ObjectWriter, PutError};

/// Value of [`LABEL_CREATED_BY`] on resources this shim creates.
pub use thumbnail_api::metadata::CREATED_BY_SHIM as CREATED_BY;

/// Bytes looked at to recognise the image format (enough for every magic number the
/// resizer knows).
const SNIFF_BYTES: usize = 64;

/// Longest text field value read; the parameters are short words and numbers.
const MAX_TEXT_FIELD: usize = 1024;

/// The multipart form of an upload.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the form for OpenAPI; the handler reads it field by field
pub struct UploadForm {
    /// The image (JPEG, PNG, WebP, GIF...; recognised from its bytes, not its name).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Target width in pixels. Give width, height or both.
    #[schema(schema_with = dimension)]
    width: Option<u32>,
    /// Target height in pixels.
    #[schema(schema_with = dimension)]
    height: Option<u32>,
    /// How the image is fitted (default inside); all but inside need width and height.
    fit: Option<Fit>,
    /// Output encoding (default jpeg).
    format: Option<Format>,
    /// Encoder quality 1-100 for jpeg, webp and avif (not png). Default 80; avif 50.
    /// With `sizes`: for the items of those formats that give none.
    #[schema(minimum = 1, maximum = 100)]
    quality: Option<u8>,
    /// Several thumbnails of this one upload, instead of width and height: up to 16
    /// comma-separated items, each `W`, `WxH` or `xH`, optionally followed by
    /// `:`-separated options for that item alone — a fit (`cover`), a format (`avif`),
    /// a quality (`q40`), or written out (`fit=cover`) — the fields above apply to
    /// what an item leaves out. E.g. `128,256,512` or `64x64:cover,1024:avif:q40`.
    /// The field may be repeated; its items add up. The answer is a group: one
    /// thumbnail per item over one stored original, which is deleted with the last of
    /// them. An error about one item names it (`item`: its position).
    #[schema(example = "128,256x256:cover,1024:webp")]
    sizes: Option<String>,
}

/// A width or height field: its bounds are the CRD's (utoipa's attributes take only
/// literals).
fn dimension() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int32,
        )))
        .minimum(Some(1))
        .maximum(Some(crd::MAX_DIMENSION))
        .build()
}

/// A new thumbnail id: a ULID whose time part counts down (2^48 - 1 - now in ms), so
/// that names sort newest first. The API server lists in name order and cannot sort,
/// so this is what makes `GET /api/v1/thumbnails` (and its `continue` pages) newest
/// first. Lower-case, 26 characters: a valid object name.
pub fn newest_first_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let countdown = ((1u64 << 48) - 1).saturating_sub(now);
    ulid::Ulid::from_parts(countdown, ulid::Ulid::new().random())
        .to_string()
        .to_lowercase()
}

/// The original as stored.
struct Stored {
    key: String,
    filename: Option<String>,
}

/// How far an upload got, for the clean-up of one that fails (or runs out of time).
#[derive(Default)]
struct Progress {
    stored: Option<Stored>,
    /// With `sizes`: how many Thumbnails the group has.
    group_of: Option<usize>,
    /// Thumbnails of the group were created and could not all be deleted again: they
    /// need the original (the operator deletes it with the last of them).
    keep_original: bool,
}

/// Upload an image and request a thumbnail of it, or several (`sizes`).
///
/// Answers 202 at once: the thumbnail is made in the background. Follow the `self`
/// link (or the Location header) until the status is `success`, then the `download`
/// link. With `sizes` the answer is a group: its id, each thumbnail's id and links, and
/// the group's link (also the Location header), which lists them with their status.
#[utoipa::path(
    post,
    path = "/api/v1/thumbnails",
    tag = super::TAG,
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Accepted; the thumbnail is being made (with sizes: a group, one thumbnail per item)", body = UploadAnswer,
            headers(("Location" = String, description = "URL of the new thumbnail (with sizes: of the group)"))),
        (status = 400, description = "Not a multipart form with a file", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 413, description = "The file is over the size limit", body = ErrorBody),
        (status = 415, description = "The file is not an image of a supported format", body = ErrorBody),
        (status = 422, description = "A parameter is out of range or the combination is not allowed; with sizes, `item` is the position of the item at fault (too many items, a malformed one, the same one twice). Nothing is kept", body = ErrorBody),
        (status = 503, description = "The object store or the Kubernetes API server is unavailable (code store_unavailable or api_server_unavailable), or the shim is serving its limit of requests at once (code overloaded, with Retry-After)", body = ErrorBody),
        (status = 504, description = "The upload took longer than the time limit; nothing was kept", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub async fn upload(
    State(state): State<AppState>,
    base: BaseUrl,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let multipart = multipart.map_err(|e| {
        ApiError::bad_request(
            "bad_multipart",
            format!(
                "{}; send a multipart/form-data body with the image in a field named \"file\"",
                e.body_text()
            ),
        )
    })?;
    let id = newest_first_id();
    let mut progress = Progress::default();
    let limit = state.settings.upload_timeout;
    // The time limit is applied here rather than by the router's timeout middleware,
    // so that a late upload is cleaned up like any other failure.
    let (result, maybe_stored) =
        match tokio::time::timeout(limit, accept(&state, &base, &id, multipart, &mut progress))
            .await
        {
            Ok(result) => (result, progress.stored.is_some()),
            // The original may have been stored by a request whose answer was not read.
            Err(_) => (
                timed_out(&state, &base, &id, limit, &mut progress).await,
                true,
            ),
        };
    if result.is_err() && maybe_stored && !progress.keep_original {
        // Nothing accepted may be lost, and nothing rejected may be kept.
        let key = shim_original_key(&state.settings.namespace, &id);
        if let Err(e) = state.store.delete(&state.store.bucket, &key).await {
            tracing::error!(%key, error = %e, "could not delete the original of a rejected upload");
        }
        // A multipart upload cut off by the time limit may have been created by a
        // request whose answer was never read; find it by listing, now and once more
        // after the store has surely seen that request.
        let state = state.clone();
        tokio::spawn(async move {
            for wait in [std::time::Duration::ZERO, std::time::Duration::from_secs(2)] {
                tokio::time::sleep(wait).await;
                if let Err(e) = state
                    .store
                    .abort_pending_uploads(&state.store.bucket, &key)
                    .await
                {
                    tracing::warn!(%key, error = %e, "could not abort a pending multipart upload");
                }
            }
        });
    }
    let accepted = result?;
    let location = match &accepted {
        UploadAnswer::One(_) => base.thumbnail_url(&id),
        UploadAnswer::Group(g) => {
            tracing::info!(group = %id, thumbnails = g.thumbnails.len(), "upload with several sizes accepted");
            base.group_url(&id)
        }
    };
    tracing::info!(%id, "upload accepted");
    Ok((StatusCode::ACCEPTED, [(LOCATION, location)], Json(accepted)).into_response())
}

/// After the time limit the Thumbnail (or the group's Thumbnails) may or may not have
/// been created: if it was, the upload was accepted and must not lose its original. A
/// group cut off half-way is deleted again.
async fn timed_out(
    state: &AppState,
    base: &BaseUrl,
    id: &str,
    limit: std::time::Duration,
    progress: &mut Progress,
) -> ApiResult<UploadAnswer> {
    let too_late = || {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the upload took longer than {} s and was stopped; nothing was kept. Retry on a faster connection or with a smaller file",
                limit.as_secs()
            ),
        )
    };
    let Some(expected) = progress.group_of else {
        if let Ok(t) = state.thumbnails.get(id).await {
            return Ok(UploadAnswer::One(accepted(base, id, t.spec.format)));
        }
        return Err(too_late());
    };
    let Ok(members) = super::groups::members(state, id).await else {
        // Not known whether any was created: keep what they may need.
        progress.keep_original = true;
        return Err(too_late());
    };
    if members.len() == expected {
        return Ok(UploadAnswer::Group(group_accepted(base, id, &members)));
    }
    if !delete_all(state, &members).await {
        progress.keep_original = true;
    }
    Err(too_late())
}

fn accepted(base: &BaseUrl, id: &str, format: Format) -> UploadAccepted {
    UploadAccepted {
        id: id.into(),
        status: Phase::Pending.status_word(),
        links: links(&base.0, id, Phase::Pending, format),
    }
}

fn group_accepted(base: &BaseUrl, group: &str, members: &[Thumbnail]) -> GroupAccepted {
    GroupAccepted {
        group: group.into(),
        status: Phase::Pending.status_word(),
        thumbnails: members
            .iter()
            .map(|t| {
                let id = t.name_any();
                MemberAccepted {
                    links: crate::model::ThumbnailView::from_resource(t, &base.0).links,
                    id,
                    status: Phase::Pending.status_word(),
                    requested: Requested::of(t),
                }
            })
            .collect(),
        links: group_links(&base.0, group),
    }
}

async fn accept(
    state: &AppState,
    base: &BaseUrl,
    id: &str,
    mut multipart: Multipart,
    progress: &mut Progress,
) -> ApiResult<UploadAnswer> {
    let mut params = UploadParams::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if progress.stored.is_some() {
                return Err(ApiError::invalid(
                    "file",
                    "send exactly one file per upload",
                ));
            }
            progress.stored = Some(store_file(state, id, field).await?);
        } else {
            let value = read_text(field, &name).await?;
            params.set(&name, &value)?;
        }
    }
    let sizes = params.sizes()?;
    let stored = progress.stored.as_ref().ok_or_else(|| {
        ApiError::invalid(
            "file",
            "the upload has no file: send the image as a form field named \"file\"",
        )
    })?;

    let Some(sizes) = sizes else {
        let thumbnail = resource(state, id, stored, &params);
        state
            .thumbnails
            .create(&PostParams::default(), &thumbnail)
            .await
            .map_err(|e| from_kube(e, id))?;
        return Ok(UploadAnswer::One(accepted(base, id, thumbnail.spec.format)));
    };
    progress.group_of = Some(sizes.len());
    let members: Vec<Thumbnail> = sizes
        .iter()
        .enumerate()
        .map(|(i, size)| member(state, id, i + 1, stored, size))
        .collect();
    // Each one checked by the API server (its CEL rules, e.g. fit cover needs both
    // sides) before any is created: a refused item leaves nothing behind.
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    for (i, (t, size)) in members.iter().zip(&sizes).enumerate() {
        if let Err(e) = state.thumbnails.create(&dry_run, t).await {
            let err = from_kube(e, id);
            return Err(if err.body.code == "rejected_by_api_server" {
                let mut err = err.with_item(i + 1).with_field("sizes");
                err.body.message = format!(
                    "sizes item {} ({}): {}",
                    i + 1,
                    size.describe().trim(),
                    err.body.message
                );
                err
            } else {
                err
            });
        }
    }
    let mut created = Vec::with_capacity(members.len());
    for t in &members {
        match state.thumbnails.create(&PostParams::default(), t).await {
            Ok(made) => created.push(made),
            Err(e) => {
                // All or nothing: the ones made already are deleted again; if that
                // fails they keep the original, which goes with the last of them.
                if !delete_all(state, &created).await {
                    progress.keep_original = true;
                }
                return Err(from_kube(e, id));
            }
        }
    }
    Ok(UploadAnswer::Group(group_accepted(base, id, &created)))
}

/// Deletes `members` (each only if still the object created: its uid); true when none
/// is left.
async fn delete_all(state: &AppState, members: &[Thumbnail]) -> bool {
    let mut all = true;
    for t in members {
        let params = kube::api::DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: t.metadata.uid.clone(),
                resource_version: None,
            }),
            ..kube::api::DeleteParams::background()
        };
        match state.thumbnails.delete(&t.name_any(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                tracing::error!(thumbnail = %t.name_any(), error = %e, "could not delete a Thumbnail of a failed upload");
                all = false;
            }
        }
    }
    all
}

/// The `index`-th (1-based) Thumbnail of the group `group`, made from `size` over the
/// group's one original.
fn member(state: &AppState, group: &str, index: usize, stored: &Stored, size: &Size) -> Thumbnail {
    let p = UploadParams {
        width: size.width,
        height: size.height,
        fit: Some(size.fit),
        format: Some(size.format),
        quality: size.quality,
        sizes: None,
    };
    let mut t = resource(state, &group_member_name(group, index), stored, &p);
    t.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(LABEL_GROUP.into(), group.into());
    t
}

fn resource(state: &AppState, id: &str, stored: &Stored, p: &UploadParams) -> Thumbnail {
    // Information only: the operator decides what it deletes from the location.
    let mut annotations = BTreeMap::from([(ANNOTATION_SHIM_OWNS_SOURCE.into(), "true".into())]);
    if let Some(name) = &stored.filename {
        annotations.insert(ANNOTATION_ORIGINAL_FILENAME.into(), name.clone());
    }
    Thumbnail {
        metadata: ObjectMeta {
            name: Some(id.into()),
            namespace: Some(state.settings.namespace.clone()),
            annotations: Some(annotations),
            // Created with the operator's finalizer already set: a Thumbnail deleted
            // before the operator first sees it still waits for its cleanup, so the
            // original stored above is never left behind.
            finalizers: Some(vec![FINALIZER.into()]),
            labels: Some(BTreeMap::from([(
                LABEL_CREATED_BY.into(),
                CREATED_BY.into(),
            )])),
            ..Default::default()
        },
        spec: ThumbnailSpec {
            source: Source {
                s3: S3Object {
                    bucket: Some(state.store.bucket.clone()),
                    key: stored.key.clone(),
                },
            },
            width: p.width,
            height: p.height,
            fit: p.fit.unwrap_or_default(),
            format: p.format.unwrap_or_default(),
            quality: p.quality,
        },
        status: None,
    }
}

/// Keeps the last path component of a client's file name, at most 253 characters: it
/// is only informational, and annotation values should stay small.
fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let cut: String = base.chars().filter(|c| !c.is_control()).take(253).collect();
    (!cut.is_empty()).then_some(cut)
}

async fn store_file(state: &AppState, id: &str, mut field: Field<'_>) -> ApiResult<Stored> {
    let filename = field.file_name().and_then(clean_filename);
    let max = state.settings.max_upload_bytes;

    // Read just enough to recognise the format before anything is stored.
    let mut head = BytesMut::new();
    while head.len() < SNIFF_BYTES {
        match field.chunk().await.map_err(multipart_error)? {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => break,
        }
    }
    let content_type = crate::sniff::image_content_type(&head).ok_or_else(|| {
        let supported = crate::sniff::SUPPORTED;
        // A format we recognise but do not decode (HEIC, PDF, ...) is named, so the
        // client knows what to convert rather than being told it sent no image.
        let message = match thumbnail_api::detect::unsupported(&head) {
            Some(what) => {
                format!("the file is {what}, which is not supported; convert it to {supported}")
            }
            None => format!(
                "the file is not an image in a supported format ({supported}); upload one of those"
            ),
        };
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
        .with_field("file")
    })?;

    // The one location the operator recognises as this Thumbnail's own original
    // (thumbnail_api::ownership): its namespace and name are in the key.
    let key = shim_original_key(&state.settings.namespace, id);
    let mut writer = state.store.writer(key.clone(), content_type, max);
    let streamed = stream(&mut writer, head.freeze(), &mut field, max).await;
    let written = match streamed {
        Ok(()) => match writer.finish().await {
            Ok(n) => n,
            Err((e, writer)) => {
                writer.abort().await;
                return Err(put_error(e, max));
            }
        },
        Err(e) => {
            writer.abort().await;
            return Err(e);
        }
    };
    state.metrics.add_upload_bytes(written);
    Ok(Stored { key, filename })
}

async fn stream(
    writer: &mut ObjectWriter,
    head: Bytes,
    field: &mut Field<'_>,
    max: u64,
) -> ApiResult<()> {
    writer.push(head).await.map_err(|e| put_error(e, max))?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        writer.push(chunk).await.map_err(|e| put_error(e, max))?;
    }
    Ok(())
}

fn put_error(e: PutError, max: u64) -> ApiError {
    match e {
        PutError::TooLarge => ApiError::payload_too_large(max).with_field("file"),
        PutError::Store(msg) => ApiError::store_unavailable(msg),
    }
}

async fn read_text(mut field: Field<'_>, name: &str) -> ApiResult<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(ApiError::invalid(
                name,
                format!("{name} is longer than {MAX_TEXT_FIELD} bytes; parameters are short numbers or words"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| ApiError::invalid(name, format!("{name} is not UTF-8 text")))
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over the size limit; upload a smaller image",
        );
    }
    ApiError::bad_request(
        "bad_multipart",
        format!(
            "the body is not a valid multipart/form-data upload ({}); send the image as a form field named \"file\"",
            e.body_text()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_ids_sort_first_and_are_object_names() {
        let first = newest_first_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = newest_first_id();
        assert!(second < first, "{second} should sort before {first}");
        for id in [&first, &second] {
            assert_eq!(id.len(), 26);
            crate::routes::check_id(id).unwrap();
        }
    }

    #[test]
    fn filenames_keep_only_the_last_component() {
        assert_eq!(
            clean_filename("C:\\photos\\cat.jpg").as_deref(),
            Some("cat.jpg")
        );
        assert_eq!(
            clean_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(clean_filename("dir/"), None);
        assert_eq!(clean_filename(&"a".repeat(400)).map(|s| s.len()), Some(253));
    }
}
