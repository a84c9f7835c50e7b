//! The resizer's contract, defined once: what a run is asked to do (its command line
//! and environment), what it answers (one JSON result written to a file, by default
//! Kubernetes' termination-message path), and what its exit code means.
//!
//! The operator renders Jobs (and local runs) with [`Request::to_command_line`] and
//! reads results with [`RunResult::from_json`]; the resizer binary parses the same
//! [`Request`] with clap. Nothing here knows about Kubernetes or images: it lives in
//! `api` so that the operator and the shim share it without depending on the resizer
//! crate (and so linking its image libraries), and because [`Fit`] and [`Format`] are
//! the Thumbnail resource's own field types.
//!
//! A batched run (several thumbnails in one process, `--batch=<JSON>`, one result entry
//! per item) is [`batch`]: the same items, limits, store settings and failures.

use serde::{Deserialize, Serialize};

use crate::crd::MAX_DIMENSION;
use crate::store_config::StoreConfig;

pub mod batch;
pub use batch::{
    Batch, BatchItem, BatchItemResult, BatchResult, BatchRunResult, ItemSuccess, MAX_BATCH,
};

/// Success: the thumbnail is stored and the result written.
pub const EXIT_OK: i32 = 0;
/// The input can never succeed as it is (not an image, corrupt, too many pixels,
/// unsupported, missing): retrying is pointless. A Job's podFailurePolicy maps this
/// code to FailJob.
pub const EXIT_PERMANENT: i32 = 3;
/// Something outside the input failed (store unreachable, 5xx, ...): retrying may help.
pub const EXIT_TRANSIENT: i32 = 4;

/// Where the result is written. Kubernetes reads this file into the container's
/// termination message (at most 4096 bytes).
pub const DEFAULT_RESULT_PATH: &str = "/dev/termination-log";
/// Environment variable overriding the result path (local runs write to a file).
pub const ENV_RESULT_PATH: &str = "RESIZER_RESULT_PATH";
/// Kubernetes truncates termination messages beyond this many bytes.
pub const MAX_RESULT_BYTES: usize = 4096;

/// How the image is fitted into width x height (sharp's names). The Thumbnail
/// resource uses this very type.
// Variants carry plain comments: doc comments would turn the schema's enum into a
// oneOf, which Kubernetes structural schemas do not allow.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    // Keep the aspect ratio, fit within the box.
    #[default]
    Inside,
    // Keep the aspect ratio, crop the centre to fill the box.
    Cover,
    // Keep the aspect ratio, pad to the box.
    Contain,
    // Stretch to exactly the box.
    Fill,
}

/// Output encoding (also the Thumbnail resource's `spec.format`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Jpeg,
    Png,
    Webp,
    Avif,
}

impl Format {
    /// MIME type of the encoded output.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Avif => "image/avif",
        }
    }

    /// Whether `quality` applies (the CRD refuses it for the others: its rule on
    /// spec.quality).
    pub fn is_lossy(self) -> bool {
        matches!(self, Format::Jpeg | Format::Webp | Format::Avif)
    }

    /// Conventional file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
        }
    }

    /// Encoder quality when the request gives none: each format's usual default (sharp's
    /// too), which give thumbnails of similar visual quality. AVIF's scale is libavif's
    /// (and sharp's, avifenc's): 100 - quality is the AV1 quantizer in percent, so AVIF at
    /// 50 looks about like JPEG at 80, at a fraction of the bytes. None for lossless PNG.
    pub fn default_quality(self) -> Option<u8> {
        match self {
            Format::Jpeg | Format::Webp => Some(80),
            Format::Avif => Some(50),
            Format::Png => None,
        }
    }
}

/// A bucket and key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLocation {
    pub bucket: String,
    pub key: String,
}

/// Safety limits of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
pub struct Limits {
    /// Largest source object read, in bytes; larger sources fail with SourceTooLarge.
    #[arg(long, env = "RESIZER_MAX_INPUT_BYTES", default_value_t = 64 << 20)]
    pub max_input_bytes: u64,
    /// Largest decoded image, in pixels (width x height, read from the header before
    /// decoding); larger ones fail with TooManyPixels. The resizer Job's memory limit is
    /// derived from it (operator/src/invocation.rs, measured by bench/memory.sh).
    #[arg(long, env = "RESIZER_MAX_PIXELS", default_value_t = 100_000_000)]
    pub max_pixels: u64,
}

