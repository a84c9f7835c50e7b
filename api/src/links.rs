//! The hypermedia links of a thumbnail in the REST API, and the URL encoding used to
//! build them. One definition for the controller (status.links) and the shim (its
//! responses).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::{Format, Phase};

/// A hypermedia action, in the spirit of RFC 8288 web links.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// Relation: self, download or delete.
    #[cfg_attr(feature = "openapi", schema(example = "download"))]
    pub rel: String,
    /// Absolute or base-relative URL of the action.
    pub href: String,
    /// HTTP method to use.
    #[cfg_attr(feature = "openapi", schema(example = "GET"))]
    pub method: String,
    /// Media type of the response, e.g. application/json or image/webp.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

impl Link {
    pub fn new(rel: &str, href: String, method: &str, media_type: Option<&str>) -> Link {
        Link {
            rel: rel.into(),
            href,
            method: method.into(),
            media_type: media_type.map(Into::into),
        }
    }
}

/// The hypermedia actions of the Thumbnail `name` in the REST API rooted at `base_url`
/// (e.g. "http://localhost:8080"): self and delete always, download once the thumbnail
/// exists.
pub fn links(base_url: &str, name: &str, phase: Phase, format: Format) -> Vec<Link> {
    let this = format!(
        "{}/api/v1/thumbnails/{name}",
        base_url.trim_end_matches('/')
    );
    let mut links = vec![Link::new(
        "self",
        this.clone(),
        "GET",
        Some("application/json"),
    )];
    if phase == Phase::Succeeded {
        links.push(Link::new(
            "download",
            format!("{this}/download"),
            "GET",
            Some(format.content_type()),
        ));
    }
    links.push(Link::new("delete", this, "DELETE", None));
    links
}

/// RFC 3986 percent-encoding of everything but unreserved characters and '/'. Safe for
/// a query value (RFC 3986 allows '/' there) and for S3 user metadata, which travels in
/// HTTP headers and so must be ASCII.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_offer_download_only_when_succeeded() {
        let rels = |phase| -> Vec<String> {
            links("http://h:8080/", "cat", phase, Format::Webp)
                .into_iter()
                .map(|l| l.rel)
                .collect()
        };
        assert_eq!(rels(Phase::Pending), ["self", "delete"]);
        assert_eq!(rels(Phase::Failed), ["self", "delete"]);
        assert_eq!(rels(Phase::Succeeded), ["self", "download", "delete"]);
        let done = links("http://h:8080/", "cat", Phase::Succeeded, Format::Webp);
        assert_eq!(done[0].href, "http://h:8080/api/v1/thumbnails/cat");
        assert_eq!(done[1].href, "http://h:8080/api/v1/thumbnails/cat/download");
        assert_eq!(done[1].media_type.as_deref(), Some("image/webp"));
        assert_eq!(done[2].method, "DELETE");
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_ascii_and_slashes() {
        assert_eq!(
            percent_encode("originals/a b/ü.jpg"),
            "originals/a%20b/%C3%BC.jpg"
        );
        // Continue tokens are base64: '+' and '=' must not reach a query string raw.
        assert_eq!(percent_encode("eyJ+a/b=="), "eyJ%2Ba/b%3D%3D");
    }
}
