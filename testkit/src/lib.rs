//! Test support shared by every crate's tests (dev-only, never in a release build): the
//! real servers that `make test` (hack/test.sh) starts, the corpus of real photos, and
//! the workspace's built binaries. A missing server or variable fails the test with
//! instructions; nothing is skipped.
//!
//! - [`kube`]: the CRD API server, kubectl, a namespace per test.
//! - [`cluster`]: the real Kubernetes node, the chart installed by helm, a release per test.
//! - [`s3`]: the S3 server (SeaweedFS), a bucket per test.
//! - [`proxy`]: a switchable TCP proxy, for outages of a real server.
//! - [`corpus`]: real photographs (THUMBNAIL_CORPUS).
//! - [`bins`]: a binary of this workspace, for tests that run the real programs.
//! - [`ports`]: free loopback ports, and the URL of a server that is down.
//! - [`http`]: curl, as a client of the REST shim.

pub mod bins;
pub mod cluster;
pub mod corpus;
pub mod http;
pub mod kube;
pub mod ports;
pub mod proxy;
pub mod s3;

pub use bins::workspace_bin;
pub use corpus::corpus;
pub use kube::{kubectl, kubectl_ok, unique_namespace};
pub use ports::{closed_port_url, free_port};
pub use proxy::SwitchableProxy;
pub use s3::S3Env;

/// What `make test` sets, with instructions for running a test by hand.
const HOW: &str = "Run `make test` (hack/test.sh), which starts the real servers and sets \
    THUMBNAIL_TEST_KUBECONFIG, THUMBNAIL_TEST_S3_ENDPOINT, THUMBNAIL_TEST_S3_ACCESS_KEY, \
    THUMBNAIL_TEST_S3_SECRET_KEY and THUMBNAIL_CORPUS; or start hack/crd-apiserver.sh and \
    hack/s3-server.sh yourself and export them";

/// The checkout the tests run from, read when they run: cargo and nextest set
/// `CARGO_MANIFEST_DIR` to the test's package, one level below the workspace root. Not
/// `env!` (the path at compile time): the build cache is shared between checkouts (CI's
/// clone and a developer's tree), and a test binary reused from another checkout would
/// read that checkout's files.
pub fn workspace_root() -> std::path::PathBuf {
    let package = std::env::var("CARGO_MANIFEST_DIR")
        .expect("CARGO_MANIFEST_DIR is not set: run the tests with cargo or cargo-nextest");
    std::path::Path::new(&package)
        .parent()
        .expect("a package directory has a parent")
        .to_path_buf()
}

/// The value of a variable the test run sets; panics with instructions when unset.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the test run's servers. {HOW}")
    })
}
