//! Response bodies of the REST API, built from `Thumbnail` resources. The resource
//! types, status words and links live in the `api` crate; these are the REST views.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt as _;
use serde::Serialize;
use thumbnail_api::crd::{Fit, Format, Phase, Thumbnail};
use thumbnail_api::links::links;
pub use thumbnail_api::links::Link;
use thumbnail_api::metadata::{ANNOTATION_ORIGINAL_FILENAME, LABEL_GROUP};
use thumbnail_api::status_words::StatusWord;
use utoipa::ToSchema;

/// The answer to an accepted upload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadAccepted {
    /// Id of the new thumbnail (also its Kubernetes resource name).
    #[schema(example = "01jdz8q6x5m3c9v2k7h4t0r1ab")]
    pub id: String,
    /// Always `uploaded` right after an upload.
    #[schema(example = "uploaded")]
    pub status: StatusWord,
    pub links: Vec<Link>,
}

/// One Thumbnail of an accepted upload with several sizes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberAccepted {
    /// Id of the thumbnail: the group's id and its item's position, e.g. `...-02`.
    #[schema(example = "01jdz8q6x5m3c9v2k7h4t0r1ab-02")]
    pub id: String,
    /// Always `uploaded` right after an upload.
    #[schema(example = "uploaded")]
    pub status: StatusWord,
    /// The item of `sizes` it was made from, with the upload's shared fields.
    pub requested: Requested,
    pub links: Vec<Link>,
}

/// The answer to an accepted upload with `sizes`: one thumbnail per item, over one
/// stored original.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupAccepted {
    /// Id of the group (`GET /api/v1/groups/{id}`; the label
    /// `thumbnails.dev/group` on each Thumbnail).
    #[schema(example = "01jdz8q6x5m3c9v2k7h4t0r1ab")]
    pub group: String,
    /// Always `uploaded` right after an upload.
    #[schema(example = "uploaded")]
    pub status: StatusWord,
    /// One per item of `sizes`, in their order.
    pub thumbnails: Vec<MemberAccepted>,
    /// self (the group) and delete (all its thumbnails).
    pub links: Vec<Link>,
}

/// The answer to an accepted upload: one thumbnail, or a group when `sizes` was given.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UploadAnswer {
    One(UploadAccepted),
    Group(GroupAccepted),
}

/// How many of a group's thumbnails have each status.
#[derive(Debug, Clone, Default, Serialize, ToSchema, PartialEq, Eq)]
pub struct StatusCounts {
    pub uploaded: usize,
    pub processing: usize,
    pub success: usize,
    pub error: usize,
}

/// The thumbnails of one upload with several sizes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupView {
    #[schema(example = "01jdz8q6x5m3c9v2k7h4t0r1ab")]
    pub id: String,
    /// The group as a whole: `success` once all succeeded, `error` once all are done
    /// and one or more failed (see each thumbnail), `uploaded` while none has started,
    /// else `processing`.
    #[schema(example = "processing")]
    pub status: StatusWord,
    pub counts: StatusCounts,
    /// Its thumbnails in the order of the upload's `sizes` (those deleted one by one are
    /// no longer here).
    pub thumbnails: Vec<ThumbnailView>,
    /// self and delete (all its thumbnails).
    pub links: Vec<Link>,
}

impl GroupView {
    pub fn new(id: &str, members: &[Thumbnail], base: &str) -> GroupView {
        let mut counts = StatusCounts::default();
        for t in members {
            match phase_of(t).status_word() {
                StatusWord::Uploaded => counts.uploaded += 1,
                StatusWord::Processing => counts.processing += 1,
                StatusWord::Success => counts.success += 1,
                StatusWord::Error => counts.error += 1,
            }
        }
        let status = if counts.success == members.len() {
            StatusWord::Success
        } else if counts.success + counts.error == members.len() {
            StatusWord::Error
        } else if counts.uploaded == members.len() {
            StatusWord::Uploaded
        } else {
            StatusWord::Processing
        };
        GroupView {
            id: id.into(),
            status,
            counts,
            thumbnails: members
                .iter()
                .map(|t| ThumbnailView::from_resource(t, base))
                .collect(),
            links: group_links(base, id),
        }
    }
}

/// The links of a group: self and delete.
pub fn group_links(base: &str, id: &str) -> Vec<Link> {
    let url = crate::base_url::group_url(base, id);
    vec![
        Link::new("self", url.clone(), "GET", Some("application/json")),
        Link::new("delete", url, "DELETE", None),
    ]
}

/// What the client asked for.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Requested {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[schema(example = "inside")]
    pub fit: Fit,
    #[schema(example = "jpeg")]
    pub format: Format,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
}

impl Requested {
    /// What a Thumbnail's spec asks for.
    pub fn of(t: &Thumbnail) -> Requested {
        Requested {
            width: t.spec.width,
            height: t.spec.height,
            fit: t.spec.fit,
            format: t.spec.format,
            quality: t.spec.quality,
        }
    }
}

/// The produced thumbnail.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    #[schema(example = "image/jpeg")]
    pub content_type: String,
}

/// One thumbnail job.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThumbnailView {
    #[schema(example = "01jdz8q6x5m3c9v2k7h4t0r1ab")]
    pub id: String,
    /// uploaded, processing, success or error.
    #[schema(example = "success")]
    pub status: StatusWord,
    /// The resource's phase: Pending, Processing, Succeeded or Failed.
    #[schema(example = "Succeeded")]
    pub phase: Phase,
    pub requested: Requested,
    /// Present once the status is success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Output>,
    /// CamelCase cause of the current status, e.g. Queued or NotAnImage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human explanation of the current status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The group of an upload with several sizes this thumbnail belongs to (also its
    /// `group` link).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// File name of the upload, when it came through this API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// When the thumbnail was requested (RFC 3339).
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When it reached success or error (RFC 3339).
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    pub links: Vec<Link>,
}

