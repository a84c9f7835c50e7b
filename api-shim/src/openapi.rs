//! The OpenAPI 3.1 description, generated from the handlers' annotations, and the
//! router that carries it.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes::{download, events, groups, health, limits, thumbnails, upload};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "thumbnail-operator REST API",
        description = "Upload an image and get a thumbnail. An upload becomes a Thumbnail resource in Kubernetes; \
its status goes uploaded -> processing -> success (or error). Follow the links in each answer: \
`self` for the status, `download` once it is ready, `delete` to remove it. \
An upload with `sizes` (e.g. `128,256,512`) makes one thumbnail per size over one stored original: \
a group, read and deleted at /api/v1/groups/{id} and listed with `?group=`. \
Every answer carries an X-Request-Id header; error bodies repeat it as `requestId`, under which the \
shim's log has the details an answer leaves out. The API serves only the thumbnails made through it.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "thumbnails", description = "Upload, inspect, list, download and delete thumbnails, one or a group of sizes at a time"),
        (name = "probes", description = "Liveness and readiness"),
    ),
    // The data of the event stream's events (its response is text, so no route
    // references them).
    components(schemas(events::Deleted, events::Synced, events::StreamError)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme of the thumbnail routes. Each route lists it as
/// optional (`security((), bearer)`) because an administrator may turn tokens off;
/// the chart requires them by default.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some(
            "A token from the shim's token file (with the Helm chart: the Secret \
             <release>-api-shim-tokens). Required unless the administrator turned tokens \
             off; without it the thumbnail routes answer 401."
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The documented routes, with their OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(upload::upload, thumbnails::list))
        .routes(routes!(thumbnails::get_one, thumbnails::delete))
        .routes(routes!(groups::get_group, groups::delete_group))
        .routes(routes!(download::download))
        .routes(routes!(events::events))
        .routes(routes!(limits::limits))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}
