//! Recognising an image format from the first bytes of an upload, before anything is
//! stored, so that a non-image gets 415 at once instead of a failed Job later. The
//! resizer's own detection decides, so the shim accepts exactly what the resizer decodes.

/// Human list of the formats accepted, for error messages.
pub use thumbnail_api::detect::SUPPORTED;

/// MIME type of the image whose file starts with `head`, if the resizer decodes it.
pub fn image_content_type(head: &[u8]) -> Option<&'static str> {
    thumbnail_api::detect::detect(head)
        .ok()
        .map(|f| f.content_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_what_the_resizer_decodes_and_nothing_else() {
        assert_eq!(
            image_content_type(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(
            image_content_type(b"\x89PNG\r\n\x1a\n\0\0"),
            Some("image/png")
        );
        assert_eq!(
            image_content_type(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(image_content_type(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(
            image_content_type(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"),
            Some("image/avif")
        );
        assert_eq!(
            image_content_type(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            None
        );
        assert_eq!(image_content_type(b"hello, not an image"), None);
        assert_eq!(image_content_type(b""), None);
    }
}
