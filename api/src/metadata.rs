//! What the components write into the metadata of Kubernetes objects: finalizer, field
//! manager, labels and annotations. The names are API: users select by the labels, and
//! the shim and the operator talk through the annotations.

/// Finalizer the operator puts on every Thumbnail: deleting one removes its stored
/// objects first.
pub const FINALIZER: &str = "thumbnails.dev/cleanup";

/// The operator's name: its server-side apply field manager, its Events' reporting
/// controller, and the `app.kubernetes.io/managed-by` value on the Jobs it creates.
pub const MANAGER: &str = "thumbnail-operator";

/// Kubernetes' recommended label naming who manages an object.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Label on a resizer Job: the name of its Thumbnail, or, when that name is no valid
/// label value (longer than 63 characters), its first characters and a hash of it.
pub const LABEL_THUMBNAIL: &str = "thumbnails.dev/thumbnail";
/// Label on a resizer Job: the Thumbnail generation it renders.
pub const LABEL_GENERATION: &str = "thumbnails.dev/generation";

/// `app.kubernetes.io/managed-by`-style label set on resources the REST shim created.
pub const LABEL_CREATED_BY: &str = "thumbnails.dev/created-by";
/// Value of [`LABEL_CREATED_BY`] on the Thumbnails the REST shim creates.
pub const CREATED_BY_SHIM: &str = "api-shim";

/// Label on the Thumbnails the REST shim made from one upload with several sizes: the
/// group's id (the key of their shared original, `originals/<ns>/<group>`). For
/// selecting a group (`GET /api/v1/groups/{id}`, `kubectl get thumb -l
/// thumbnails.dev/group=<id>`); the operator decides nothing from it: who uses an
/// original comes from the members' names and sources ([`crate::ownership`]).
pub const LABEL_GROUP: &str = "thumbnails.dev/group";

/// Annotation set by the REST shim on resources whose original it uploaded.
/// Information only: anyone may write it, so nothing depends on it. Which source the
/// finalizer deletes is decided by its location alone ([`crate::ownership`]).
pub const ANNOTATION_SHIM_OWNS_SOURCE: &str = "thumbnails.dev/source-owned-by-shim";

/// Annotation with the file name a client uploaded through the REST shim (informational).
pub const ANNOTATION_ORIGINAL_FILENAME: &str = "thumbnails.dev/original-filename";
