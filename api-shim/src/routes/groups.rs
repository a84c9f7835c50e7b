//! GET and DELETE of a group: the Thumbnails the shim made from one upload with several
//! sizes (label `thumbnails.dev/group=<id>`), which share one stored original.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kube::api::{DeleteParams, ListParams, Preconditions};
use kube::ResourceExt as _;
use serde::Deserialize;
use thumbnail_api::crd::Thumbnail;
use thumbnail_api::metadata::LABEL_GROUP;
use utoipa::IntoParams;

use crate::base_url::BaseUrl;
use crate::error::{from_kube, ApiError, ApiResult, ErrorBody};
use crate::model::GroupView;
use crate::state::AppState;

/// The id path parameter of a group.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GroupPath {
    /// Group id, as returned by an upload with `sizes`.
    pub id: String,
}

/// Checks that `id` can be a group's id: an object name that is also a label value (at
/// most 63 characters). Anything else names no group — and must never reach a label
/// selector, where a ',' or '=' would select something else.
pub fn check_group_id(id: &str) -> Result<(), ApiError> {
    super::check_id(id)
        .ok()
        .filter(|()| id.len() <= 63)
        .ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no group with id {id:?}; a group is made by an upload with sizes"),
    )
}

/// The label selector of the group `id` among the Thumbnails the shim serves (`id`
/// checked by [`check_group_id`]).
pub fn selector(id: &str) -> String {
    format!("{},{LABEL_GROUP}={id}", super::served_selector())
}

/// The Thumbnails of the group `id` that the shim serves, in the order of the upload's
/// sizes (their names end in the item's position).
pub async fn members(state: &AppState, id: &str) -> Result<Vec<Thumbnail>, kube::Error> {
    let mut items = state
        .thumbnails
        .list(&ListParams::default().labels(&selector(id)))
        .await?
        .items;
    items.sort_by_key(|t| t.name_any());
    Ok(items)
}

async fn existing(state: &AppState, id: &str) -> ApiResult<Vec<Thumbnail>> {
    check_group_id(id)?;
    let members = members(state, id).await.map_err(|e| from_kube(e, id))?;
    if members.is_empty() {
        return Err(not_found(id));
    }
    Ok(members)
}

/// One group: its thumbnails with their status, and the group's status.
#[utoipa::path(
    get,
    path = "/api/v1/groups/{id}",
    tag = super::TAG,
    params(GroupPath),
    responses(
        (status = 200, description = "The group", body = GroupView),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No group with this id (or all its thumbnails are deleted)", body = ErrorBody),
        (status = 503, description = "The Kubernetes API server is unavailable (code api_server_unavailable), or the shim is serving its limit of requests at once (code overloaded, with Retry-After)", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub async fn get_group(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(GroupPath { id }): Path<GroupPath>,
) -> ApiResult<Json<GroupView>> {
    let members = existing(&state, &id).await?;
    Ok(Json(GroupView::new(&id, &members, &base)))
}

/// Delete all the thumbnails of a group. The controller then removes their stored
/// objects, and the shared original with the last of them.
#[utoipa::path(
    delete,
    path = "/api/v1/groups/{id}",
    tag = super::TAG,
    params(GroupPath),
    responses(
        (status = 204, description = "Deleted (stored objects are removed in the background)"),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No group with this id", body = ErrorBody),
        (status = 503, description = "The Kubernetes API server is unavailable (code api_server_unavailable), or the shim is serving its limit of requests at once (code overloaded, with Retry-After); some of the group's thumbnails may be deleted: send the DELETE again", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub async fn delete_group(
    State(state): State<AppState>,
    Path(GroupPath { id }): Path<GroupPath>,
) -> ApiResult<StatusCode> {
    for t in existing(&state, &id).await? {
        // Only the resources just listed (see thumbnails::delete); one already gone or
        // replaced meanwhile is not this group's any more.
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: t.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match state.thumbnails.delete(&t.name_any(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(from_kube(e, &t.name_any())),
        }
    }
    tracing::info!(group = %id, "group deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_label_values() {
        assert!(check_group_id("01jdz8q6x5m3c9v2k7h4t0r1ab").is_ok());
        for bad in ["a,b=c", "a=b", &"x".repeat(64), "A", ""] {
            assert_eq!(
                check_group_id(bad).unwrap_err().status,
                StatusCode::NOT_FOUND,
                "{bad}"
            );
        }
        assert_eq!(
            selector("g1"),
            "thumbnails.dev/created-by=api-shim,thumbnails.dev/group=g1"
        );
    }
}
