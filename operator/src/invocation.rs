//! The bridge between a Thumbnail and the resizer's contract: the command line and
//! environment of one run, and the meaning of its exit code and JSON result.
//! Both executors use this module; neither knows the contract's details. (The
//! resizer's own `run` module is the other side: it executes the invocation.)

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::naming::output_key;
use thumbnail_api::crd::{Thumbnail, ThumbnailOutput};

pub use thumbnail_api::contract::{EXIT_PERMANENT, EXIT_TRANSIENT};

/// Exit code of a container killed by SIGKILL (128 + 9): at the memory limit, the
/// kernel's OOM killer.
pub const EXIT_KILLED: i32 = 137;

/// How to run the resizer once: what a Job's container or a child process gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// Command-line arguments (the image's entrypoint is the resizer).
    pub args: Vec<String>,
    /// Plain environment variables.
    pub env: Vec<(String, String)>,
    /// Environment variables whose values are secret: a Job takes them from the
    /// credentials Secret, a local run from the operator's own environment.
    pub secret_env: Vec<String>,
    /// Memory limit of a Job's container (sized from the pixel and byte limits).
    pub memory_limit: String,
}

impl Invocation {
    /// The same invocation writing its result to `path` instead of the default
    /// /dev/termination-log (local runs).
    pub fn with_result_path(mut self, path: &Path) -> Self {
        self.env
            .retain(|(k, _)| k != thumbnail_api::contract::ENV_RESULT_PATH);
        self.env.push((
            thumbnail_api::contract::ENV_RESULT_PATH.into(),
            path.display().to_string(),
        ));
        self
    }
}

/// A finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RunOutcome {
    Succeeded(ThumbnailOutput),
    /// A batch run's result: one entry per item, in the order of the items (each
    /// member Thumbnail takes its own with [`member_outcome`]).
    Batch(Vec<thumbnail_api::contract::BatchItemResult>),
    /// `reason` is a stable CamelCase code (the resizer's, the platform's such as
    /// DeadlineExceeded, or the operator's such as OutOfMemory); `message` tells the
    /// user what to do.
    Failed {
        reason: String,
        message: String,
    },
}

/// The invocation that makes `thumb`'s current generation.
pub fn build(thumb: &Thumbnail, config: &Config) -> Result<Invocation> {
    let (args, env) = request(thumb, config)?.to_command_line(&config.store);
    Ok(invocation(args, env, config))
}

/// The invocation of one run that makes the current generation of each of `members`
/// (a batch: item i is members[i]).
pub fn build_batch(members: &[&Thumbnail], config: &Config) -> Result<Invocation> {
    let items = members
        .iter()
        .map(|t| request(t, config).map(thumbnail_api::contract::BatchItem::from))
        .collect::<Result<Vec<_>>>()?;
    let batch = thumbnail_api::contract::Batch { items };
    batch.validate().map_err(|f| Error::Invalid(f.message))?;
    let (args, env) = batch.to_command_line(&config.limits, &config.store);
    Ok(invocation(args, env, config))
}

/// glibc's malloc tunable for the resizer: its large blocks (libjpeg-turbo's coefficient
/// buffer of a progressive JPEG, 96 MiB for a 4096x4096 4:4:4 photo; decoded PNGs) are
/// mapped with transparent huge pages (madvise), so the kernel faults them in 2 MiB at a
/// time instead of 4 KiB. Measured (issue 13, `perf stat`): a 4096x4096 progressive JPEG
/// to 256 px took 169 ms of CPU, half of it in the kernel's page faults, and 84 ms with
/// it; peak RSS unchanged. Nothing changes where the node's THP mode is `never`, or on
/// a glibc before 2.35, which ignore it.
pub const RESIZER_GLIBC_TUNABLES: (&str, &str) = ("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1");

