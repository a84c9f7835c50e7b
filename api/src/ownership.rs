//! Which stored objects belong to whom: where the REST shim stores the originals it
//! uploads, and the one rule by which the operator may delete a source object.
//!
//! Ownership comes from the location alone, never from anything a user writes on the
//! resource (labels, annotations): the shim's uploads bucket is the operator's setting,
//! and the key holds the Thumbnail's namespace and name. So a user who points a
//! Thumbnail at someone else's object (or edits a shim-created one to do so) can at
//! most make the operator delete the shim's original of that same Thumbnail.

/// Top-level prefix of every original the shim stores (in its uploads bucket).
pub const ORIGINALS_PREFIX: &str = "originals/";

/// The prefix under which the shim stores the originals of `namespace`'s Thumbnails:
/// `originals/<namespace>/`. A Thumbnail in that namespace may always read from it
/// (the source policy's built-in rule).
pub fn shim_originals_prefix(namespace: &str) -> String {
    format!("{ORIGINALS_PREFIX}{namespace}/")
}

/// The key of the original the shim uploaded for the Thumbnail `namespace`/`name`:
/// `originals/<namespace>/<name>`. Namespace and resource names never contain '/', so
/// no two Thumbnails share a key.
pub fn shim_original_key(namespace: &str, name: &str) -> String {
    format!("{}{name}", shim_originals_prefix(namespace))
}

/// Whether `bucket`/`key` is exactly the shim's original of the Thumbnail
/// `namespace`/`name`, given the shim's uploads bucket: the only source object the
/// operator ever deletes.
pub fn is_shim_original(
    bucket: &str,
    key: &str,
    namespace: &str,
    name: &str,
    uploads_bucket: &str,
) -> bool {
    !uploads_bucket.is_empty()
        && !namespace.is_empty()
        && !name.is_empty()
        && bucket == uploads_bucket
        && key == shim_original_key(namespace, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_namespace_and_name() {
        assert_eq!(shim_originals_prefix("media"), "originals/media/");
        assert_eq!(shim_original_key("media", "01abc"), "originals/media/01abc");
    }

    #[test]
    fn only_the_exact_location_is_owned() {
        let owned = |b: &str, k: &str, ns: &str, n: &str| is_shim_original(b, k, ns, n, "uploads");
        assert!(owned("uploads", "originals/media/01abc", "media", "01abc"));
        // Another bucket, another namespace's or Thumbnail's original, another key.
        assert!(!owned("payroll", "2025.xlsx", "media", "01abc"));
        assert!(!owned("payroll", "originals/media/01abc", "media", "01abc"));
        assert!(!owned("uploads", "originals/other/01abc", "media", "01abc"));
        assert!(!owned("uploads", "originals/media/01abd", "media", "01abc"));
        assert!(!owned(
            "uploads",
            "originals/media/01abc/x",
            "media",
            "01abc"
        ));
        assert!(!owned("uploads", "originals/01abc", "media", "01abc"));
        // Nothing is owned without a bucket, a namespace or a name.
        assert!(!is_shim_original("", "originals/media/x", "media", "x", ""));
        assert!(!owned("uploads", "originals//", "", ""));
    }
}
