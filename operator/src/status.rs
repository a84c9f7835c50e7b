//! The status the controller writes, as pure functions of the resource and what was
//! observed. Every write sends the whole status with server-side apply, so a field the
//! controller no longer sets (say `output` after a spec edit) is removed, and fields
//! are never half-updated.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use thumbnail_api::crd::{OutputLocation, Phase, Thumbnail, ThumbnailOutput, ThumbnailStatus};
use thumbnail_api::crd::{CONDITION_CLEANUP, CONDITION_READY};
use thumbnail_api::links::links;

/// Reasons used by the controller itself (the resizer adds its own, e.g. NotAnImage).
pub mod reason {
    pub const QUEUED: &str = "Queued";
    /// Back in the queue after its batch could not make its thumbnail (a transient
    /// failure of its item, or the batch's run failed without results): it runs again
    /// on its own, so a failure that follows is its own.
    pub const REQUEUED: &str = "Requeued";
    pub const JOB_RUNNING: &str = "JobRunning";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const JOB_LOST: &str = "JobLost";
    /// An attempt failed for a reason that may pass; the Job runs another.
    pub const RETRYING: &str = "Retrying";
    /// Cleanup waits: the object store did not answer (transient; the CleanupBlocked
    /// condition's reason).
    pub const STORE_UNAVAILABLE: &str = "StoreUnavailable";
    /// A deleted Thumbnail's object could not be deleted for good (the store refused,
    /// e.g. AccessDenied): a Warning Event names it; deletion went on.
    pub const OBJECT_LEFT_BEHIND: &str = "ObjectLeftBehind";
    /// The source is outside what the Thumbnail's namespace may read (the operator's
    /// source policy): nothing was run or read.
    pub const SOURCE_NOT_ALLOWED: &str = "SourceNotAllowed";
    /// The API server refused the run's Job (e.g. an invalid field): retrying the same
    /// request cannot succeed, so the Thumbnail fails and frees its queue place.
    pub const LAUNCH_REJECTED: &str = "LaunchRejected";
    /// The resizer was killed at its memory limit (OOMKilled, exit 137): permanent,
    /// the same image needs the same memory again.
    pub const OUT_OF_MEMORY: &str = "OutOfMemory";
    /// The run reported a result at another location than the one it was given.
    pub const UNEXPECTED_OUTPUT: &str = "UnexpectedOutput";
}

/// What the controller learned in one reconcile, to be written as status.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// Waiting for a free resizer slot: `position` in the queue (1 = next).
    Queued {
        position: usize,
        running: usize,
        cap: usize,
    },
    /// The run for the current generation was just started; it stores its thumbnail
    /// at `output` (recorded as status.runOutput, so that exactly that object is
    /// deleted later, whatever the spec says by then).
    Started {
        run_name: String,
        output: OutputLocation,
        /// Its item in a batch run (status.runItem); None for a run of its own.
        item: Option<u32>,
    },
    /// Its batch did not make its thumbnail for a reason that may pass: back in the
    /// queue, to run on its own (reason Requeued).
    Requeued { message: String },
    /// The run for the current generation is running.
    Processing { run_name: String },
    /// The run was started but makes no progress yet: stuck on something the user must
    /// fix, or retrying a failed attempt (it stays Processing meanwhile).
    Blocked {
        run_name: String,
        reason: String,
        message: String,
    },
    /// The run finished and stored the thumbnail.
    Succeeded {
        run_name: String,
        output: ThumbnailOutput,
    },
    /// The run failed for good: `reason` is a stable CamelCase code.
    Failed {
        run_name: Option<String>,
        reason: String,
        message: String,
    },
}