fn invocation(args: Vec<String>, mut env: Vec<(String, String)>, config: &Config) -> Invocation {
    let (name, value) = RESIZER_GLIBC_TUNABLES;
    env.push((name.into(), value.into()));
    Invocation {
        args,
        env,
        secret_env: thumbnail_api::store_config::SECRET_ENV
            .iter()
            .map(|s| s.to_string())
            .collect(),
        memory_limit: resizer_memory_limit(config),
    }
}

/// What the resizer is asked to do for `thumb`'s current generation.
fn request(thumb: &Thumbnail, config: &Config) -> Result<thumbnail_api::contract::Request> {
    let spec = &thumb.spec;
    let source_bucket = spec
        .source
        .s3
        .bucket
        .clone()
        .unwrap_or_else(|| config.bucket.clone());
    if source_bucket.is_empty() {
        return Err(Error::Invalid(
            "spec.source.s3.bucket is empty and the operator has no default bucket (--bucket)"
                .into(),
        ));
    }
    let request = thumbnail_api::contract::Request {
        source: thumbnail_api::contract::ObjectLocation {
            bucket: source_bucket,
            key: spec.source.s3.key.clone(),
        },
        output: output_location(thumb, config),
        width: spec.width,
        height: spec.height,
        fit: spec.fit,
        format: spec.format,
        quality: spec.quality,
        limits: config.limits.clone(),
    };
    Ok(request)
}

/// Where the run of `thumb`'s current generation stores its thumbnail: the only
/// location the operator ever reads a result from.
pub fn output_location(
    thumb: &Thumbnail,
    config: &Config,
) -> thumbnail_api::contract::ObjectLocation {
    thumbnail_api::contract::ObjectLocation {
        bucket: config.bucket.clone(),
        key: output_key(thumb, thumb.metadata.generation.unwrap_or(0)),
    }
}

/// Peak memory of the resizer, measured with `bench/memory.sh` (release build, at 25 and
/// 100 Mpx, every decoder; table and command in the README, "Resizer memory"). Decoding
/// takes at most 13 bytes per source pixel (a 16-bit RGBA PNG: the decoded image, its
/// 8-bit and premultiplied copies); encoding at most 25 bytes per output pixel (lossy
/// WebP of an RGBA image); the output has no more pixels than the source (the resizer
/// never enlarges) nor than MAX_DIMENSION x MAX_DIMENSION. The old limit, 2.5 bytes per
/// pixel, was below what one decoded RGBA pixel needs: such a run was OOM-killed, and
/// retried.
const DECODE_BYTES_PER_PIXEL: u64 = 13;
const ENCODE_BYTES_PER_PIXEL: u64 = 25;
/// The resizer without an image (runtime, S3 client, code), rounded up from the 10-16
/// MiB measured.
const RUNTIME_MIB: u64 = 64;

/// The resizer container's memory limit: the operator's --resizer-memory-limit, or the
/// one derived from the pixel and input limits.
pub fn resizer_memory_limit(config: &Config) -> String {
    if config.resizer_memory_limit.is_empty() {
        memory_limit(config.limits.max_pixels, config.limits.max_input_bytes)
    } else {
        config.resizer_memory_limit.clone()
    }
}

/// The container memory limit for the worst image the limits accept: the measured peak
/// of decoding or encoding, whichever is larger, plus a quarter for headroom, plus the
/// source bytes (held while decoding) and the runtime. A limit reserves nothing (the
/// request does), so it is sized for the worst case, not the usual one.
fn memory_limit(max_pixels: u64, max_input_bytes: u64) -> String {
    let side = u64::from(thumbnail_api::crd::MAX_DIMENSION);
    let output_pixels = max_pixels.min(side * side);
    let peak = (DECODE_BYTES_PER_PIXEL.saturating_mul(max_pixels))
        .max(ENCODE_BYTES_PER_PIXEL.saturating_mul(output_pixels));
    let bytes = (peak / 4).saturating_mul(5).saturating_add(max_input_bytes);
    format!("{}Mi", bytes.div_ceil(1 << 20) + RUNTIME_MIB)
}

