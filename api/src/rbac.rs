//! The Kubernetes permissions each component needs: one source of truth. The Helm
//! chart's Roles are checked against these lists (operator/tests/chart.rs), and the
//! controller's mocked-API tests check that every request they see is covered.

use crate::crd::GROUP;

/// One RBAC rule: API group, resource (with subresource, e.g. "thumbnails/status"), verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
}

const fn p(
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
) -> Permission {
    Permission {
        group,
        resource,
        verbs,
    }
}

/// What the operator does: watch Thumbnails and patch their finalizers and status; own
/// Jobs (create by server-side apply, delete superseded ones); read the Pods of a
/// finished Job for the resizer's termination message; publish Events; check at start
/// that the CRD is installed.
pub const OPERATOR: &[Permission] = &[
    p(GROUP, "thumbnails", &["get", "list", "watch", "patch"]),
    p(GROUP, "thumbnails/status", &["get", "patch"]),
    p(
        "batch",
        "jobs",
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    p("", "pods", &["list"]),
    p("events.k8s.io", "events", &["create", "patch"]),
    p(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        &["get"],
    ),
];

/// What the REST shim does: uploads create Thumbnails, GET reads one or lists them,
/// DELETE deletes one (the operator's finalizer cleans storage).
pub const SHIM: &[Permission] = &[p(GROUP, "thumbnails", &["create", "get", "list", "delete"])];

/// Whether `perms` allow `verb` on `group`/`resource`.
pub fn allows(perms: &[Permission], group: &str, resource: &str, verb: &str) -> bool {
    perms
        .iter()
        .any(|p| p.group == group && p.resource == resource && p.verbs.contains(&verb))
}

/// The (group, resource, verb) of a request to the Kubernetes API, for coverage checks.
/// `path` is the URL path, `method` the HTTP method, `query` the raw query string.
pub fn request_permission(
    method: &str,
    path: &str,
    query: &str,
) -> Option<(String, String, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest),
        ["apis", group, _version, rest @ ..] => (group.to_string(), rest),
        _ => return None,
    };
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    let (resource, named) = match rest {
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => return None,
    };
    let verb = match (method, named) {
        ("GET", true) => "get",
        ("GET", false) if query.contains("watch=true") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PATCH", _) if query.contains("fieldManager") && !named => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    Some((group, resource, verb.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_rbac_verbs() {
        let r = |m, p, q| request_permission(m, p, q).map(|(g, r, v)| format!("{g}|{r}|{v}"));
        assert_eq!(
            r("GET", "/apis/batch/v1/jobs", "labelSelector=x").as_deref(),
            Some("batch|jobs|list")
        );
        assert_eq!(
            r("GET", "/apis/batch/v1/namespaces/a/jobs/j", "").as_deref(),
            Some("batch|jobs|get")
        );
        assert_eq!(
            r("GET", "/api/v1/namespaces/a/pods", "").as_deref(),
            Some("|pods|list")
        );
        assert_eq!(
            r(
                "PATCH",
                "/apis/thumbnails.dev/v1alpha1/namespaces/a/thumbnails/t/status",
                ""
            )
            .as_deref(),
            Some("thumbnails.dev|thumbnails/status|patch")
        );
        assert_eq!(
            r("GET", "/apis/batch/v1/jobs", "watch=true").as_deref(),
            Some("batch|jobs|watch")
        );
        assert!(allows(OPERATOR, "batch", "jobs", "patch"));
        assert!(!allows(OPERATOR, "", "pods", "delete"));
    }
}
