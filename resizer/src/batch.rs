//! A batched run (`--batch=<JSON>`, the contract's [`crate::contract::batch`]): several
//! thumbnails in one process, one after another (a run has one core), with one result
//! entry per item.
//!
//! Items are taken source by source (in the order each source first appears): each
//! distinct source object is downloaded once and decoded once, at the scale its largest
//! thumbnail needs ([`pipeline::decode`]); the decoded image is then resized, encoded and
//! uploaded for each of its items, and dropped before the next source is downloaded, so
//! the peak memory stays that of one source (the Job's memory limit, derived from the
//! pixel limit, still holds).
//!
//! An item's failure is in its entry only: a source that cannot be read or decoded fails
//! the items of that source, an upload or a thumbnail that fails (a panic included,
//! caught per item) fails that item. Once the store has failed transiently (unreachable,
//! 5xx), the items not yet done are not attempted: they are reported transient with
//! that failure's message, so that an outage costs one timeout, not one per item; the
//! operator retries them in a later run.

use std::time::Instant;

use crate::contract::{
    Batch, BatchItemResult, BatchResult, BatchRunResult, Cli, ItemSuccess, Request, Timings,
};
use crate::error::Failed;
use crate::pipeline::{self, Thumbnail};
use crate::run;

/// Runs the batch given as the value of `--batch`: an invalid batch is the one
/// whole-run failure; anything else gives one entry per item.
pub fn run(cli: &Cli, json: &str) -> BatchRunResult {
    let batch = match Batch::parse(json) {
        Ok(batch) => batch,
        Err(failed) => return BatchRunResult::Failure(failed.into_failure()),
    };
    let requests: Vec<Request> = batch
        .items
        .iter()
        .map(|item| item.request(&cli.limits))
        .collect();
    let mut done = Outcomes::new(requests.len());
    match run::runtime() {
        Ok(rt) => rt.block_on(run_s3(cli, &requests, &mut done)),
        Err(failed) => done.fail_rest(&failed),
    }
    BatchRunResult::Items(done.into_result())
}

/// The items' outcomes as they come, and the run's counters.
struct Outcomes {
    items: Vec<Option<BatchItemResult>>,
    downloads: u32,
    timings: Timings,
}

impl Outcomes {
    fn new(n: usize) -> Outcomes {
        Outcomes {
            items: vec![None; n],
            downloads: 0,
            timings: Timings::default(),
        }
    }

    fn fail(&mut self, item: usize, failed: &Failed) {
        self.items[item] = Some(BatchItemResult::Failure(failed.clone().into_failure()));
    }

    /// Every item without an outcome yet fails with `failed`.
    fn fail_rest(&mut self, failed: &Failed) {
        for item in self.items.iter_mut().filter(|i| i.is_none()) {
            *item = Some(BatchItemResult::Failure(failed.clone().into_failure()));
        }
    }

    fn succeed(&mut self, item: usize, t: &Thumbnail) {
        self.items[item] = Some(BatchItemResult::Success(ItemSuccess {
            width: t.width,
            height: t.height,
            bytes: t.bytes.len() as u64,
            source_width: t.source_width,
            source_height: t.source_height,
        }));
    }

    fn into_result(self) -> BatchResult {
        BatchResult {
            items: self
                .items
                .into_iter()
                .map(|i| i.expect("every item has an outcome"))
                .collect(),
            downloads: self.downloads,
            timings: self.timings,
        }
    }
}

/// The items' indices grouped by source object, groups in the order their source first
/// appears, items in their order within a group.
fn by_source(requests: &[Request]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|g| requests[g[0]].source == r.source)
        {
            Some(group) => group.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
}

/// What is reported for the items left when the store failed transiently.
fn not_attempted(outage: &Failed) -> Failed {
    Failed::new(
        outage.reason,
        format!(
            "not attempted, the store failed earlier in this batch: {}",
            outage.message
        ),
    )
}