/// Meaning of a finished resizer: its exit code and the JSON result it wrote.
/// `platform_reason` is what the platform says about the termination (e.g. OOMKilled).
pub fn outcome_from_exit(
    code: i32,
    result_json: &str,
    platform_reason: Option<&str>,
) -> RunOutcome {
    match thumbnail_api::contract::RunResult::from_json(result_json) {
        Ok(thumbnail_api::contract::RunResult::Success(s)) if code == 0 => {
            RunOutcome::Succeeded(ThumbnailOutput {
                bucket: s.output.bucket,
                key: s.output.key,
                width: s.width,
                height: s.height,
                format: s.format,
                content_type: s.content_type,
                bytes: s.bytes,
            })
        }
        Ok(thumbnail_api::contract::RunResult::Failure(f)) => RunOutcome::Failed {
            reason: f.reason,
            message: f.message,
        },
        _ if code == 0 && thumbnail_api::contract::BatchResult::from_json(result_json).is_ok() => {
            let batch = thumbnail_api::contract::BatchResult::from_json(result_json)
                .expect("parsed just above");
            RunOutcome::Batch(batch.items)
        }
        _ => {
            let reason =
                platform_reason.filter(|r| !r.is_empty() && *r != "Error" && *r != "Completed");
            if reason == Some("OOMKilled") || (reason.is_none() && code == EXIT_KILLED) {
                return RunOutcome::Failed {
                    reason: crate::status::reason::OUT_OF_MEMORY.into(),
                    message: "the resizer ran out of memory decoding this image (killed at its container's memory limit; not retried: every attempt needs the same memory). Ask the administrator to raise resizer.resources.limits.memory (operator flag --resizer-memory-limit), or to lower resizer.maxPixels so that such images are refused up front; or upload a smaller image".to_string(),
                };
            }
            let reason = reason
                .map(str::to_string)
                .unwrap_or_else(|| format!("ExitCode{code}"));
            let message = format!(
                "the resizer exited with code {code} without a readable result; see its logs"
            );
            RunOutcome::Failed { reason, message }
        }
    }
}

/// `outcome`, if it is a success, only at `expected` (the location the run was told to
/// write to): a result naming any other object is a failure and its object is not
/// recorded. The operator never lets a run choose what a Thumbnail points at (issue 12:
/// a resizer, or whoever forged its result, could otherwise point the download at any
/// object the shim can read).
pub fn expect_output(
    outcome: RunOutcome,
    expected: &thumbnail_api::contract::ObjectLocation,
) -> RunOutcome {
    match outcome {
        RunOutcome::Succeeded(o) if o.bucket != expected.bucket || o.key != expected.key => {
            RunOutcome::Failed {
                reason: crate::status::reason::UNEXPECTED_OUTPUT.into(),
                message: format!(
                    "the resizer reported its thumbnail at s3://{}/{}, not at s3://{}/{} where it was told to store it; the result was not recorded (is the resizer image the one this operator version expects?)",
                    o.bucket, o.key, expected.bucket, expected.key
                ),
            }
        }
        other => other,
    }
}

/// What a batch's result means for its member at `item`.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberOutcome {
    Succeeded(ThumbnailOutput),
    Failed {
        reason: String,
        message: String,
    },
    /// Its item failed for a reason that may pass, or the whole run failed without
    /// results (killed at its memory limit, its deadline, its Pod lost): it runs again
    /// on its own, where a failure is its own and a single run's retries apply.
    Requeue {
        message: String,
    },
}