/// The full status for `thumb` after `transition`, keeping what must survive
/// (start time of the same run, condition transition times).
pub fn next(
    thumb: &Thumbnail,
    transition: &Transition,
    base_url: &str,
    now: Timestamp,
) -> ThumbnailStatus {
    let old = thumb.status.clone().unwrap_or_default();
    let generation = thumb.metadata.generation.unwrap_or(0);
    let name = thumb.metadata.name.as_deref().unwrap_or_default();
    let same_run = |run: &str| {
        old.job_name.as_deref() == Some(run) && old.observed_generation == Some(generation)
    };

    let (phase, run_name, reason, message, output) = match transition {
        Transition::Queued { position, running, cap } => (
            Phase::Pending,
            None,
            reason::QUEUED,
            format!("waiting for a resizer slot: {running} of {cap} running, this one was number {position} in the queue when it started to wait"),
            None,
        ),
        Transition::Requeued { message } => (
            Phase::Pending,
            None,
            reason::REQUEUED,
            message.clone(),
            None,
        ),
        Transition::Processing { run_name } | Transition::Started { run_name, .. } => (
            Phase::Processing,
            Some(run_name.clone()),
            reason::JOB_RUNNING,
            format!("resizer {run_name} is running"),
            None,
        ),
        Transition::Blocked { run_name, reason, message } => (
            Phase::Processing,
            Some(run_name.clone()),
            reason.as_str(),
            message.clone(),
            None,
        ),
        Transition::Succeeded { run_name, output } => (
            Phase::Succeeded,
            Some(run_name.clone()),
            reason::SUCCEEDED,
            format!(
                "stored {}x{} {} ({} bytes) at s3://{}/{}",
                output.width,
                output.height,
                output.content_type,
                output.bytes,
                output.bucket,
                output.key
            ),
            Some(output.clone()),
        ),
        Transition::Failed { run_name, reason, message } => {
            (Phase::Failed, run_name.clone(), reason.as_str(), message.clone(), None)
        }
    };

    // Recorded at the run's start, kept for as long as status names that run.
    let run_output = match (transition, &run_name) {
        (Transition::Started { output, .. }, _) => Some(output.clone()),
        (_, Some(run)) if same_run(run) => old.run_output.clone(),
        _ => None,
    };
    let run_item = match (transition, &run_name) {
        (Transition::Started { item, .. }, _) => *item,
        (_, Some(run)) if same_run(run) => old.run_item,
        _ => None,
    };
    let start_time = match (&run_name, phase) {
        (Some(run), _) if same_run(run) && old.start_time.is_some() => old.start_time.clone(),
        (Some(_), _) => Some(Time(now)),
        (None, _) => None,
    };
    let completion_time = if phase.is_terminal() {
        match &run_name {
            Some(run)
                if same_run(run) && old.phase == Some(phase) && old.completion_time.is_some() =>
            {
                old.completion_time.clone()
            }
            _ => Some(Time(now)),
        }
    } else {
        None
    };

    let ready = condition(
        &old.conditions,
        CONDITION_READY,
        phase == Phase::Succeeded,
        reason,
        &message,
        generation,
        now,
    );
    // Other condition types (e.g. CleanupBlocked) are kept as they are.
    let mut conditions: Vec<Condition> = old
        .conditions
        .into_iter()
        .filter(|c| c.type_ != CONDITION_READY)
        .collect();
    conditions.insert(0, ready);

    ThumbnailStatus {
        phase: Some(phase),
        conditions,
        observed_generation: Some(generation),
        job_name: run_name,
        start_time,
        completion_time,
        links: links(base_url, name, phase, thumb.spec.format),
        output,
        run_output,
        run_item,
        reason: Some(reason.to_string()),
        message: Some(message),
    }
}

/// The status with the CleanupBlocked condition set (deletion is waiting for the store)
/// or removed (`blocked_by` None).
pub fn with_cleanup(
    thumb: &Thumbnail,
    blocked_by: Option<&str>,
    now: Timestamp,
) -> ThumbnailStatus {
    let mut status = thumb.status.clone().unwrap_or_default();
    let generation = thumb.metadata.generation.unwrap_or(0);
    let others = status
        .conditions
        .iter()
        .filter(|c| c.type_ != CONDITION_CLEANUP)
        .cloned();
    let mut conditions: Vec<Condition> = others.collect();
    if let Some(message) = blocked_by {
        conditions.push(condition(
            &status.conditions,
            CONDITION_CLEANUP,
            true,
            reason::STORE_UNAVAILABLE,
            message,
            generation,
            now,
        ));
    }
    status.conditions = conditions;
    status
}

