//! The Kubernetes permissions each component needs: one source of truth. The Helm
//! chart's Roles are checked against these lists (operator/tests/chart.rs), and the
//! controller's mocked-API tests check that every request they see is covered.

use crate::crd::GROUP;

/// One RBAC rule: API group, resource (with subresource, e.g. "thumbnails/status"), verbs,
/// where it is granted, and whether it is limited to the one object the component uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    pub scope: Scope,
    /// Limited by `resourceNames` to one object (the Thumbnail CRD, the operator's own
    /// Lease). Kubernetes cannot limit `create` (and list/watch) by name: a rule for those
    /// verbs is never named.
    pub by_name: bool,
}

/// Where a [`Permission`] is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The namespace the component serves Thumbnails in (all namespaces when the
    /// operator watches all).
    Watched,
    /// The operator's own namespace (the Helm release's), whatever it watches.
    Own,
    /// Cluster-scoped objects.
    Cluster,
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
        scope: Scope::Watched,
        by_name: false,
    }
}

impl Permission {
    const fn in_scope(self, scope: Scope) -> Self {
        Permission { scope, ..self }
    }
    const fn named(self) -> Self {
        Permission {
            by_name: true,
            ..self
        }
    }
}

/// The Lease the operator's replicas elect their leader with.
pub const LEASE_GROUP: &str = "coordination.k8s.io";

/// What the operator does: watch Thumbnails and patch their finalizers and status; own
/// Jobs (create by server-side apply, delete superseded ones); read the Pods of a
/// finished Job for the resizer's termination message; publish Events; check at start
/// that the CRD is installed; elect a leader through its Lease (read it, create it when
/// missing, take and renew it by patches: kube-lease-manager never updates with PUT).
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
    )
    .in_scope(Scope::Cluster)
    .named(),
    p(LEASE_GROUP, "leases", &["get", "patch"])
        .in_scope(Scope::Own)
        .named(),
    p(LEASE_GROUP, "leases", &["create"]).in_scope(Scope::Own),
];

/// What the REST shim does: uploads create Thumbnails, GET reads one or lists them,
/// the event stream watches them, DELETE deletes one (the operator's finalizer cleans storage).
pub const SHIM: &[Permission] = &[p(
    GROUP,
    "thumbnails",
    &["create", "get", "list", "watch", "delete"],
)];

/// What the chart's pre-delete hook (`thumbnail-operator drain`) does: list and watch
/// the Thumbnails the operator watches, delete each; the running operator does the rest.
pub const DRAIN: &[Permission] = &[p(GROUP, "thumbnails", &["list", "watch", "delete"])];

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
        assert_eq!(
            r(
                "PATCH",
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/l",
                "fieldManager=x"
            )
            .as_deref(),
            Some("coordination.k8s.io|leases|patch")
        );
        assert!(allows(OPERATOR, LEASE_GROUP, "leases", "create"));
        assert!(!allows(OPERATOR, LEASE_GROUP, "leases", "update"));
    }

    /// Kubernetes ignores resourceNames for create, list, watch and deletecollection: a
    /// named rule with them would grant nothing (or, unnamed, more than meant).
    #[test]
    fn named_permissions_have_only_verbs_a_name_can_limit() {
        for perm in OPERATOR
            .iter()
            .chain(SHIM)
            .chain(DRAIN)
            .filter(|p| p.by_name)
        {
            for verb in perm.verbs {
                assert!(
                    ["get", "patch", "update", "delete"].contains(verb),
                    "{perm:?}: {verb} cannot be limited by name"
                );
            }
        }
    }
}
