//! The `Thumbnail` custom resource (`thumbnails.dev/v1alpha1`).
//!
//! A Thumbnail is both the request ("make a 256x256 WebP of this object") and the
//! job record: the controller writes progress, the produced object and hypermedia
//! links into `.status`. Validation lives in the generated schema (ranges, enums,
//! CEL rules) so that `kubectl apply` rejects a bad manifest before any Job runs.
//!
//! Doc comments on the types become `kubectl explain` text: write them for users.
//! The REST words for phases are in [`crate::status_words`], the links in [`crate::links`].

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every resource this operator serves. (`#[kube(group)]` below must be a
/// literal; a test checks it is this.)
pub const GROUP: &str = "thumbnails.dev";
/// Served and stored version (likewise checked against `#[kube(version)]`).
pub const VERSION: &str = "v1alpha1";
/// Largest width or height a user may ask for, in pixels: the schema's maximum, the
/// resizer's flag range and the REST form's bound.
pub const MAX_DIMENSION: u32 = 8192;

/// The condition summarising the resource; its reason mirrors status.reason.
pub const CONDITION_READY: &str = "Ready";
/// Present while deletion waits for an object store that does not answer (the
/// finalizer's cleanup); a permanent refusal does not block deletion.
pub const CONDITION_CLEANUP: &str = "CleanupBlocked";
/// Every condition type the controller writes (the schema's text names them).
pub const CONDITION_TYPES: [&str; 2] = [CONDITION_READY, CONDITION_CLEANUP];

/// Desired thumbnail: where the original is, and the size and encoding to produce.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "thumbnails.dev",
    version = "v1alpha1",
    kind = "Thumbnail",
    plural = "thumbnails",
    singular = "thumbnail",
    shortname = "thumb",
    shortname = "thumbs",
    category = "thumbnails",
    namespaced,
    status = "ThumbnailStatus",
    doc = "A thumbnail of an image stored in S3. The spec says which image and what size and format to make; the controller runs a resizer Job and records the result, the produced object and links to the REST API in the status.",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Pending, Processing, Succeeded or Failed"}"#,
    printcolumn = r#"{"name":"Width","type":"integer","jsonPath":".status.output.width","description":"Width of the produced thumbnail in pixels"}"#,
    printcolumn = r#"{"name":"Height","type":"integer","jsonPath":".status.output.height","description":"Height of the produced thumbnail in pixels"}"#,
    printcolumn = r#"{"name":"Format","type":"string","jsonPath":".spec.format","description":"Requested output format"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Fit","type":"string","jsonPath":".spec.fit","priority":1,"description":"How the image is fitted into width x height"}"#,
    printcolumn = r#"{"name":"Bytes","type":"integer","jsonPath":".status.output.bytes","priority":1,"description":"Size of the produced thumbnail"}"#,
    printcolumn = r#"{"name":"Job","type":"string","jsonPath":".status.jobName","priority":1,"description":"The resizer Job of the current generation"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.message","priority":1,"description":"Why the resource is in its phase"}"#
)]
#[x_kube(validation = Rule::new("has(self.width) || has(self.height)").message(format!("set spec.width, spec.height, or both (pixels, 1-{MAX_DIMENSION})").as_str()))]
#[x_kube(validation = Rule::new("!has(self.quality) || self.format != 'png'").message("spec.quality applies only to lossy formats (jpeg, webp, avif); remove it when format is png"))]
#[x_kube(validation = Rule::new("self.fit == 'inside' || (has(self.width) && has(self.height))").message("fit cover, contain and fill need both spec.width and spec.height; use fit: inside to scale by one side"))]
#[serde(rename_all = "camelCase")]
pub struct ThumbnailSpec {
    /// Where the original image is stored. The format is detected from its bytes,
    /// not from the key's extension.
    pub source: Source,

    /// Target width in pixels (1-8192). With fit "inside", either width or height may
    /// be left out to keep the aspect ratio; the other side then follows it, up to 8192
    /// like a given side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_DIMENSION))]
    pub width: Option<u32>,

