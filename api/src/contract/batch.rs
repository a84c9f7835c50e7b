//! Batched runs: one resizer process makes the thumbnails of several items.
//!
//! # Command line
//!
//! One argument, `--batch=<JSON>`: a JSON array of 1 to [`MAX_BATCH`] [`BatchItem`]s, each
//! a [`Request`] without its limits:
//!
//! ```json
//! [{"source":{"bucket":"uploads","key":"a.jpg"},"output":{"bucket":"thumbs","key":"a-128.webp"},
//!   "width":128,"fit":"cover","format":"webp","quality":70}, ...]
//! ```
//!
//! `width`, `height` and `quality` may be left out (absent = not set); `fit` and `format`
//! default to `inside` and `jpeg`, as the single-run flags do. Unknown fields are refused.
//! Limits and store settings are environment, shared by every item, exactly as for a
//! single run ([`Batch::to_command_line`]). `--batch` conflicts with the single-request
//! flags (`--source-bucket`, `--width`, ...), which stay for a single request and for
//! people.
//!
//! # Result
//!
//! The run writes one JSON document to the result path (as a single run does), at most
//! [`MAX_RESULT_BYTES`] for [`MAX_BATCH`] items so that it fits a termination message:
//! a [`BatchResult`], with one entry per item in the order of the items:
//!
//! ```json
//! {"items":[{"width":128,"height":96,"bytes":4711,"sourceWidth":4000,"sourceHeight":3000},
//!           {"reason":"CorruptImage","message":"the JPEG file is truncated ...","transient":false}],
//!  "downloads":1,"timings":{"downloadMs":40,"decodeMs":80,"resizeMs":12,"encodeMs":9,"uploadMs":15}}
//! ```
//!
//! A success carries only what the operator cannot know itself (the thumbnail's size and
//! bytes, the source's displayed size): not the output location, which the operator
//! takes from its own record of what it asked for, so a run can never point a Thumbnail
//! at an object it was not asked to write. A failure is the single run's [`Failure`].
//! Long messages are shortened evenly ([`BatchResult::to_json`]) so that the document
//! always fits.
//!
//! # Exit code
//!
//! - [`EXIT_OK`] whenever a result with one entry per item was written: an item's
//!   failure, permanent or transient, is in its entry and never fails the other items.
//!   The operator retries the transient ones (in a later run) and fails the permanent
//!   ones.
//! - [`EXIT_PERMANENT`] only when the batch itself is invalid (bad JSON, no items, more
//!   than [`MAX_BATCH`], an invalid item, two items writing the same output). The result
//!   is then a plain [`RunResult::Failure`] with reason `InvalidRequest`, as for invalid
//!   single-run arguments: a bug in whoever rendered the batch, which no retry fixes.
//!
//! [`BatchRunResult::from_json`] reads either.

use serde::{Deserialize, Serialize};

use super::{
    json_len, shorten, Failed, Failure, Fit, Format, Limits, ObjectLocation, Reason, Request,
    RunResult, Timings, EXIT_OK, EXIT_PERMANENT, EXIT_TRANSIENT, MAX_RESULT_BYTES,
};
use crate::crd::MAX_DIMENSION;
use crate::store_config::StoreConfig;

/// Most items in one batch. The bound that makes the result fit a termination message
/// ([`MAX_RESULT_BYTES`]) with room for every item's figures and a useful message per
/// failure.
pub const MAX_BATCH: usize = 32;

/// The flag carrying a batch (`--batch=<JSON>`).
pub const BATCH_FLAG: &str = "--batch";

/// Linux refuses a single argument longer than this (MAX_ARG_STRLEN, 32 pages, the
/// terminating NUL included): a batch whose `--batch=...` argument would not fit is
/// invalid. 32 items with 1024-byte keys (S3's maximum) take about 70 KiB.
pub const MAX_BATCH_ARG_BYTES: usize = 128 * 1024 - 1;

/// One item of a batch: a [`Request`] without its limits (which are the batch's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchItem {
    pub source: ObjectLocation,
    pub output: ObjectLocation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default)]
    pub fit: Fit,
    #[serde(default)]
    pub format: Format,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
}

