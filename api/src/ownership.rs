//! Where the shim's originals live (issue 12, decision 1): the uploads bucket, key
//! `originals/<namespace>/<name>`. The bundled store's identities
//! (charts/thumbnail-operator/files/s3-identities.sh) scope the shim's writes to
//! `originals/`.

/// The prefix of every original the shim stores for Thumbnails in `namespace`.
pub fn shim_originals_prefix(namespace: &str) -> String {
    format!("originals/{namespace}/")
}

/// The key of the original the shim stores for the Thumbnail `namespace`/`name`.
pub fn shim_original_key(namespace: &str, name: &str) -> String {
    format!("{}{name}", shim_originals_prefix(namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originals_are_per_namespace_and_name() {
        assert_eq!(shim_originals_prefix("media"), "originals/media/");
        assert_eq!(
            shim_original_key("media", "cat-x1"),
            "originals/media/cat-x1"
        );
    }
}
