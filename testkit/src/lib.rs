//! Test support shared by every crate's tests (dev-only, never in a release build): the
//! real servers that `make test` (hack/test.sh) starts, the corpus of real photos, and
//! the workspace's built binaries. A missing server or variable fails the test with
//! instructions; nothing is skipped.
//!
//! - [`kube`]: the CRD API server, kubectl, a namespace per test.
//! - [`s3`]: the S3 server (SeaweedFS), a bucket per test.
//! - [`proxy`]: a switchable TCP proxy, for outages of a real server.
//! - [`corpus`]: real photographs (THUMBNAIL_CORPUS).
//! - [`workspace_bin`]: a binary of this workspace, for tests that run the real programs.

pub mod kube;
pub mod proxy;
pub mod s3;

pub use kube::{kubectl, kubectl_ok, unique_namespace};
pub use proxy::SwitchableProxy;
pub use s3::S3Env;

use std::path::PathBuf;

/// What `make test` sets, with instructions for running a test by hand.
const HOW: &str = "Run `make test` (hack/test.sh), which starts the real servers and sets \
    THUMBNAIL_TEST_KUBECONFIG, THUMBNAIL_TEST_S3_ENDPOINT, THUMBNAIL_TEST_S3_ACCESS_KEY, \
    THUMBNAIL_TEST_S3_SECRET_KEY and THUMBNAIL_CORPUS; or start hack/crd-apiserver.sh and \
    hack/s3-server.sh yourself and export them";

/// The value of a variable the test run sets; panics with instructions when unset.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the test run's servers. {HOW}")
    })
}

/// A real photograph (or graphic) from the corpus (THUMBNAIL_CORPUS; MANIFEST.tsv there
/// says where each comes from).
pub fn corpus(name: &str) -> Vec<u8> {
    let path = PathBuf::from(required_env("THUMBNAIL_CORPUS")).join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "corpus file {} unreadable ({e}): point THUMBNAIL_CORPUS at the corpus, or run hack/fetch-corpus.sh",
            path.display()
        )
    })
}

/// A built binary of this workspace, next to the running test's own directory
/// (target/<profile>/). hack/test.sh builds every binary before the tests run.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the workspace's binaries first (`cargo build --workspace --bins`; `make test` does)",
        bin.display()
    );
    bin
}