    /// Target height in pixels (1-8192). With fit "inside", either width or height may
    /// be left out to keep the aspect ratio; the other side then follows it, up to 8192
    /// like a given side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_DIMENSION))]
    pub height: Option<u32>,

    /// How the image is fitted into width x height (the names are sharp's):
    /// "inside" (default) keeps the aspect ratio and fits within the box;
    /// "cover" keeps the aspect ratio and crops the centre to fill the box;
    /// "contain" keeps the aspect ratio and pads to the box (transparent, or white for jpeg);
    /// "fill" stretches to exactly width x height.
    #[serde(default)]
    pub fit: Fit,

    /// Output encoding: "jpeg" (default), "png", "webp" (lossy) or "avif" (lossy AV1; the
    /// smallest files at a given visual quality, shown by every current browser).
    #[serde(default)]
    pub format: Format,

    /// Encoder quality for jpeg, webp and avif, 1 (smallest) to 100 (best). Default 80
    /// for jpeg and webp, 50 for avif (whose scale gives about the look of jpeg 80 at 50,
    /// as in sharp and avifenc). Not allowed with png, which is lossless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub quality: Option<u8>,
}

/// The location of the original image.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// An object in the operator's S3-compatible store.
    pub s3: S3Object,
}

/// An object in an S3-compatible bucket.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Object {
    /// Bucket name. Leave it out to use the operator's default bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    )]
    pub bucket: Option<String>,

    /// Object key, e.g. "originals/cat.jpg" (no leading slash).
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("!self.startsWith('/')").message("spec.source.s3.key must not start with '/': write originals/cat.jpg, not /originals/cat.jpg"))]
    pub key: String,
}

/// Fit and output format are the resizer contract's own types: one definition for the
/// resource, the Job's command line and the resizer.
pub use crate::contract::{Fit, Format};

// Where a Thumbnail is in its life. (A plain comment: a doc comment here would replace
// the status.phase field's own description in the schema.)
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Phase {
    /// Accepted, waiting for a resizer slot (see the Ready condition's reason).
    #[default]
    Pending,
    /// A resizer Job runs for the current generation.
    Processing,
    /// The thumbnail is stored; see status.output.
    Succeeded,
    /// The thumbnail could not be made; see status.reason and status.message.
    Failed,
}

impl Phase {
    /// Every phase, in the order a thumbnail goes through them.
    pub const ALL: [Phase; 4] = [
        Phase::Pending,
        Phase::Processing,
        Phase::Succeeded,
        Phase::Failed,
    ];

    /// Succeeded and Failed are final for a generation: nothing more happens until
    /// the spec changes.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Processing => "Processing",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }
}

/// Observed state, written only by the controller through the status subresource.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThumbnailStatus {
    /// Pending, Processing, Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// Latest observations, one per type: Ready (always; its reason mirrors
    /// status.reason) and CleanupBlocked (while deletion waits for an object store that does not answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The metadata.generation this status describes. When it lags behind
    /// metadata.generation the controller has not yet acted on the latest spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Name of the resizer Job for observedGeneration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,

    /// When processing of the current generation started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,

    /// When the current generation reached Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,

    /// The produced thumbnail, once phase is Succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<ThumbnailOutput>,

    /// Where the resizer run named in jobName stores its thumbnail, recorded when the
    /// run starts. The controller deletes exactly this object when the Thumbnail is
    /// deleted or a newer generation replaces this one, also if the run never reported
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_output: Option<OutputLocation>,

    /// Which item (0-based) of the run named in jobName this Thumbnail is, when that
    /// run makes several thumbnails at once (a batch of queued Thumbnails of one
    /// namespace, see the operator's --batch-size); absent for a run of its own. The
    /// run's result holds one entry per item: this Thumbnail's is the one at this index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_item: Option<u32>,

    /// Hypermedia actions on this thumbnail through the REST API (self, download, delete).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,

    /// Machine-readable CamelCase cause of the current phase, e.g. Queued, NotAnImage,
    /// TooManyPixels, StoreUnavailable, SourceNotAllowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// Human-readable explanation of the current phase and what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The stored thumbnail.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThumbnailOutput {
    /// Bucket holding the thumbnail.
    pub bucket: String,
    /// Object key of the thumbnail.
    pub key: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Encoding of the thumbnail.
    pub format: Format,
    /// MIME type, e.g. image/jpeg.
    pub content_type: String,
    /// Size of the object in bytes.
    pub bytes: u64,
}