impl BatchItem {
    /// The single request this item is, with the batch's `limits`.
    pub fn request(&self, limits: &Limits) -> Request {
        Request {
            source: self.source.clone(),
            output: self.output.clone(),
            width: self.width,
            height: self.height,
            fit: self.fit,
            format: self.format,
            quality: self.quality,
            limits: limits.clone(),
        }
    }

    /// What a single run's command line would refuse or fail as `InvalidRequest`:
    /// neither width nor height, a dimension outside 1-[`MAX_DIMENSION`], a quality
    /// outside 1-100, an empty bucket or key. The message names the problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.width.is_none() && self.height.is_none() {
            return Err("neither width nor height is set; give at least one".into());
        }
        for (name, value) in [("width", self.width), ("height", self.height)] {
            if let Some(v) = value {
                if !(1..=MAX_DIMENSION).contains(&v) {
                    return Err(format!("{name} {v} is outside 1-{MAX_DIMENSION}"));
                }
            }
        }
        if let Some(q) = self.quality {
            if !(1..=100).contains(&q) {
                return Err(format!("quality {q} is outside 1-100"));
            }
        }
        for (name, loc) in [("source", &self.source), ("output", &self.output)] {
            if loc.bucket.is_empty() || loc.key.is_empty() {
                return Err(format!("the {name} needs a bucket and a key"));
            }
        }
        Ok(())
    }
}

impl From<Request> for BatchItem {
    fn from(r: Request) -> BatchItem {
        BatchItem {
            source: r.source,
            output: r.output,
            width: r.width,
            height: r.height,
            fit: r.fit,
            format: r.format,
            quality: r.quality,
        }
    }
}

/// Several requests for one run: 1 to [`MAX_BATCH`] items. Its JSON is the array of
/// its items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Batch {
    pub items: Vec<BatchItem>,
}

impl Batch {
    /// The batch's JSON: what follows `--batch=`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("batches serialize")
    }

    /// Reads and validates the value of `--batch`; every refusal is `InvalidRequest`
    /// with a message saying what is wrong (and which item).
    pub fn parse(json: &str) -> Result<Batch, Failed> {
        let batch: Batch = serde_json::from_str(json).map_err(|e| {
            Failed::new(
                Reason::InvalidRequest,
                format!("{BATCH_FLAG} is not a batch (a JSON array of items): {e}"),
            )
        })?;
        batch.validate()?;
        Ok(batch)
    }

    /// 1 to [`MAX_BATCH`] items, each valid ([`BatchItem::validate`]), no two writing the
    /// same output object, and a command line Linux accepts ([`MAX_BATCH_ARG_BYTES`]).
    pub fn validate(&self) -> Result<(), Failed> {
        let invalid = |m: String| Failed::new(Reason::InvalidRequest, m);
        if self.items.is_empty() || self.items.len() > MAX_BATCH {
            return Err(invalid(format!(
                "a batch has 1 to {MAX_BATCH} items, this one has {}",
                self.items.len()
            )));
        }
        for (i, item) in self.items.iter().enumerate() {
            item.validate().map_err(|m| {
                invalid(format!(
                    "batch item {i} (output s3://{}/{}): {m}",
                    item.output.bucket, item.output.key
                ))
            })?;
            if let Some(j) = self.items[..i].iter().position(|o| o.output == item.output) {
                return Err(invalid(format!(
                    "batch items {j} and {i} both write s3://{}/{}",
                    item.output.bucket, item.output.key
                )));
            }
        }
        let arg = BATCH_FLAG.len() + 1 + self.to_json().len();
        if arg > MAX_BATCH_ARG_BYTES {
            return Err(invalid(format!(
                "the batch's argument would be {arg} bytes, over the {MAX_BATCH_ARG_BYTES} a process accepts; use fewer items or shorter keys"
            )));
        }
        Ok(())
    }

    /// Arguments and environment for the resizer binary, as [`Request::to_command_line`]
    /// renders a single request: the items (object names included, visible in `kubectl
    /// describe job`) are the one `--batch` argument; store settings and `limits`, shared
    /// by every item, are environment.
    pub fn to_command_line(
        &self,
        limits: &Limits,
        store: &StoreConfig,
    ) -> (Vec<String>, Vec<(String, String)>) {
        let args = vec![format!("{BATCH_FLAG}={}", self.to_json())];
        let mut env = store.to_env();
        env.extend(limits.to_env());
        (args, env)
    }
}