/// Member `item` of the batch run `run`, which stores its thumbnail (of `format`) at
/// `expected`: its entry of the batch's result. The location is the one the operator
/// recorded, never one the run reports (a batch result names none).
pub fn member_outcome(
    outcome: RunOutcome,
    run: &str,
    item: u32,
    expected: &thumbnail_api::contract::ObjectLocation,
    format: thumbnail_api::contract::Format,
) -> MemberOutcome {
    use thumbnail_api::contract::BatchItemResult;
    match outcome {
        RunOutcome::Batch(items) => match items.into_iter().nth(item as usize) {
            Some(BatchItemResult::Success(s)) => MemberOutcome::Succeeded(ThumbnailOutput {
                bucket: expected.bucket.clone(),
                key: expected.key.clone(),
                width: s.width,
                height: s.height,
                format,
                content_type: format.content_type().to_string(),
                bytes: s.bytes,
            }),
            Some(BatchItemResult::Failure(f)) if f.transient => MemberOutcome::Requeue {
                message: format!(
                    "its item of resizer {run} failed for a reason that may pass ({}: {}); it runs again on its own",
                    f.reason, f.message
                ),
            },
            Some(BatchItemResult::Failure(f)) => MemberOutcome::Failed {
                reason: f.reason,
                message: f.message,
            },
            None => MemberOutcome::Failed {
                reason: crate::status::reason::UNEXPECTED_OUTPUT.into(),
                message: format!(
                    "resizer {run} reported no result for item {item}; is the resizer image the one this operator version expects?"
                ),
            },
        },
        RunOutcome::Failed { reason, message } => MemberOutcome::Requeue {
            message: format!(
                "resizer {run}, a batch that included this Thumbnail, failed without results ({reason}: {message}); it runs again on its own"
            ),
        },
        RunOutcome::Succeeded(_) => MemberOutcome::Failed {
            reason: crate::status::reason::UNEXPECTED_OUTPUT.into(),
            message: format!(
                "resizer {run} was a batch but reported a single result; the result was not recorded (is the resizer image the one this operator version expects?)"
            ),
        },
    }
}

/// Outcome of a run that left no resizer result (killed by its deadline, never started).
pub fn outcome_without_result(reason: &str, message: &str, succeeded: bool) -> RunOutcome {
    let reason = if reason.is_empty() {
        if succeeded {
            "NoResult"
        } else {
            "RunFailed"
        }
    } else {
        reason
    };
    let message = if message.is_empty() {
        "the resizer left no result; see the Job's events and pod logs".to_string()
    } else {
        message.to_string()
    };
    RunOutcome::Failed {
        reason: reason.into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12: the limit covers what `bench/memory.sh` measured at the pixel limit
    /// (worst decoder and output per row, MiB of peak RSS), with a quarter to spare.
    #[test]
    fn the_memory_limit_covers_the_measured_peaks() {
        let mib = |s: String| s.trim_end_matches("Mi").parse::<u64>().unwrap();
        for (pixels, measured_mib) in [(100_000_000, 1573), (25_000_000, 599)] {
            let limit = mib(memory_limit(pixels, 64 << 20));
            assert!(
                limit * 4 >= measured_mib * 5,
                "{pixels} px: {limit} MiB for a measured peak of {measured_mib} MiB"
            );
        }
        // The chart's defaults (100 Mpx, 64 MiB): about 2 GiB.
        assert_eq!(memory_limit(100_000_000, 64 << 20), "2128Mi");
        // It follows the pixel limit down: a lower limit is the way to smaller Pods.
        assert_eq!(memory_limit(1_000_000, 64 << 20), "158Mi");
    }
}

/// Results as a resizer would write them, for tests of the result handling.
#[cfg(test)]
pub mod tests_support {
    use thumbnail_api::contract::{Failure, Format, ObjectLocation, RunResult, Success, Timings};

    pub fn success_json(bucket: &str, key: &str, width: u32, height: u32, bytes: u64) -> String {
        RunResult::Success(Success {
            output: ObjectLocation {
                bucket: bucket.into(),
                key: key.into(),
            },
            width,
            height,
            bytes,
            format: Format::Webp,
            content_type: "image/webp".into(),
            source_width: width * 4,
            source_height: height * 4,
            timings: Timings::default(),
        })
        .to_json()
    }

    pub fn failure_json(reason: &str, message: &str) -> String {
        RunResult::Failure(Failure {
            reason: reason.into(),
            message: message.into(),
            transient: false,
        })
        .to_json()
    }
}