impl Limits {
    /// The limits as the environment variables their flags read (how every run, single
    /// or batch, receives them).
    pub fn to_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "RESIZER_MAX_INPUT_BYTES".into(),
                self.max_input_bytes.to_string(),
            ),
            ("RESIZER_MAX_PIXELS".into(), self.max_pixels.to_string()),
        ]
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 64 << 20,
            max_pixels: 100_000_000,
        }
    }
}

/// One resize: read `source`, write `output`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub source: ObjectLocation,
    pub output: ObjectLocation,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    pub format: Format,
    pub quality: Option<u8>,
    pub limits: Limits,
}

/// The command line of the resizer binary: [`Request`] as flags.
#[derive(Clone, Debug, clap::Parser)]
#[command(
    name = "resizer",
    version,
    about = "Makes one thumbnail (or, with --batch, several): S3 in -> decode -> resize -> encode -> S3 out"
)]
pub struct Cli {
    /// Bucket of the source image.
    #[arg(long, required_unless_present_any = ["input_file", "batch"])]
    pub source_bucket: Option<String>,
    /// Key of the source image.
    #[arg(long, required_unless_present_any = ["input_file", "batch"])]
    pub source_key: Option<String>,
    /// Bucket the thumbnail is written to.
    #[arg(long, required_unless_present_any = ["output_file", "batch"])]
    pub output_bucket: Option<String>,
    /// Key the thumbnail is written to.
    #[arg(long, required_unless_present_any = ["output_file", "batch"])]
    pub output_key: Option<String>,
    /// Several thumbnails in one run: a JSON array of 1-32 items, each the single
    /// request's fields (source, output, width, height, fit, format, quality), instead of
    /// the single-request flags. The result is one entry per item
    /// (`thumbnail_api::contract::batch`).
    #[arg(
        long,
        value_name = "JSON",
        conflicts_with_all = [
            "source_bucket", "source_key", "output_bucket", "output_key", "input_file",
            "output_file", "width", "height", "fit", "format", "quality",
        ]
    )]
    pub batch: Option<String>,
    /// Local mode (debugging, benchmarks): read the source from this file instead of S3.
    #[arg(long, requires = "output_file", conflicts_with_all = ["source_bucket", "source_key"])]
    pub input_file: Option<std::path::PathBuf>,
    /// Local mode: write the thumbnail to this file instead of S3.
    #[arg(long, requires = "input_file", conflicts_with_all = ["output_bucket", "output_key"])]
    pub output_file: Option<std::path::PathBuf>,
    /// Target width in pixels.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DIMENSION)))]
    pub width: Option<u32>,
    /// Target height in pixels.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DIMENSION)))]
    pub height: Option<u32>,
    #[arg(long, value_enum, default_value = "inside")]
    pub fit: Fit,
    #[arg(long, value_enum, default_value = "jpeg")]
    pub format: Format,
    /// Encoder quality for jpeg, webp and avif (1-100; default 80, avif 50).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: Option<u8>,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub store: StoreConfig,
    /// Where to write the JSON result.
    #[arg(long, env = ENV_RESULT_PATH, default_value = DEFAULT_RESULT_PATH)]
    pub result_path: std::path::PathBuf,
}

impl Cli {
    pub fn request(&self) -> Request {
        Request {
            source: ObjectLocation {
                bucket: self.source_bucket.clone().unwrap_or_default(),
                key: self.source_key.clone().unwrap_or_default(),
            },
            output: ObjectLocation {
                bucket: self.output_bucket.clone().unwrap_or_default(),
                key: self.output_key.clone().unwrap_or_default(),
            },
            width: self.width,
            height: self.height,
            fit: self.fit,
            format: self.format,
            quality: self.quality,
            limits: self.limits.clone(),
        }
    }
}