/// A stored object's location.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputLocation {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
}

pub use crate::links::Link;

/// Conditions follow the metav1.Condition shape as a map list keyed on `type`, so
/// server-side apply merges them per type instead of replacing the whole list.
fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    serde_json::from_value(serde_json::json!({
        "type": "array",
        "description": "Latest observations, one per type: Ready (always; its reason mirrors status.reason) and CleanupBlocked (while deletion waits for an object store that does not answer).",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "type": {"type": "string", "maxLength": 316, "description": "Kind of condition: Ready or CleanupBlocked."},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"], "description": "True, False or Unknown."},
                "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0, "description": "metadata.generation the condition was set from."},
                "lastTransitionTime": {"type": "string", "format": "date-time", "description": "When status last changed."},
                "reason": {"type": "string", "maxLength": 1024, "minLength": 1, "description": "CamelCase cause of the last transition."},
                "message": {"type": "string", "maxLength": 32768, "description": "Human-readable details."}
            }
        }
    }))
    .expect("static conditions schema is valid JSON")
}

/// The CustomResourceDefinition as applied to a cluster.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = Thumbnail::crd();
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            normalize_schema(schema);
        }
    }
    crd
}

/// Adjusts what schemars emits to what the Kubernetes API server expects:
/// - schemars marks every `Option` field `nullable`. In a CRD that lets a manifest say
///   `width: null`, which passes `has(self.width)` in the CEL rules and then fails them
///   with an unhelpful type error. Optional fields are simply left out in this API (the
///   controller's status writer skips `None`), so `nullable` is removed everywhere.
/// - Rust's unsigned formats (uint8, uint32...) are unknown to the API server, which
///   warns on every apply; the bounds are already given by minimum/maximum.
fn normalize_schema(schema: &mut JSONSchemaProps) {
    schema.nullable = None;
    match schema.format.as_deref() {
        Some("uint64") => schema.format = Some("int64".into()),
        Some(f) if f.starts_with("uint") => schema.format = None,
        _ => {}
    }
    let children = schema
        .properties
        .iter_mut()
        .flat_map(|p| p.values_mut())
        .chain(schema.items.iter_mut().filter_map(|i| match i {
            JSONSchemaPropsOrArray::Schema(s) => Some(s.as_mut()),
            JSONSchemaPropsOrArray::Schemas(_) => None,
        }));
    for child in children {
        normalize_schema(child);
    }
}

