//! Batched runs (`--batch`) of the real `resizer` binary against the real S3 server
//! (SeaweedFS, started by hack/test.sh), on real photos from the corpus.

#[path = "common/binary.rs"]
mod binary;

use image::GenericImageView;
use resizer::contract::{
    Batch, BatchItem, BatchItemResult, BatchResult, BatchRunResult, Fit, Format, ItemSuccess,
    ObjectLocation, RunResult, EXIT_OK, EXIT_PERMANENT, MAX_BATCH,
};
use thumbnail_testkit::{corpus, S3Env};

/// A bucket of its own on the test server, removed at the end of the test.
struct Bucket {
    env: S3Env,
    name: String,
    rt: tokio::runtime::Runtime,
}

impl Bucket {
    fn new(test: &str) -> Bucket {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let env = S3Env::from_env();
        let name = rt.block_on(env.new_bucket(&format!("rzb-{test}")));
        Bucket { env, name, rt }
    }

    fn put(&self, key: &str, bytes: Vec<u8>) {
        self.rt.block_on(self.env.put(&self.name, key, bytes));
    }

    fn get(&self, key: &str) -> Vec<u8> {
        self.rt.block_on(self.env.get(&self.name, key))
    }

    fn list(&self, prefix: &str) -> Vec<String> {
        self.rt.block_on(self.env.list(&self.name, prefix))
    }

    fn loc(&self, key: &str) -> ObjectLocation {
        ObjectLocation {
            bucket: self.name.clone(),
            key: key.into(),
        }
    }

    fn item(&self, source: &str, output: &str, width: u32, height: Option<u32>) -> BatchItem {
        BatchItem {
            source: self.loc(source),
            output: self.loc(output),
            width: Some(width),
            height,
            fit: Fit::Inside,
            format: Format::Jpeg,
            quality: None,
        }
    }

    /// Runs the resizer with `--batch=<json>` against `endpoint`; checks what every run
    /// must do (a result that fits a termination message, repeated on stdout, no panic)
    /// and returns the exit code and the result read for `items` items.
    fn run(&self, endpoint: &str, json: &str, items: usize) -> (i32, BatchRunResult) {
        let (code, json) = binary::run(
            &[format!("--batch={json}")],
            endpoint,
            &self.env,
            &format!("resizer-batch-test-{}", self.name),
            "result",
        );
        let result = BatchRunResult::from_json(&json, items)
            .unwrap_or_else(|e| panic!("unreadable result {json}: {e}"));
        assert_eq!(
            code,
            result.exit_code(),
            "exit code and result agree: {json}"
        );
        (code, result)
    }