/// What a batch run reports for an item that succeeded: only what the operator cannot
/// know itself (the output location is the one it asked for).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSuccess {
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// Dimensions of the source after EXIF orientation.
    pub source_width: u32,
    pub source_height: u32,
}

/// One item's outcome. In JSON a success has `width` (and no `reason`), a failure has
/// `reason`, `message` and `transient` (the single run's [`Failure`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchItemResult {
    Success(ItemSuccess),
    Failure(Failure),
}

/// The result of a batch run: one entry per item, in the order of the items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub items: Vec<BatchItemResult>,
    /// Source downloads attempted (failed ones included): one per distinct source, as
    /// items with the same source share one download and one decode. Sources left
    /// untried after a store outage are not counted.
    pub downloads: u32,
    /// Time spent in each step, summed over the run's sources and items.
    pub timings: Timings,
}

impl BatchResult {
    pub fn from_json(s: &str) -> Result<BatchResult, serde_json::Error> {
        serde_json::from_str(s.trim())
    }

    /// JSON of at most [`MAX_RESULT_BYTES`] for up to [`MAX_BATCH`] items: when the
    /// document is too long, failure messages are shortened evenly (every message longer
    /// than a common cap is cut to it at a character boundary and marked with an
    /// ellipsis; shorter ones stay whole), with the largest cap that fits. Successes
    /// and reasons are never shortened; with every message empty, 32 entries fit even
    /// with the largest figures their types allow (a unit test checks it).
    pub fn to_json(&self) -> String {
        let json = serde_json::to_string(self).expect("results serialize");
        if json.len() <= MAX_RESULT_BYTES {
            return json;
        }
        let longest = self
            .items
            .iter()
            .filter_map(|i| match i {
                BatchItemResult::Failure(f) => Some(json_len(&f.message)),
                BatchItemResult::Success(_) => None,
            })
            .max()
            .unwrap_or(0);
        let with_cap = |cap: usize| {
            let mut shorter = self.clone();
            for item in &mut shorter.items {
                if let BatchItemResult::Failure(f) = item {
                    f.message = shorten(&f.message, cap);
                }
            }
            serde_json::to_string(&shorter).expect("results serialize")
        };
        // The longest cap that fits: the length is monotonic in the cap.
        let (mut lo, mut hi) = (0, longest);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if with_cap(mid).len() <= MAX_RESULT_BYTES {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        with_cap(lo)
    }
}

/// What a batch run writes: one entry per item (exit code [`EXIT_OK`]), or one failure
/// for the batch as a whole (an invalid batch: [`EXIT_PERMANENT`]; also what a run
/// writes when its arguments cannot be parsed at all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchRunResult {
    Items(BatchResult),
    Failure(Failure),
}

impl BatchRunResult {
    /// Reads a batch run's result, for a batch of `items` items: a [`BatchResult`] with a
    /// different number of entries is an error (never to be matched to the items), as is
    /// anything else than a batch result or a [`RunResult::Failure`].
    pub fn from_json(s: &str, items: usize) -> Result<BatchRunResult, serde_json::Error> {
        use serde::de::Error as _;
        if let Ok(RunResult::Failure(f)) = RunResult::from_json(s) {
            return Ok(BatchRunResult::Failure(f));
        }
        let result = BatchResult::from_json(s)?;
        if result.items.len() != items {
            return Err(serde_json::Error::custom(format!(
                "the batch result has {} entries for {items} items",
                result.items.len()
            )));
        }
        Ok(BatchRunResult::Items(result))
    }