/// One page of thumbnails.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ThumbnailList {
    pub items: Vec<ThumbnailView>,
    /// Pass as `continue` to get the next page; absent on the last page.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
    /// self, and next while there are more pages.
    pub links: Vec<Link>,
}

/// Health of one dependency in /readyz.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer of /readyz.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// The shim can serve: the Kubernetes API answers. Not affected by `store`.
    pub ready: bool,
    pub api_server: Check,
    /// The object store: while it is down, uploads and downloads answer 503.
    pub store: Check,
}

/// The phase of a resource; one the controller has not looked at yet is Pending.
pub fn phase_of(t: &Thumbnail) -> Phase {
    t.status.as_ref().and_then(|s| s.phase).unwrap_or_default()
}

fn rfc3339(t: &Time) -> String {
    t.0.to_string()
}

impl ThumbnailView {
    pub fn from_resource(t: &Thumbnail, public_base_url: &str) -> ThumbnailView {
        let id = t.metadata.name.clone().unwrap_or_default();
        let phase = phase_of(t);
        let status = t.status.as_ref();
        let output = status
            .and_then(|s| s.output.as_ref())
            .filter(|_| phase == Phase::Succeeded)
            .map(|o| Output {
                width: o.width,
                height: o.height,
                bytes: o.bytes,
                content_type: o.content_type.clone(),
            });
        // A label value (Kubernetes checks its characters), so safe in a URL path.
        let group = t.labels().get(LABEL_GROUP).cloned();
        let mut links = links(public_base_url, &id, phase, t.spec.format);
        if let Some(g) = &group {
            links.push(Link::new(
                "group",
                crate::base_url::group_url(public_base_url, g),
                "GET",
                Some("application/json"),
            ));
        }
        ThumbnailView {
            links,
            group,
            id,
            status: phase.status_word(),
            phase,
            requested: Requested::of(t),
            output,
            reason: status.and_then(|s| s.reason.clone()),
            // The controller's message may name stored objects (s3://...) and the
            // store's address: for kubectl describe, not for API clients.
            message: status
                .and_then(|s| s.message.as_deref())
                .map(crate::error::redact),
            filename: t
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_ORIGINAL_FILENAME).cloned()),
            created: t.metadata.creation_timestamp.as_ref().map(rfc3339),
            completed: status.and_then(|s| s.completion_time.as_ref()).map(rfc3339),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thumbnail_api::crd::{S3Object, Source, ThumbnailOutput, ThumbnailSpec, ThumbnailStatus};

    fn thumb(phase: Option<Phase>) -> Thumbnail {
        let mut t = Thumbnail::new(
            "abc",
            ThumbnailSpec {
                source: Source {
                    s3: S3Object {
                        bucket: None,
                        key: "originals/abc".into(),
                    },
                },
                width: Some(64),
                height: None,
                fit: Fit::Inside,
                format: Format::Webp,
                quality: Some(70),
            },
        );
        t.status = phase.map(|p| ThumbnailStatus {
            phase: Some(p),
            output: Some(ThumbnailOutput {
                bucket: "b".into(),
                key: "thumbs/abc.webp".into(),
                width: 64,
                height: 48,
                format: Format::Webp,
                content_type: "image/webp".into(),
                bytes: 1234,
            }),
            ..Default::default()
        });
        t
    }

    #[test]
    fn a_new_resource_shows_uploaded_without_download_link() {
        let v = ThumbnailView::from_resource(&thumb(None), "http://h");
        assert_eq!(
            (v.status.as_str(), v.phase.as_str()),
            ("uploaded", "Pending")
        );
        assert_eq!(v.requested.quality, Some(70));
        assert!(v.output.is_none());
        assert!(v.links.iter().all(|l| l.rel != "download"));
    }

    #[test]
    fn a_succeeded_resource_shows_output_and_download_link() {
        let v = ThumbnailView::from_resource(&thumb(Some(Phase::Succeeded)), "http://h/");
        assert_eq!(v.status, StatusWord::Success);
        assert_eq!(v.output.as_ref().map(|o| o.bytes), Some(1234));
        let dl = v.links.iter().find(|l| l.rel == "download").unwrap();
        assert_eq!(dl.href, "http://h/api/v1/thumbnails/abc/download");
    }

    #[test]
    fn output_is_hidden_unless_succeeded() {
        // A re-render (new generation) keeps the old output in status while Processing;
        // the API must not offer it as the current result.
        let v = ThumbnailView::from_resource(&thumb(Some(Phase::Processing)), "http://h");
        assert_eq!(v.status, StatusWord::Processing);
        assert!(v.output.is_none());
    }

    #[test]
    fn documented_status_and_phase_values_are_the_real_ones() {
        use utoipa::PartialSchema;
        let values = |schema: utoipa::openapi::RefOr<utoipa::openapi::Schema>| -> Vec<String> {
            let json = serde_json::to_value(schema).unwrap();
            json["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        let seed: Vec<_> = Phase::ALL.map(|p| p.status_word().as_str()).into();
        assert_eq!(values(StatusWord::schema()), seed);
        let names: Vec<_> = Phase::ALL.map(|p| p.as_str()).into();
        assert_eq!(values(Phase::schema()), names);
        assert_eq!(
            values(Fit::schema()),
            thumbnail_api::contract::words::<Fit>()
        );
        assert_eq!(
            values(Format::schema()),
            thumbnail_api::contract::words::<Format>()
        );
    }
}
