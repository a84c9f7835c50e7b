//! The workspace's built binaries, for tests that run the real programs.

use std::path::PathBuf;

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
