//! The OpenAPI 3.1 description, generated from the handlers' annotations, and the
//! router that carries it.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes::{download, health, thumbnails, upload};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "thumbnail-operator REST API",
        description = "Upload an image and get a thumbnail. An upload becomes a Thumbnail resource in Kubernetes; \
its status goes uploaded -> processing -> success (or error). Follow the links in each answer: \
`self` for the status, `download` once it is ready, `delete` to remove it.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "thumbnails", description = "Upload, inspect, list, download and delete thumbnails"),
        (name = "probes", description = "Liveness and readiness"),
    ),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// Declares the optional bearer-token scheme the thumbnail routes accept.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The documented routes, with their OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(upload::upload, thumbnails::list))
        .routes(routes!(thumbnails::get_one, thumbnails::delete))
        .routes(routes!(download::download))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}