impl Request {
    /// Arguments and environment for the resizer binary (a Job's container gets exactly
    /// these). Object names are arguments (visible in `kubectl describe job`, useful when
    /// debugging); store settings and limits are environment, shared by every run.
    pub fn to_command_line(&self, store: &StoreConfig) -> (Vec<String>, Vec<(String, String)>) {
        let mut args = vec![
            format!("--source-bucket={}", self.source.bucket),
            format!("--source-key={}", self.source.key),
            format!("--output-bucket={}", self.output.bucket),
            format!("--output-key={}", self.output.key),
            format!("--fit={}", value_name(self.fit)),
            format!("--format={}", value_name(self.format)),
        ];
        args.extend(self.width.map(|w| format!("--width={w}")));
        args.extend(self.height.map(|h| format!("--height={h}")));
        args.extend(self.quality.map(|q| format!("--quality={q}")));
        let mut env = store.to_env();
        env.extend(self.limits.to_env());
        (args, env)
    }
}

fn value_name<T: clap::ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .expect("no skipped variants")
        .get_name()
        .to_string()
}

/// The words a user writes for each value of `T` ([`Fit`], [`Format`]), in declaration
/// order: the serde names, which the CRD schema's enum, the resizer's flags and the
/// REST form all accept. Messages and documentation list these instead of spelling
/// them out.
pub fn words<T: clap::ValueEnum + Serialize>() -> Vec<String> {
    T::value_variants()
        .iter()
        .map(|v| match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => s,
            other => panic!("enum values serialize as strings, got {other:?}"),
        })
        .collect()
}

/// Time spent in each step, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    pub download_ms: u64,
    pub decode_ms: u64,
    pub resize_ms: u64,
    pub encode_ms: u64,
    pub upload_ms: u64,
}

/// What a successful run produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Success {
    pub output: ObjectLocation,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub format: Format,
    pub content_type: String,
    /// Dimensions of the source after EXIF orientation.
    pub source_width: u32,
    pub source_height: u32,
    pub timings: Timings,
}

/// The stable failure codes a run reports in [`Failure::reason`], and whether each is
/// worth retrying. The operator shows them as the Thumbnail's condition reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The request itself is invalid (e.g. neither width nor height).
    InvalidRequest,
    /// The source bytes are not an image of any known format (or are empty).
    NotAnImage,
    /// An image format the resizer does not decode (AVIF, HEIC, JPEG XL, SVG, ...).
    UnsupportedFormat,
    /// The image is damaged or truncated.
    CorruptImage,
    /// The header declares more pixels than the limit (checked before decoding).
    TooManyPixels,
    /// The source object is larger than the byte limit.
    SourceTooLarge,
    /// The source bucket or key does not exist.
    SourceNotFound,
    /// The store refused the credentials or the permission.
    AccessDenied,
    /// The store rejected the request for another reason (e.g. an invalid bucket name).
    StoreRejected,
    /// The store could not be reached, timed out or answered 5xx.
    StoreUnavailable,
    /// Writing the thumbnail failed locally (encoder or file error).
    OutputFailed,
    /// A bug in the resizer (a caught panic).
    InternalError,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
        Reason::InvalidRequest,
        Reason::NotAnImage,
        Reason::UnsupportedFormat,
        Reason::CorruptImage,
        Reason::TooManyPixels,
        Reason::SourceTooLarge,
        Reason::SourceNotFound,
        Reason::AccessDenied,
        Reason::StoreRejected,
        Reason::StoreUnavailable,
        Reason::OutputFailed,
        Reason::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidRequest => "InvalidRequest",
            Reason::NotAnImage => "NotAnImage",
            Reason::UnsupportedFormat => "UnsupportedFormat",
            Reason::CorruptImage => "CorruptImage",
            Reason::TooManyPixels => "TooManyPixels",
            Reason::SourceTooLarge => "SourceTooLarge",
            Reason::SourceNotFound => "SourceNotFound",
            Reason::AccessDenied => "AccessDenied",
            Reason::StoreRejected => "StoreRejected",
            Reason::StoreUnavailable => "StoreUnavailable",
            Reason::OutputFailed => "OutputFailed",
            Reason::InternalError => "InternalError",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a retry may succeed: only an unreachable or failing store. Everything else
    /// fails the same way again (a missing source must be uploaded and the Thumbnail
    /// re-applied; wrong credentials must be fixed first).
    pub fn is_transient(self) -> bool {
        matches!(self, Reason::StoreUnavailable)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a run failed: `reason` is a stable CamelCase code, `message` is for people and
/// says what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub reason: String,
    pub message: String,
    /// Whether retrying may help (the exit code says the same).
    pub transient: bool,
}

/// The one JSON document a run writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RunResult {
    Success(Success),
    Failure(Failure),
}