async fn run_s3(cli: &Cli, requests: &[Request], done: &mut Outcomes) {
    let client = match run::client(cli).await {
        Ok(client) => client,
        Err(failed) => return done.fail_rest(&failed),
    };
    let max_input_bytes = cli.limits.max_input_bytes;
    for group in by_source(requests) {
        let t = Instant::now();
        done.downloads += 1;
        let source = match run::download(&client, &requests[group[0]].source, max_input_bytes).await
        {
            Ok(source) => source,
            Err(failed) => {
                for &i in &group {
                    done.fail(i, &failed);
                }
                if failed.reason.is_transient() {
                    return done.fail_rest(&not_attempted(&failed));
                }
                continue;
            }
        };
        done.timings.download_ms += run::ms(t);
        let group_requests: Vec<&Request> = group.iter().map(|&i| &requests[i]).collect();
        let decoded = run::catch_panic(|| pipeline::decode(&source, &group_requests));
        drop(source);
        let mut decoded = match decoded {
            Ok(decoded) => Some(decoded),
            Err(failed) => {
                for &i in &group {
                    done.fail(i, &failed);
                }
                continue;
            }
        };
        done.timings.decode_ms += decoded.as_ref().map_or(0, |d| d.decode_ms);
        for (n, &i) in group.iter().enumerate() {
            let request = &requests[i];
            let thumb = if n + 1 == group.len() {
                // The last thumbnail of this source frees the decoded image.
                let last = decoded.take().expect("decoded until the last item");
                run::catch_panic(move || pipeline::render_last(last, request))
            } else {
                let shared = decoded.as_ref().expect("decoded until the last item");
                run::catch_panic(|| pipeline::render(shared, request))
            };
            let thumb = match thumb {
                Ok(thumb) => thumb,
                Err(failed) => {
                    done.fail(i, &failed);
                    continue;
                }
            };
            done.timings.resize_ms += thumb.resize_ms;
            done.timings.encode_ms += thumb.encode_ms;
            let t = Instant::now();
            let uploaded = run::upload(&client, request, &thumb).await;
            done.timings.upload_ms += run::ms(t);
            match uploaded {
                Ok(()) => done.succeed(i, &thumb),
                Err(failed) => {
                    done.fail(i, &failed);
                    if failed.reason.is_transient() {
                        return done.fail_rest(&not_attempted(&failed));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Fit, Format, Limits, ObjectLocation, Reason};

    fn request(source: &str, output: &str) -> Request {
        Request {
            source: ObjectLocation {
                bucket: "b".into(),
                key: source.into(),
            },
            output: ObjectLocation {
                bucket: "b".into(),
                key: output.into(),
            },
            width: Some(10),
            height: None,
            fit: Fit::Inside,
            format: Format::Png,
            quality: None,
            limits: Limits::default(),
        }
    }

    #[test]
    fn items_are_grouped_by_source_in_order_of_first_appearance() {
        let requests = [
            request("a", "1"),
            request("b", "2"),
            request("a", "3"),
            request("c", "4"),
            request("b", "5"),
        ];
        assert_eq!(by_source(&requests), vec![vec![0, 2], vec![1, 4], vec![3]]);
        // Same key in another bucket is another source.
        let mut other = request("a", "6");
        other.source.bucket = "c".into();
        assert_eq!(
            by_source(&[request("a", "1"), other]),
            vec![vec![0], vec![1]]
        );
    }

    #[test]
    fn an_outage_fails_the_items_left_as_transient() {
        let mut done = Outcomes::new(3);
        done.succeed(
            0,
            &Thumbnail {
                bytes: vec![1, 2, 3],
                width: 1,
                height: 2,
                format: Format::Png,
                source_width: 3,
                source_height: 4,
                decode_ms: 0,
                resize_ms: 0,
                encode_ms: 0,
            },
        );
        let outage = Failed::new(Reason::StoreUnavailable, "writing s3://b/k: refused");
        done.fail(1, &outage);
        done.fail_rest(&not_attempted(&outage));
        let result = done.into_result();
        match &result.items[..] {
            [BatchItemResult::Success(s), BatchItemResult::Failure(a), BatchItemResult::Failure(b)] =>
            {
                assert_eq!((s.width, s.height, s.bytes), (1, 2, 3));
                assert_eq!(a.message, "writing s3://b/k: refused");
                assert!(a.transient && b.transient);
                assert!(b.message.starts_with("not attempted"), "{}", b.message);
                assert!(b.message.ends_with("refused"), "{}", b.message);
            }
            other => panic!("{other:?}"),
        }
    }
}
