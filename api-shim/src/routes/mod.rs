//! HTTP handlers, one module per resource action group.

pub mod download;
pub mod health;
pub mod thumbnails;
pub mod upload;

use crate::error::ApiError;

/// OpenAPI tag of the thumbnail routes.
pub const TAG: &str = "thumbnails";

/// Checks that `id` can be a Kubernetes object name (a DNS subdomain). Anything else
/// cannot exist, so it is a 404 — and it must never reach the API server's URL.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=253).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id.as_bytes()[id.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ApiError::not_found(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_object_names() {
        for good in ["01jdz8q6x5m3c9v2k7h4t0r1ab", "cat", "a.b-c"] {
            assert!(check_id(good).is_ok(), "{good}");
        }
        for bad in ["", "Cat", "-a", "a-", "a/b", "..", "a b", &"x".repeat(254)] {
            assert_eq!(check_id(bad).unwrap_err().body.code, "not_found", "{bad}");
        }
    }
}
