//! The corpus of real photographs (and graphics) the tests decode and resize.

use std::path::PathBuf;

use crate::required_env;

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