/// The CustomResourceDefinition as YAML, exactly as `crdgen` prints and crds/ holds it.
pub fn crd_yaml() -> String {
    serde_yaml::to_string(&crd()).expect("the CRD serializes to YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_defaults_apply_when_fields_are_left_out() {
        let spec: ThumbnailSpec = serde_json::from_value(
            serde_json::json!({"source": {"s3": {"key": "a.jpg"}}, "width": 64}),
        )
        .unwrap();
        assert_eq!(spec.fit, Fit::Inside);
        assert_eq!(spec.format, Format::Jpeg);
        assert_eq!(spec.height, None);
        assert_eq!(spec.source.s3.bucket, None);
    }

    #[test]
    fn crd_has_names_columns_and_subresource() {
        let crd = crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("thumbnails.thumbnails.dev")
        );
        let names = &crd.spec.names;
        assert_eq!(
            names.short_names.as_deref(),
            Some(&["thumb".to_string(), "thumbs".to_string()][..])
        );
        let v = &crd.spec.versions[0];
        assert!(v.subresources.as_ref().unwrap().status.is_some());
        let cols: Vec<_> = v
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            cols,
            ["Phase", "Width", "Height", "Format", "Age", "Fit", "Bytes", "Job", "Message"]
        );
    }

    #[test]
    fn schema_carries_bounds_enums_and_cel_rules() {
        let schema = serde_json::to_value(crd().spec.versions[0].schema.as_ref().unwrap()).unwrap();
        let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(
            spec["properties"]["width"]["maximum"].as_f64(),
            Some(f64::from(MAX_DIMENSION))
        );
        assert_eq!(spec["properties"]["width"]["minimum"].as_f64(), Some(1.0));
        assert_eq!(
            spec["properties"]["quality"]["maximum"].as_f64(),
            Some(100.0)
        );
        assert_eq!(
            spec["properties"]["fit"]["enum"],
            serde_json::json!(["inside", "cover", "contain", "fill"])
        );
        assert_eq!(spec["properties"]["format"]["default"], "jpeg");
        let rules: Vec<_> = spec["x-kubernetes-validations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"].as_str().unwrap())
            .collect();
        assert_eq!(rules.len(), 3, "{rules:?}");
        let conds = &schema["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conds["x-kubernetes-list-type"], "map");
        assert_eq!(
            conds["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"])
        );
        assert!(
            !schema.to_string().contains("nullable"),
            "nullable must be stripped"
        );
    }

    #[test]
    fn group_and_version_constants_are_the_resources() {
        use kube::Resource;
        assert_eq!(Thumbnail::group(&()), GROUP);
        assert_eq!(Thumbnail::version(&()), VERSION);
        assert_eq!(Thumbnail::api_version(&()), format!("{GROUP}/{VERSION}"));
    }

    /// Doc text cannot name a constant: check that what users read is the code's.
    #[test]
    fn schema_text_names_the_real_limits_and_conditions() {
        let schema = serde_json::to_value(crd().spec.versions[0].schema.as_ref().unwrap()).unwrap();
        let props = &schema["openAPIV3Schema"]["properties"];
        for field in ["width", "height"] {
            let text = props["spec"]["properties"][field]["description"]
                .as_str()
                .unwrap();
            assert!(
                text.contains(&format!("1-{MAX_DIMENSION}")),
                "{field}: {text}"
            );
        }
        let conds = &props["status"]["properties"]["conditions"];
        let texts = [
            conds["description"].as_str().unwrap(),
            conds["items"]["properties"]["type"]["description"]
                .as_str()
                .unwrap(),
        ];
        for text in texts {
            let named: Vec<_> = text
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| {
                    w.len() > 1
                        && w.chars().next().unwrap().is_ascii_uppercase()
                        && w[1..].chars().any(|c| c.is_ascii_uppercase())
                        || CONDITION_TYPES.contains(w)
                })
                .collect();
            for t in CONDITION_TYPES {
                assert!(text.contains(t), "{t} missing from {text:?}");
            }
            assert!(
                named.iter().all(|w| CONDITION_TYPES.contains(w)),
                "{text:?} names {named:?}"
            );
        }
    }

    /// crds/ is generated; this fails when the code changed and `make crds` was not run.
    #[test]
    fn crds_folder_matches_the_code() {
        // Read where the test runs (cargo sets CARGO_MANIFEST_DIR then too), not where
        // it was compiled: the build cache is shared between checkouts.
        let package = std::env::var("CARGO_MANIFEST_DIR").expect("run with cargo");
        let path = std::path::Path::new(&package).join("../crds/thumbnails.dev_thumbnails.yaml");
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert!(
            on_disk == crd_yaml(),
            "crds/thumbnails.dev_thumbnails.yaml is out of date with api/src/crd.rs: run `make crds` and commit the result"
        );
    }
}
