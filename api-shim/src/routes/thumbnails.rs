//! GET one, GET the list, DELETE: thin views over the Thumbnail resources.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use kube::api::{DeleteParams, ListParams, Preconditions};
use serde::Deserialize;
use thumbnail_api::crd::{Phase, Thumbnail};
use utoipa::IntoParams;

use crate::base_url::BaseUrl;
use crate::error::{from_kube, ApiError, ApiResult, ErrorBody};
use crate::model::{phase_of, Link, ThumbnailList, ThumbnailView};
use crate::state::AppState;
use thumbnail_api::links::percent_encode;
use thumbnail_api::status_words::StatusWord;

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page.
pub const MAX_LIMIT: u32 = 500;
/// With a status filter, how many API-server pages one request reads at most while
/// filling its page, so a rare status does not make one request scan everything.
const MAX_SCANS: usize = 8;

/// Query of the list. Values are taken as strings and checked here, so a bad one gets
/// a field-level JSON error instead of the framework's plain-text one.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1-500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// The `continue` value of the previous page.
    #[serde(rename = "continue")]
    #[param(rename = "continue")]
    continue_token: Option<String>,
    /// Only thumbnails with this status.
    #[param(value_type = Option<String>, pattern = "^(uploaded|processing|success|error)$")]
    status: Option<String>,
    /// Only the thumbnails of this group (an upload with `sizes`).
    group: Option<String>,
}

/// The id path parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// Thumbnail id, as returned by the upload.
    pub id: String,
}

fn parse_limit(raw: Option<&str>) -> ApiResult<u32> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid(
            "limit",
            format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {raw:?}"),
        )),
    }
}

fn parse_status(raw: Option<&str>) -> ApiResult<Option<Phase>> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(word) => StatusWord::parse(word)
            .map(|w| Some(Phase::from(w)))
            .ok_or_else(|| {
                let words: Vec<_> = Phase::ALL.map(|p| p.status_word().as_str()).into();
                ApiError::invalid(
                    "status",
                    format!("status must be one of {}, got {word:?}", words.join(", ")),
                )
            }),
    }
}