/// A condition of `type_`, keeping the old lastTransitionTime while status is unchanged
/// (Kubernetes API conventions: the time says when status last flipped).
fn condition(
    old: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: i64,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let last_transition_time = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.into(),
        status,
        reason: reason.into(),
        message: message.into(),
        observed_generation: Some(generation),
        last_transition_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thumbnail_api::crd::{Format, ThumbnailSpec};

    fn thumb(generation: i64) -> Thumbnail {
        let spec: ThumbnailSpec = serde_json::from_value(
            serde_json::json!({"source": {"s3": {"key": "a.jpg"}}, "width": 10, "format": "webp"}),
        )
        .unwrap();
        let mut t = Thumbnail::new("cat", spec);
        t.metadata.generation = Some(generation);
        t
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn output() -> ThumbnailOutput {
        ThumbnailOutput {
            bucket: "b".into(),
            key: "k.webp".into(),
            width: 10,
            height: 7,
            format: Format::Webp,
            content_type: "image/webp".into(),
            bytes: 99,
        }
    }

    #[test]
    fn queued_then_processing_then_succeeded() {
        let mut t = thumb(1);
        let q = next(
            &t,
            &Transition::Queued {
                position: 2,
                running: 4,
                cap: 4,
            },
            "http://x",
            at(0),
        );
        assert_eq!(q.phase, Some(Phase::Pending));
        assert_eq!(q.reason.as_deref(), Some("Queued"));
        assert!(q.message.as_deref().unwrap().contains("4 of 4 running"));
        assert_eq!(q.start_time, None);
        assert_eq!(q.conditions[0].status, "False");
        t.status = Some(q);

        let p = next(
            &t,
            &Transition::Processing {
                run_name: "cat-g1-x".into(),
            },
            "http://x",
            at(5),
        );
        assert_eq!(p.phase, Some(Phase::Processing));
        assert_eq!(p.job_name.as_deref(), Some("cat-g1-x"));
        assert_eq!(p.start_time, Some(Time(at(5))));
        // Ready stayed False: its transition time is kept.
        assert_eq!(p.conditions[0].last_transition_time, Time(at(0)));
        t.status = Some(p);

        // A repeated observation of the same run keeps its start time.
        let again = next(
            &t,
            &Transition::Processing {
                run_name: "cat-g1-x".into(),
            },
            "http://x",
            at(9),
        );
        assert_eq!(again.start_time, Some(Time(at(5))));

        let s = next(
            &t,
            &Transition::Succeeded {
                run_name: "cat-g1-x".into(),
                output: output(),
            },
            "http://x",
            at(12),
        );
        assert_eq!(s.phase, Some(Phase::Succeeded));
        assert_eq!(s.completion_time, Some(Time(at(12))));
        assert_eq!(s.start_time, Some(Time(at(5))));
        assert_eq!(s.conditions[0].status, "True");
        assert_eq!(s.conditions[0].last_transition_time, Time(at(12)));
        assert_eq!(s.output, Some(output()));
        let rels: Vec<_> = s.links.iter().map(|l| l.rel.as_str()).collect();
        assert_eq!(rels, ["self", "download", "delete"]);
        assert!(s.message.unwrap().contains("10x7 image/webp"));
    }

    #[test]
    fn a_new_generation_drops_the_old_output_and_restarts_the_clock() {
        let mut t = thumb(1);
        t.status = Some(next(
            &t,
            &Transition::Succeeded {
                run_name: "cat-g1-x".into(),
                output: output(),
            },
            "",
            at(1),
        ));
        t.metadata.generation = Some(2);
        let p = next(
            &t,
            &Transition::Processing {
                run_name: "cat-g2-y".into(),
            },
            "",
            at(30),
        );
        assert_eq!(p.output, None);
        assert_eq!(p.completion_time, None);
        assert_eq!(p.start_time, Some(Time(at(30))));
        assert_eq!(p.observed_generation, Some(2));
        assert_eq!(p.conditions[0].status, "False");
        assert_eq!(p.conditions[0].observed_generation, Some(2));
    }

    #[test]
    fn the_runs_output_location_is_kept_while_status_names_the_run() {
        let mut t = thumb(1);
        let at_start = OutputLocation {
            bucket: "b".into(),
            key: "thumbnails/ns/cat/0b8f-g1.jpg".into(),
        };
        let started = next(
            &t,
            &Transition::Started {
                run_name: "cat-g1-x".into(),
                output: at_start.clone(),
                item: None,
            },
            "",
            at(0),
        );
        assert_eq!(started.phase, Some(Phase::Processing));
        assert_eq!(started.run_output.as_ref(), Some(&at_start));
        t.status = Some(started);
        for transition in [
            Transition::Processing {
                run_name: "cat-g1-x".into(),
            },
            Transition::Succeeded {
                run_name: "cat-g1-x".into(),
                output: output(),
            },
        ] {
            let s = next(&t, &transition, "", at(1));
            assert_eq!(s.run_output.as_ref(), Some(&at_start), "{transition:?}");
        }
        // A new generation's status no longer names the run, nor its output.
        t.metadata.generation = Some(2);
        let queued = next(
            &t,
            &Transition::Queued {
                position: 1,
                running: 1,
                cap: 1,
            },
            "",
            at(2),
        );
        assert_eq!(queued.run_output, None);
    }

    #[test]
    fn failure_keeps_the_resizers_reason_and_message() {
        let t = thumb(1);
        let f = next(
            &t,
            &Transition::Failed {
                run_name: Some("cat-g1-x".into()),
                reason: "NotAnImage".into(),
                message: "the source is not an image".into(),
            },
            "",
            at(3),
        );
        assert_eq!(f.phase, Some(Phase::Failed));
        assert_eq!(f.reason.as_deref(), Some("NotAnImage"));
        assert_eq!(f.conditions[0].reason, "NotAnImage");
        assert_eq!(f.completion_time, Some(Time(at(3))));
        assert!(f.links.iter().all(|l| l.rel != "download"));
    }

    #[test]
    fn cleanup_condition_is_added_and_removed_without_touching_ready() {
        let mut t = thumb(1);
        t.status = Some(next(
            &t,
            &Transition::Processing {
                run_name: "r".into(),
            },
            "",
            at(0),
        ));
        let blocked = with_cleanup(&t, Some("store down"), at(1));
        let types: Vec<_> = blocked
            .conditions
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, ["Ready", "CleanupBlocked"]);
        t.status = Some(blocked);
        // The Ready transition keeps CleanupBlocked.
        let p = next(
            &t,
            &Transition::Processing {
                run_name: "r".into(),
            },
            "",
            at(2),
        );
        assert_eq!(p.conditions.len(), 2);
        t.status = Some(p);
        let cleared = with_cleanup(&t, None, at(3));
        assert_eq!(cleared.conditions.len(), 1);
    }
}
