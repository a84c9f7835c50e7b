//! Recognising an image format from the first bytes of an upload, before anything is
//! stored, so that a non-image gets 415 at once instead of a failed Job later.
//!
//! The resizer's `detect` module is the reference, but it is compiled only with its
//! heavy `pipeline` feature (it shares the pipeline's error type), which the shim must
//! not pull in. Until `resizer::detect` is available without that feature, this is a
//! copy of its magic-number table, and `agrees_with_the_resizer` below (built with the
//! pipeline, as a dev-dependency) fails the moment the two disagree.

/// Human list of the formats accepted, for error messages.
pub const SUPPORTED: &str = "JPEG, PNG, GIF, WebP, BMP or TIFF";

/// MIME type of the image whose file starts with `head`, if the resizer decodes it.
pub fn image_content_type(head: &[u8]) -> Option<&'static str> {
    let b = head;
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else if b.starts_with(b"BM") && b.len() >= 26 {
        Some("image/bmp")
    } else if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<(String, Vec<u8>)> {
        let mut s: Vec<(String, Vec<u8>)> = vec![
            ("empty".into(), vec![]),
            ("text".into(), b"hello, world, not an image".to_vec()),
            ("short bmp".into(), b"BM1234".to_vec()),
            ("bmp".into(), [b"BM".as_slice(), &[0u8; 40]].concat()),
            ("tiff le".into(), [b"II*\0".as_slice(), &[0u8; 40]].concat()),
            ("tiff be".into(), [b"MM\0*".as_slice(), &[0u8; 40]].concat()),
            ("avif".into(), b"\0\0\0\x1cftypavif\0\0\0\0".to_vec()),
            ("riff wave".into(), b"RIFF\0\0\0\0WAVEfmt ".to_vec()),
            (
                "svg".into(),
                b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
            ),
            ("pdf".into(), b"%PDF-1.7\n".to_vec()),
            ("gif87".into(), b"GIF87a\x01\0\x01\0".to_vec()),
        ];
        // Every file of the shared corpus too, when it is there (THUMBNAIL_CORPUS, or the
        // shared/ folder beside the repository); the synthetic samples always run.
        let corpus = std::env::var("THUMBNAIL_CORPUS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
            });
        if let Ok(dir) = std::fs::read_dir(corpus) {
            for entry in dir.flatten() {
                let bytes = std::fs::read(entry.path()).unwrap();
                s.push((
                    entry.file_name().to_string_lossy().into(),
                    bytes[..bytes.len().min(64)].to_vec(),
                ));
            }
        }
        s
    }

    #[test]
    fn agrees_with_the_resizer() {
        for (name, head) in samples() {
            let ours = image_content_type(&head).is_some();
            let theirs = resizer::detect::detect(&head).is_ok();
            assert_eq!(
                ours, theirs,
                "{name}: shim accepts={ours}, resizer accepts={theirs}"
            );
        }
    }

    #[test]
    fn names_the_format() {
        assert_eq!(
            image_content_type(b"\x89PNG\r\n\x1a\n...."),
            Some("image/png")
        );
        assert_eq!(
            image_content_type(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(
            image_content_type(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(image_content_type(b"plain text"), None);
    }
}