/// One thumbnail: its status, what was asked, what was made, and its links.
#[utoipa::path(
    get,
    path = "/api/v1/thumbnails/{id}",
    tag = super::TAG,
    params(IdPath),
    responses(
        (status = 200, description = "The thumbnail", body = ThumbnailView),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No thumbnail with this id", body = ErrorBody),
        (status = 503, description = "The Kubernetes API server is unavailable (code api_server_unavailable), or the shim is serving its limit of requests at once (code overloaded, with Retry-After)", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub async fn get_one(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(IdPath { id }): Path<IdPath>,
) -> ApiResult<Json<ThumbnailView>> {
    let t = super::get_served(&state, &id).await?;
    Ok(Json(ThumbnailView::from_resource(&t, &base)))
}

/// All thumbnails made through this API, in API-server order, a page at a time.
///
/// Pass the `continue` value of a page to get the next one; the last page has none.
/// With `status`, a page holds only matching thumbnails and may be shorter than
/// `limit` (even empty) while `continue` is present: keep following it.
#[utoipa::path(
    get,
    path = "/api/v1/thumbnails",
    tag = super::TAG,
    params(ListQuery),
    responses(
        (status = 200, description = "One page of thumbnails", body = ThumbnailList),
        (status = 400, description = "The continue token is malformed", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 410, description = "The continue token has expired; start again", body = ErrorBody),
        (status = 422, description = "limit, status or group is invalid", body = ErrorBody),
        (status = 503, description = "The Kubernetes API server is unavailable (code api_server_unavailable), or the shim is serving its limit of requests at once (code overloaded, with Retry-After)", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ThumbnailList>> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(
            "bad_query",
            format!(
                "{}; use ?limit=N&continue=TOKEN&status=WORD&group=ID",
                e.body_text()
            ),
        )
    })?;
    let limit = parse_limit(q.limit.as_deref())?;
    let wanted = parse_status(q.status.as_deref())?;
    let group = q.group.clone().filter(|g| !g.is_empty());
    if let Some(g) = &group {
        super::groups::check_group_id(g).map_err(|_| {
            ApiError::invalid(
                "group",
                format!("group must be a group id as an upload with sizes returns it, got {g:?}"),
            )
        })?;
    }
    let selector = match &group {
        Some(g) => super::groups::selector(g),
        None => super::served_selector(),
    };
    let mut token = q.continue_token.clone().filter(|t| !t.is_empty());

    // Ask the API server for exactly as many objects as the page still has room for,
    // so every object of every fetched page is either returned or filtered out, and
    // the API server's continue token stays exact.
    let mut items: Vec<Thumbnail> = Vec::new();
    for _ in 0..MAX_SCANS {
        let room = limit - items.len() as u32;
        let mut params = ListParams::default().labels(&selector).limit(room);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = state
            .thumbnails
            .list(&params)
            .await
            .map_err(|e| from_kube(e, ""))?;
        token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        items.extend(
            page.items
                .into_iter()
                .filter(|t| wanted.is_none_or(|w| phase_of(t) == w)),
        );
        if wanted.is_none() || items.len() as u32 >= limit || token.is_none() {
            break;
        }
    }

    let page_url = |cont: Option<&str>| {
        let mut url = format!("{base}/api/v1/thumbnails?limit={limit}");
        if let Some(w) = wanted {
            url.push_str(&format!("&status={}", w.status_word()));
        }
        if let Some(g) = &group {
            url.push_str(&format!("&group={g}"));
        }
        if let Some(c) = cont {
            url.push_str(&format!("&continue={}", percent_encode(c)));
        }
        url
    };
    let json = Some("application/json");
    let mut links = vec![Link::new(
        "self",
        page_url(q.continue_token.as_deref().filter(|t| !t.is_empty())),
        "GET",
        json,
    )];
    if let Some(t) = &token {
        links.push(Link::new("next", page_url(Some(t)), "GET", json));
    }
    Ok(Json(ThumbnailList {
        items: items
            .iter()
            .map(|t| ThumbnailView::from_resource(t, &base))
            .collect(),
        continue_token: token,
        links,
    }))
}

/// Delete a thumbnail. The controller then removes its stored objects.
#[utoipa::path(
    delete,
    path = "/api/v1/thumbnails/{id}",
    tag = super::TAG,
    params(IdPath),
    responses(
        (status = 204, description = "Deleted (stored objects are removed in the background)"),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No thumbnail with this id", body = ErrorBody),
        (status = 503, description = "The Kubernetes API server is unavailable (code api_server_unavailable), or the shim is serving its limit of requests at once (code overloaded, with Retry-After)", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
) -> ApiResult<StatusCode> {
    let t = super::get_served(&state, &id).await?;
    // Only the resource just checked: were it replaced in between by one the shim did
    // not create, the API server refuses (409) rather than delete that one.
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: t.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    state
        .thumbnails
        .delete(&id, &params)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 409 => ApiError::not_found(&id),
            other => from_kube(other, &id),
        })?;
    tracing::info!(%id, "thumbnail deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("")).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("500")).unwrap(), 500);
        for bad in ["0", "501", "-1", "ten"] {
            assert_eq!(
                parse_limit(Some(bad)).unwrap_err().body.field.as_deref(),
                Some("limit")
            );
        }
    }

    #[test]
    fn status_takes_the_seed_words() {
        assert_eq!(
            parse_status(Some("success")).unwrap(),
            Some(Phase::Succeeded)
        );
        assert_eq!(parse_status(None).unwrap(), None);
        assert!(parse_status(Some("Succeeded")).is_err());
    }

    #[test]
    fn continue_tokens_are_escaped() {
        // '/' may stay: RFC 3986 allows it in a query.
        assert_eq!(percent_encode("eyJ2+/="), "eyJ2%2B/%3D");
    }
}