    /// At most [`MAX_RESULT_BYTES`] ([`BatchResult::to_json`], [`RunResult::to_json`]).
    pub fn to_json(&self) -> String {
        match self {
            BatchRunResult::Items(r) => r.to_json(),
            BatchRunResult::Failure(f) => RunResult::Failure(f.clone()).to_json(),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            BatchRunResult::Items(_) => EXIT_OK,
            BatchRunResult::Failure(f) if f.transient => EXIT_TRANSIENT,
            BatchRunResult::Failure(_) => EXIT_PERMANENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Cli;
    use clap::Parser;

    fn item(i: usize) -> BatchItem {
        BatchItem {
            source: ObjectLocation {
                bucket: "uploads".into(),
                key: format!("originals/a b/ü{}.jpg", i / 2),
            },
            output: ObjectLocation {
                bucket: "thumbs".into(),
                key: format!("t/{i}.webp"),
            },
            width: Some(64 + i as u32),
            height: (i % 2 == 0).then_some(48),
            fit: if i % 3 == 0 { Fit::Cover } else { Fit::Inside },
            format: Format::Webp,
            quality: (i % 2 == 1).then_some(70),
        }
    }

    fn batch(n: usize) -> Batch {
        Batch {
            items: (0..n).map(item).collect(),
        }
    }

    /// The operator renders, the resizer parses: both sides agree, and the environment
    /// is the single run's (the same variables, the same values).
    #[test]
    fn command_line_round_trips() {
        let store = StoreConfig {
            endpoint: "http://s3:9000".into(),
            ..StoreConfig::default()
        };
        let limits = Limits {
            max_input_bytes: 1000,
            max_pixels: 2000,
        };
        let b = batch(MAX_BATCH);
        let (args, env) = b.to_command_line(&limits, &store);
        assert_eq!(args.len(), 1);
        assert!(args[0].starts_with("--batch=["), "{}", args[0]);
        let single = b.items[0].request(&limits).to_command_line(&store).1;
        assert_eq!(env, single);
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
        let parsed = Batch::parse(cli.batch.as_deref().unwrap()).unwrap();
        assert_eq!(parsed, b);
        assert_eq!(cli.limits, limits);
        assert_eq!(cli.store, store);
        for (i, item) in parsed.items.iter().enumerate() {
            let mut request = b.items[i].request(&limits);
            assert_eq!(item.request(&cli.limits), request);
            request.limits = Limits::default();
            assert_eq!(BatchItem::from(request), *item);
        }
    }

    #[test]
    fn batch_conflicts_with_the_single_request_flags() {
        let json = batch(1).to_json();
        for flag in [
            "--source-bucket=b",
            "--source-key=k",
            "--output-bucket=b",
            "--output-key=k",
            "--width=10",
            "--height=10",
            "--quality=10",
            "--fit=cover",
            "--format=png",
            "--input-file=a",
            "--output-file=b",
        ] {
            assert!(
                Cli::try_parse_from(["resizer", &format!("--batch={json}"), flag]).is_err(),
                "{flag}"
            );
        }
        // Alone it needs none of them.
        let cli = Cli::try_parse_from(["resizer", &format!("--batch={json}")]).unwrap();
        assert_eq!(cli.batch.as_deref(), Some(json.as_str()));
        // And a single request still needs its locations.
        assert!(Cli::try_parse_from(["resizer", "--width=10"]).is_err());
    }

    #[test]
    fn the_json_is_compact_and_strict() {
        let json =
            r#"[{"source":{"bucket":"a","key":"b"},"output":{"bucket":"c","key":"d"},"height":7}]"#;
        let b = Batch::parse(json).unwrap();
        assert_eq!(b.items[0].fit, Fit::Inside);
        assert_eq!(b.items[0].format, Format::Jpeg);
        assert_eq!((b.items[0].width, b.items[0].height), (None, Some(7)));
        assert_eq!(
            b.to_json(),
            json.replace(r#"7}"#, r#"7,"fit":"inside","format":"jpeg"}"#),
            "absent options are left out, fit and format always said"
        );
        let typo = json.replace("\"height\"", "\"hieght\"");
        let e = Batch::parse(&typo).unwrap_err();
        assert!(e.message.contains("hieght"), "{}", e.message);
    }

    #[test]
    fn invalid_batches_say_what_is_wrong() {
        let cases: Vec<(String, &str)> = vec![
            ("[]".into(), "1 to 32 items, this one has 0"),
            (batch(33).to_json(), "1 to 32 items, this one has 33"),
            ("{\"items\":[]}".into(), "a JSON array of items"),
            ("[{".into(), "a JSON array of items"),
            ("not json".into(), "a JSON array of items"),
            (
                r#"[{"source":{"bucket":"a","key":"b"},"output":{"bucket":"c","key":"d"},"width":-1}]"#
                    .into(),
                "a JSON array of items",
            ),
        ];
        for (json, expected) in cases {
            let e = Batch::parse(&json).unwrap_err();
            assert_eq!(e.reason, Reason::InvalidRequest);
            assert!(e.message.contains(expected), "{json}: {}", e.message);
        }
        let mut b = batch(3);
        b.items[1].width = None;
        b.items[1].height = None;
        let e = b.validate().unwrap_err();
        assert!(
            e.message
                .starts_with("batch item 1 (output s3://thumbs/t/1.webp): neither"),
            "{}",
            e.message
        );
        let mut b = batch(3);
        b.items[2].width = Some(MAX_DIMENSION + 1);
        assert!(b.validate().unwrap_err().message.contains("width 8193"));
        let mut b = batch(3);
        b.items[0].quality = Some(0);
        assert!(b.validate().unwrap_err().message.contains("quality 0"));
        let mut b = batch(3);
        b.items[0].source.key.clear();
        assert!(b.validate().unwrap_err().message.contains("source needs"));
        let mut b = batch(3);
        b.items[2].output = b.items[0].output.clone();
        assert!(b.validate().unwrap_err().message.contains("items 0 and 2"));
        let mut b = batch(MAX_BATCH);
        for item in &mut b.items {
            item.source.key = "\u{1}".repeat(1024);
        }
        assert!(b.validate().unwrap_err().message.contains("bytes, over"));
        assert!(batch(MAX_BATCH).validate().is_ok());
        assert!(batch(1).validate().is_ok());
    }

    fn success(v: u32, bytes: u64) -> BatchItemResult {
        BatchItemResult::Success(ItemSuccess {
            width: v,
            height: v,
            bytes,
            source_width: v,
            source_height: v,
        })
    }

    fn failure(reason: Reason, message: String) -> BatchItemResult {
        BatchItemResult::Failure(Failure::new(reason, message))
    }

    fn result(items: Vec<BatchItemResult>) -> BatchResult {
        BatchResult {
            downloads: items.len() as u32,
            items,
            timings: Timings::default(),
        }
    }

    #[test]
    fn results_round_trip() {
        let r = result(vec![
            success(10, 20),
            failure(Reason::CorruptImage, "bad".into()),
            failure(Reason::StoreUnavailable, "down".into()),
        ]);
        let json = r.to_json();
        assert!(json.starts_with(r#"{"items":[{"width":10,"height":10,"bytes":20,"sourceWidth":10,"sourceHeight":10},{"reason":"CorruptImage","message":"bad","transient":false},{"reason":"StoreUnavailable","message":"down","transient":true}],"downloads":3,"timings":{"#), "{json}");
        assert_eq!(BatchResult::from_json(&json).unwrap(), r);
        let run = BatchRunResult::Items(r.clone());
        assert_eq!(run.exit_code(), EXIT_OK, "failed items are in the entries");
        assert_eq!(BatchRunResult::from_json(&run.to_json(), 3).unwrap(), run);
        assert!(BatchRunResult::from_json(&json, 2)
            .unwrap_err()
            .to_string()
            .contains("3 entries for 2 items"));
        // The invalid batch's result is a single run's failure.
        let invalid = BatchRunResult::Failure(Failure::new(Reason::InvalidRequest, "no"));
        assert_eq!(invalid.exit_code(), EXIT_PERMANENT);
        assert_eq!(
            invalid.to_json(),
            RunResult::Failure(Failure::new(Reason::InvalidRequest, "no")).to_json()
        );
        assert_eq!(
            BatchRunResult::from_json(&invalid.to_json(), 5).unwrap(),
            invalid
        );
        // A single run's success is no batch result.
        assert!(BatchRunResult::from_json(r#"{"status":"success"}"#, 1).is_err());
    }

    /// The bound: 32 items with 2 KB messages (multi-byte characters and characters JSON
    /// escapes included) fit, parse, and are shortened evenly.
    #[test]
    fn a_full_batch_of_long_failures_fits_a_termination_message() {
        let message = |i: usize| format!("{i}: {}", "é\"\n\u{1}x".repeat(2048 / 7));
        let items = (0..MAX_BATCH)
            .map(|i| match i % 4 {
                0 => success(8192, 100_000_000),
                1 => failure(Reason::StoreUnavailable, message(i)),
                2 => failure(Reason::CorruptImage, "short".into()),
                _ => failure(Reason::InternalError, message(i)),
            })
            .collect();
        let r = result(items);
        let json = r.to_json();
        assert!(json.len() <= MAX_RESULT_BYTES, "{}", json.len());
        assert!(
            json.len() > MAX_RESULT_BYTES - 100,
            "the room is used: {}",
            json.len()
        );
        let back = BatchResult::from_json(&json).unwrap();
        assert_eq!(back.items.len(), MAX_BATCH);
        let mut cut = Vec::new();
        for (i, (a, b)) in r.items.iter().zip(&back.items).enumerate() {
            match (a, b) {
                (BatchItemResult::Success(a), BatchItemResult::Success(b)) => assert_eq!(a, b),
                (BatchItemResult::Failure(a), BatchItemResult::Failure(b)) => {
                    assert_eq!((&a.reason, a.transient), (&b.reason, b.transient));
                    if a.message == "short" {
                        assert_eq!(b.message, "short", "short messages stay whole");
                    } else {
                        assert!(b.message.ends_with('…'), "{}", b.message);
                        assert!(a.message.starts_with(b.message.trim_end_matches('…')));
                        assert!(b.message.starts_with(&format!("{i}: ")));
                        cut.push(json_len(&b.message));
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        // Evenly: every cut message ends up within one character of the others.
        let (min, max) = (cut.iter().min().unwrap(), cut.iter().max().unwrap());
        assert!(max - min <= 6, "{cut:?}");
        assert!(*min > 100, "each failure keeps a useful message: {cut:?}");
    }

    /// With messages cut to nothing, 32 entries fit even at the largest figures their
    /// types allow: the shortening always succeeds.
    #[test]
    fn the_largest_figures_fit() {
        let big = Timings {
            download_ms: u64::MAX,
            decode_ms: u64::MAX,
            resize_ms: u64::MAX,
            encode_ms: u64::MAX,
            upload_ms: u64::MAX,
        };
        let all_success = BatchResult {
            items: (0..MAX_BATCH)
                .map(|_| success(u32::MAX, u64::MAX))
                .collect(),
            downloads: u32::MAX,
            timings: big.clone(),
        };
        let json = all_success.to_json();
        assert!(json.len() <= MAX_RESULT_BYTES, "{}", json.len());
        assert_eq!(BatchResult::from_json(&json).unwrap(), all_success);
        let mixed = BatchResult {
            items: (0..MAX_BATCH)
                .map(|i| {
                    if i == 0 {
                        failure(Reason::InternalError, "x".repeat(5000))
                    } else {
                        success(u32::MAX, u64::MAX)
                    }
                })
                .collect(),
            downloads: u32::MAX,
            timings: big,
        };
        let json = mixed.to_json();
        assert!(json.len() <= MAX_RESULT_BYTES, "{}", json.len());
        assert!(BatchResult::from_json(&json).is_ok());
    }
}