impl Failure {
    pub fn new(reason: Reason, message: impl Into<String>) -> Failure {
        Failure {
            reason: reason.as_str().to_string(),
            message: message.into(),
            transient: reason.is_transient(),
        }
    }
}

/// A failure inside a run, typed: a [`Reason`] plus a message that tells the user what
/// to do. Every failure of a run (format detection included) ends up as one of these,
/// and so as one [`Failure`] in the JSON result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Failed {
    pub reason: Reason,
    pub message: String,
}

impl Failed {
    pub fn new(reason: Reason, message: impl Into<String>) -> Failed {
        Failed {
            reason,
            message: message.into(),
        }
    }

    pub fn into_failure(self) -> Failure {
        Failure::new(self.reason, self.message)
    }
}

impl RunResult {
    pub fn from_json(s: &str) -> Result<RunResult, serde_json::Error> {
        serde_json::from_str(s.trim())
    }

    /// JSON of at most [`MAX_RESULT_BYTES`]: a long failure message is shortened (at a
    /// character boundary, marked with an ellipsis) rather than cut by Kubernetes into
    /// invalid JSON.
    pub fn to_json(&self) -> String {
        let json = serde_json::to_string(self).expect("results serialize");
        if json.len() <= MAX_RESULT_BYTES {
            return json;
        }
        let mut shorter = self.clone();
        match &mut shorter {
            RunResult::Failure(f) => {
                let over = json.len() - MAX_RESULT_BYTES;
                f.message = shorten(&f.message, json_len(&f.message).saturating_sub(over));
            }
            RunResult::Success(s) => {
                s.output.key = String::new(); // keys are at most 1024 bytes; unreachable in practice
            }
        }
        serde_json::to_string(&shorter).expect("results serialize")
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            RunResult::Success(_) => EXIT_OK,
            RunResult::Failure(f) if f.transient => EXIT_TRANSIENT,
            RunResult::Failure(_) => EXIT_PERMANENT,
        }
    }
}

// Shortening messages to fit a termination message: one helper for a run's result and a
// batch's (whose messages share the room evenly).

/// Bytes `c` takes inside a JSON string as serde_json writes it.
fn char_json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

pub(crate) fn json_len(s: &str) -> usize {
    s.chars().map(char_json_len).sum()
}

