//! HTTP handlers, one module per resource action group.

pub mod download;
pub mod events;
pub mod groups;
pub mod health;
pub mod limits;
pub mod thumbnails;
pub mod upload;

use kube::ResourceExt as _;
use thumbnail_api::crd::Thumbnail;
use thumbnail_api::metadata::LABEL_CREATED_BY;

use crate::error::{from_kube, ApiError};
use crate::state::AppState;

/// The label selector of the Thumbnails the shim serves: those it created. Others in
/// its namespace (applied with kubectl, or by another tool) are their owners' business:
/// the shim neither lists, shows, serves nor deletes them, so its clients — anonymous
/// or holding a shared token — cannot reach what someone else made. The label is not a
/// secret: whoever can create Thumbnails in the namespace can label one so, and could
/// read it with kubectl anyway.
pub fn served_selector() -> String {
    format!("{LABEL_CREATED_BY}={}", upload::CREATED_BY)
}

/// Whether the shim serves `t` (see [`served_selector`]).
pub fn served(t: &Thumbnail) -> bool {
    t.labels().get(LABEL_CREATED_BY).map(String::as_str) == Some(upload::CREATED_BY)
}

/// The Thumbnail `id` if the shim serves it; 404 otherwise, the same answer as for one
/// that does not exist, so a client learns nothing about the others.
pub async fn get_served(state: &AppState, id: &str) -> Result<Thumbnail, ApiError> {
    check_id(id)?;
    let t = state
        .thumbnails
        .get(id)
        .await
        .map_err(|e| from_kube(e, id))?;
    if served(&t) {
        Ok(t)
    } else {
        Err(ApiError::not_found(id).with_detail(format!(
            "the Thumbnail {id} exists but was not created by the shim (no label {})",
            served_selector()
        )))
    }
}

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