    fn run_batch(&self, batch: &Batch) -> BatchResult {
        match self.run(&self.env.endpoint, &batch.to_json(), batch.items.len()) {
            (EXIT_OK, BatchRunResult::Items(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    /// The decoded thumbnail at `key`, checked against what the result says of it.
    fn thumbnail(&self, key: &str, s: &ItemSuccess) -> image::DynamicImage {
        let bytes = self.get(key);
        assert_eq!(bytes.len() as u64, s.bytes, "{key}");
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (s.width, s.height), "{key}");
        img
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        let (client, name) = (&self.env.client, &self.name);
        self.rt.block_on(async {
            if let Ok(listed) = client.list_objects_v2().bucket(name).send().await {
                for object in listed.contents() {
                    if let Some(key) = object.key() {
                        let _ = client.delete_object().bucket(name).key(key).send().await;
                    }
                }
            }
            let _ = client.delete_bucket().bucket(name).send().await;
        });
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("resizer-batch-test-{}", self.name)),
        );
    }
}

fn success(r: &BatchItemResult) -> &ItemSuccess {
    match r {
        BatchItemResult::Success(s) => s,
        other => panic!("expected a success: {other:?}"),
    }
}

fn failure(r: &BatchItemResult) -> (&str, bool, &str) {
    match r {
        BatchItemResult::Failure(f) => (f.reason.as_str(), f.transient, f.message.as_str()),
        other => panic!("expected a failure: {other:?}"),
    }
}

/// Mean absolute difference per channel of two same-sized images, as RGB.
fn mean_abs_diff(a: &image::DynamicImage, b: &image::DynamicImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn one_items_failure_fails_only_that_item_and_a_shared_source_is_downloaded_once() {
    let b = Bucket::new("mixed");
    let photo = corpus("j09_storm_1920x1280.jpg");
    b.put("photo.jpg", photo.clone());
    b.put("corrupt.jpg", photo[..photo.len() * 3 / 10].to_vec());
    b.put("portrait.jpg", corpus("d02_path_2560x1600_orient6.jpg"));
    let mut refused = b.item("photo.jpg", "t/refused.jpg", 32, None);
    refused.output.bucket = format!("{}-missing", b.name);
    let mut small = b.item("photo.jpg", "t/photo-64.webp", 64, Some(64));
    small.fit = Fit::Cover;
    small.format = Format::Webp;
    let batch = Batch {
        items: vec![
            b.item("photo.jpg", "t/photo-256.jpg", 256, Some(256)),
            b.item("corrupt.jpg", "t/corrupt.jpg", 64, None),
            b.item("missing.jpg", "t/missing.jpg", 64, None),
            small,
            b.item("portrait.jpg", "t/portrait.jpg", 100, None),
            refused,
        ],
    };
    let r = b.run_batch(&batch);
    // photo.jpg (three items), corrupt.jpg, missing.jpg, portrait.jpg: one download each.
    assert_eq!(r.downloads, 4, "{r:?}");

    let big = success(&r.items[0]);
    assert_eq!((big.width, big.height), (256, 171));
    assert_eq!((big.source_width, big.source_height), (1920, 1280));
    b.thumbnail("t/photo-256.jpg", big);
    let small = success(&r.items[3]);
    assert_eq!((small.width, small.height), (64, 64));
    let small_img = b.thumbnail("t/photo-64.webp", small);
    let portrait = success(&r.items[4]);
    assert_eq!(
        (portrait.width, portrait.height),
        (100, 160),
        "EXIF orientation 6"
    );
    assert_eq!(
        (portrait.source_width, portrait.source_height),
        (1600, 2560)
    );
    b.thumbnail("t/portrait.jpg", portrait);

    let (reason, transient, message) = failure(&r.items[1]);
    assert_eq!((reason, transient), ("CorruptImage", false), "{message}");
    let (reason, transient, message) = failure(&r.items[2]);
    assert_eq!((reason, transient), ("SourceNotFound", false), "{message}");
    assert!(message.contains("missing.jpg"), "{message}");
    let (reason, transient, message) = failure(&r.items[5]);
    assert_eq!((reason, transient), ("StoreRejected", false), "{message}");

    // Exactly the good items' outputs were written.
    assert_eq!(
        b.list("t/"),
        ["t/photo-256.jpg", "t/photo-64.webp", "t/portrait.jpg"]
    );

    // The small thumbnail, resized from the decode shared with the 256 px one (less
    // shrunk while decoding), looks like the same thumbnail made alone.
    let alone = Batch {
        items: vec![batch.items[3].clone()],
    };
    let mut alone = alone;
    alone.items[0].output = b.loc("alone/photo-64.webp");
    let r = b.run_batch(&alone);
    assert_eq!(r.downloads, 1);
    let alone_img = b.thumbnail("alone/photo-64.webp", success(&r.items[0]));
    let diff = mean_abs_diff(&small_img, &alone_img);
    assert!(diff < 3.0, "mean difference {diff}");
}

#[test]
fn an_unreachable_store_makes_every_item_transient_and_exits_0() {
    let b = Bucket::new("down");
    let batch = Batch {
        items: (0..5)
            .map(|i| b.item(&format!("s{}.jpg", i % 2), &format!("t/{i}.jpg"), 64, None))
            .collect(),
    };
    let (code, result) = b.run(
        &thumbnail_testkit::closed_port_url(),
        &batch.to_json(),
        batch.items.len(),
    );
    assert_eq!(code, EXIT_OK);
    let BatchRunResult::Items(r) = result else {
        panic!("{result:?}")
    };
    for item in &r.items {
        let (reason, transient, message) = failure(item);
        assert_eq!((reason, transient), ("StoreUnavailable", true), "{message}");
        assert!(message.contains("refused"), "the cause: {message}");
    }
    // The first failure stops the run: the other source is not tried.
    assert_eq!(r.downloads, 1);
    let (_, _, first) = failure(&r.items[0]);
    let (_, _, other) = failure(&r.items[1]);
    assert!(first.starts_with("reading s3://"), "{first}");
    assert!(other.starts_with("not attempted"), "{other}");
}

#[test]
fn an_invalid_batch_fails_as_a_whole_with_a_clear_message() {
    let b = Bucket::new("invalid");
    let item = b.item("a.jpg", "t/a.jpg", 64, None);
    let too_many = Batch {
        items: (0..=MAX_BATCH)
            .map(|i| b.item("a.jpg", &format!("t/{i}.jpg"), 64, None))
            .collect(),
    };
    let mut no_size = item.clone();
    no_size.width = None;
    let cases = [
        ("[]".to_string(), "1 to 32 items, this one has 0"),
        (too_many.to_json(), "1 to 32 items, this one has 33"),
        (
            "{not json".to_string(),
            "is not a batch (a JSON array of items)",
        ),
        (
            Batch {
                items: vec![item, no_size],
            }
            .to_json(),
            "batch item 1 (output s3://",
        ),
    ];
    for (json, expected) in cases {
        let (code, result) = b.run(&b.env.endpoint, &json, 0);
        match result {
            BatchRunResult::Failure(f) => {
                assert_eq!(
                    (code, f.reason.as_str(), f.transient),
                    (EXIT_PERMANENT, "InvalidRequest", false)
                );
                assert!(f.message.contains(expected), "{json}: {}", f.message);
                // Written as a single run's failure.
                let written = std::fs::read_to_string(
                    std::env::temp_dir()
                        .join(format!("resizer-batch-test-{}", b.name))
                        .join("result.json"),
                )
                .unwrap();
                assert!(matches!(
                    RunResult::from_json(&written),
                    Ok(RunResult::Failure(_))
                ));
            }
            other => panic!("{json}: {other:?}"),
        }
    }
    assert!(b.list("").is_empty(), "nothing written");
}