/// `message` in at most `cap` bytes of JSON string: whole if it fits, else cut at a
/// character boundary and ended with an ellipsis.
pub(crate) fn shorten(message: &str, cap: usize) -> String {
    if json_len(message) <= cap {
        return message.to_string();
    }
    const ELLIPSIS: char = '…';
    let Some(room) = cap.checked_sub(ELLIPSIS.len_utf8()) else {
        return String::new();
    };
    let mut used = 0;
    let mut out = String::new();
    for c in message.chars() {
        used += char_json_len(c);
        if used > room {
            break;
        }
        out.push(c);
    }
    out.push(ELLIPSIS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, ValueEnum};

    fn request() -> Request {
        Request {
            source: ObjectLocation {
                bucket: "uploads".into(),
                key: "originals/a b/ü.jpg".into(),
            },
            output: ObjectLocation {
                bucket: "thumbs".into(),
                key: "t/a.webp".into(),
            },
            width: Some(256),
            height: None,
            fit: Fit::Cover,
            format: Format::Webp,
            quality: Some(70),
            limits: Limits {
                max_input_bytes: 1000,
                max_pixels: 2000,
            },
        }
    }

    /// The operator renders, the resizer parses: both sides must agree.
    #[test]
    fn command_line_round_trips() {
        let store = StoreConfig {
            endpoint: "http://s3:9000".into(),
            ..StoreConfig::default()
        };
        let (args, env) = request().to_command_line(&store);
        let mut argv = vec!["resizer".to_string()];
        argv.extend(args);
        for (k, v) in &env {
            let flag = match k.as_str() {
                "S3_ENDPOINT" => "--s3-endpoint",
                "S3_REGION" => "--s3-region",
                "S3_PATH_STYLE" => "--s3-path-style",
                "S3_CHECKSUMS" => "--s3-checksums",
                "RESIZER_MAX_INPUT_BYTES" => "--max-input-bytes",
                "RESIZER_MAX_PIXELS" => "--max-pixels",
                other => panic!("unexpected variable {other}"),
            };
            argv.push(format!("{flag}={v}"));
        }
        let cli = Cli::parse_from(argv);
        assert_eq!(cli.request(), request());
        assert_eq!(cli.store, store);
    }

    #[test]
    fn results_round_trip_and_fit_a_termination_message() {
        let ok = RunResult::Success(Success {
            output: ObjectLocation {
                bucket: "b".into(),
                key: "k".into(),
            },
            width: 1,
            height: 2,
            bytes: 3,
            format: Format::Png,
            content_type: "image/png".into(),
            source_width: 10,
            source_height: 20,
            timings: Timings::default(),
        });
        assert_eq!(RunResult::from_json(&ok.to_json()).unwrap(), ok);
        assert!(ok.to_json().contains("\"status\":\"success\""));
        assert_eq!(ok.exit_code(), EXIT_OK);

        let long = RunResult::Failure(Failure {
            reason: "CorruptImage".into(),
            message: "é".repeat(5000),
            transient: false,
        });
        let json = long.to_json();
        assert!(json.len() <= MAX_RESULT_BYTES, "{}", json.len());
        match RunResult::from_json(&json).unwrap() {
            RunResult::Failure(f) => {
                assert_eq!(f.reason, "CorruptImage");
                assert!(f.message.ends_with('…'));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(long.exit_code(), EXIT_PERMANENT);
        // Escapes count as JSON writes them (a control character takes 6 bytes).
        let escaped = RunResult::Failure(Failure {
            reason: "CorruptImage".into(),
            message: "\u{1}\"".repeat(1000),
            transient: false,
        });
        let json = escaped.to_json();
        assert!(json.len() <= MAX_RESULT_BYTES, "{}", json.len());
        assert!(json.len() > MAX_RESULT_BYTES - 16, "{}", json.len());
        assert!(RunResult::from_json(&json).is_ok());
        let transient = RunResult::Failure(Failure {
            reason: "StoreUnavailable".into(),
            message: "m".into(),
            transient: true,
        });
        assert_eq!(transient.exit_code(), EXIT_TRANSIENT);
    }

    #[test]
    fn reasons_have_stable_names_and_only_the_store_is_transient() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            assert_eq!(r.is_transient(), r == Reason::StoreUnavailable, "{r}");
            let f = Failure::new(r, "m");
            assert_eq!(
                RunResult::Failure(f).exit_code(),
                if r.is_transient() {
                    EXIT_TRANSIENT
                } else {
                    EXIT_PERMANENT
                }
            );
        }
        assert_eq!(Reason::parse("NoSuchThing"), None);
    }

    #[test]
    fn words_are_the_serde_and_command_line_names() {
        assert_eq!(words::<Fit>(), ["inside", "cover", "contain", "fill"]);
        assert_eq!(words::<Format>(), ["jpeg", "png", "webp", "avif"]);
        for f in Format::value_variants() {
            assert!(words::<Format>().contains(&value_name(*f)));
        }
        for f in Fit::value_variants() {
            assert!(words::<Fit>().contains(&value_name(*f)));
        }
    }

    #[test]
    fn local_mode_needs_no_object_locations() {
        let cli = Cli::parse_from([
            "resizer",
            "--input-file=a.png",
            "--output-file=b.jpg",
            "--width=10",
        ]);
        assert_eq!(cli.request().source, ObjectLocation::default());
        assert!(
            Cli::try_parse_from(["resizer", "--width=10"]).is_err(),
            "S3 mode needs locations"
        );
        assert!(
            Cli::try_parse_from(["resizer", "--input-file=a.png", "--width=10"]).is_err(),
            "input needs output"
        );
    }

    #[test]
    fn shortening_respects_characters_and_escapes() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "…");
        assert_eq!(shorten("abcd", 2), "");
        assert_eq!(shorten("ééé", 6), "ééé");
        assert_eq!(shorten("ééé", 5), "é…");
        assert_eq!(shorten("ééé", 4), "…");
        assert_eq!(shorten("a\"b\"c", 6), "a\"…");
        for s in ["plain", "é\"\n\u{1}\\\u{7f}€𝄞"] {
            assert_eq!(
                json_len(s),
                serde_json::to_string(s).unwrap().len() - 2,
                "{s}"
            );
        }
    }
}
