//! The Helm chart (charts/thumbnail-operator) against the code and a real API server:
//!
//! - every object `helm template` renders parses as the Kubernetes type it claims
//!   (k8s-openapi), and serializing the typed value back gives the same document, so no
//!   field is misspelled, misplaced or silently dropped;
//! - the RBAC bound to each component's ServiceAccount is exactly what the code needs
//!   (`thumbnail_api::rbac::OPERATOR`, `SHIM`, and `DRAIN` for the pre-delete hook);
//! - the uninstall hook: pre-delete, RBAC before the Job, deleted when it succeeded, and
//!   its environment parses as `thumbnail-operator drain`;
//! - every environment variable the chart gives the operator is one of its flags and
//!   the values parse;
//! - restricted Pod Security settings, probes and resources on every container;
//! - the chart's CRD applies (server-side) to the real CRD API server and is Established.
//!
//! Needs `HELM` (a helm binary; hack/chart-check.sh and hack/test.sh set it) and
//! `THUMBNAIL_TEST_KUBECONFIG` (hack/test.sh). Both missing is a failure, never a skip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use clap::CommandFactory;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolumeClaim, PodSpec, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thumbnail_api::rbac::{Permission, Scope, DRAIN, OPERATOR, SHIM};
use thumbnail_testkit::{self as testkit, kubectl_ok};

const RELEASE: &str = "thumbnail-operator";
const NAMESPACE: &str = "thumbnails";
const CRD_NAME: &str = "thumbnails.thumbnails.dev";

/// The value sets rendered; keep in sync with VALUE_SETS in hack/chart-check.sh.
const VALUE_SETS: &[(&str, &[&str])] = &[
    ("default", &[]),
    (
        "production",
        &["-f", "charts/thumbnail-operator/values-production.yaml"],
    ),
    (
        "everything",
        &[
            "--set=operator.clusterWide=true",
            "--set=imagePullSecrets[0].name=regcred",
            "--set=imagePullSecrets[1].name=mirror",
            "--set=seaweedfs.persistence.enabled=true",
            "--set=shim.tokensSecret=api-tokens",
            "--set=metrics.serviceMonitor.enabled=true",
            "--set=networkPolicy.enabled=true",
            "--set=s3.credentials.operator.existingSecret=s3-operator",
            "--set=s3.credentials.shim.existingSecret=s3-shim",
            "--set=s3.credentials.resizer.existingSecret=s3-resizer",
            "--set=operator.extraEnv[0].name=RUST_LOG",
            "--set=operator.extraEnv[0].value=debug",
            "--set=resizer.resources.requests.cpu=250m",
            "--set=resizer.resources.limits.cpu=1",
            "--set=resizer.resources.limits.memory=1Gi",
            "--set=operator.drainOnUninstall.timeoutSeconds=300",
            "--set=operator.sourcePolicy.allow[0]=team-a=photos/",
            "--set=operator.sourcePolicy.allow[1]=team-b=media/shared/{namespace}/",
        ],
    ),
    (
        "other-namespace",
        &[
            "--set=operator.watchNamespace=media",
            "--set=shim.enabled=false",
            "--set=s3.credentials.resizer.secretAccessKey=not-random",
        ],
    ),
];

fn repo_root() -> PathBuf {
    thumbnail_testkit::workspace_root()
}

fn helm() -> String {
    std::env::var("HELM").unwrap_or_else(|_| {
        panic!(
            "HELM is not set: this test renders the chart with a real helm binary. Run `make test` \
             (or `make helm` and export HELM=~/.cache/thumbnail-operator/tools/helm)"
        )
    })
}

/// `helm template` of the chart with `args`, as JSON documents (CRDs included).
fn render(name: &str, args: &[&str]) -> Vec<Value> {
    let out = Command::new(helm())
        .current_dir(repo_root())
        .args([
            "template",
            RELEASE,
            "charts/thumbnail-operator",
            "--namespace",
            NAMESPACE,
            "--include-crds",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm ({}): {e}", helm()));
    assert!(
        out.status.success(),
        "helm template ({name}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("helm prints UTF-8");
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            Value::deserialize(d)
                .unwrap_or_else(|e| panic!("helm template ({name}) printed invalid YAML: {e}"))
        })
        .filter(|v| !v.is_null())
        .collect();
    assert!(
        docs.len() >= 5,
        "helm template ({name}) rendered only {} objects",
        docs.len()
    );
    docs
}

/// Paths where two JSON values differ, `a` being what was rendered (or applied) and `b`
/// what came back (from the typed value, or from the API server).
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()).collect::<BTreeSet<_>>() {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => diff(&p, v, w, out),
                    (Some(v), None) => out.push(format!("{p}: {v} was dropped")),
                    (None, Some(w)) => out.push(format!("{p}: {w} appeared")),
                    (None, None) => unreachable!(),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), v, w, out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: {a} became {b}")),
    }
}

/// Parses `doc` as `K` and checks that serializing it back loses nothing.
fn typed<K: DeserializeOwned + Serialize>(set: &str, doc: &Value) -> K {
    let what = format!("{set}: {} {}", doc["kind"], doc["metadata"]["name"]);
    let value: K = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{what} does not parse: {e}"));
    let back = serde_json::to_value(&value).expect("serializes");
    let mut out = Vec::new();
    diff("", doc, &back, &mut out);
    assert!(
        out.is_empty(),
        "{what}: fields the Kubernetes type does not know:\n  {}",
        out.join("\n  ")
    );
    value
}

/// The Prometheus Operator's ServiceMonitor (no k8s-openapi type): the fields the chart
/// uses, anything else is an error.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitor {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: ServiceMonitorSpec,
}
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitorSpec {
    namespace_selector: NamespaceSelector,
    selector: LabelSelector,
    endpoints: Vec<ServiceMonitorEndpoint>,
}
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NamespaceSelector {
    match_names: Vec<String>,
}
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitorEndpoint {
    port: String,
    path: String,
    interval: String,
}

/// Every rendered object, typed.
#[derive(Default)]
struct Rendered {
    deployments: Vec<Deployment>,
    jobs: Vec<Job>,
    services: Vec<Service>,
    service_accounts: Vec<ServiceAccount>,
    secrets: Vec<Secret>,
    config_maps: Vec<ConfigMap>,
    claims: Vec<PersistentVolumeClaim>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    network_policies: Vec<NetworkPolicy>,
    service_monitors: Vec<ServiceMonitor>,
    crds: Vec<CustomResourceDefinition>,
}

fn parse(set: &str, docs: &[Value]) -> Rendered {
    let mut r = Rendered::default();
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        match (api_version, kind) {
            ("apps/v1", "Deployment") => r.deployments.push(typed(set, doc)),
            ("batch/v1", "Job") => r.jobs.push(typed(set, doc)),
            ("v1", "Service") => r.services.push(typed(set, doc)),
            ("v1", "ServiceAccount") => r.service_accounts.push(typed(set, doc)),
            ("v1", "Secret") => r.secrets.push(typed(set, doc)),
            ("v1", "ConfigMap") => r.config_maps.push(typed(set, doc)),
            ("v1", "PersistentVolumeClaim") => r.claims.push(typed(set, doc)),
            ("rbac.authorization.k8s.io/v1", "Role") => r.roles.push(typed(set, doc)),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                r.role_bindings.push(typed(set, doc))
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                r.cluster_roles.push(typed(set, doc))
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                r.cluster_role_bindings.push(typed(set, doc))
            }
            ("networking.k8s.io/v1", "NetworkPolicy") => r.network_policies.push(typed(set, doc)),
            ("monitoring.coreos.com/v1", "ServiceMonitor") => {
                r.service_monitors.push(typed(set, doc))
            }
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => r.crds.push(typed(set, doc)),
            _ => panic!("{set}: unexpected object {api_version} {kind}: add it to this test"),
        }
        if kind != "CustomResourceDefinition" && !kind.starts_with("Cluster") {
            assert_eq!(
                doc["metadata"]["namespace"].as_str().map(|_| ()),
                Some(()),
                "{set}: {kind} without a namespace"
            );
        }
    }
    r
}

type Triple = (String, String, String);

/// Where a triple is granted: the namespace ("" for cluster-wide) and the resourceNames
/// the rule is limited to (empty: every object).
type Grant = (String, Vec<String>);

fn expand(perms: &[Permission]) -> BTreeSet<Triple> {
    perms
        .iter()
        .flat_map(|p| {
            p.verbs
                .iter()
                .map(move |v| (p.group.to_string(), p.resource.to_string(), v.to_string()))
        })
        .collect()
}

fn expand_rules(set: &str, rules: &[PolicyRule]) -> Vec<(Triple, Vec<String>)> {
    let mut out = Vec::new();
    for rule in rules {
        let groups = rule.api_groups.clone().unwrap_or_default();
        let resources = rule.resources.clone().unwrap_or_default();
        let names = rule.resource_names.clone().unwrap_or_default();
        assert!(
            rule.non_resource_urls.is_none(),
            "{set}: non-resource URLs in {rule:?}"
        );
        for item in groups.iter().chain(&resources).chain(&rule.verbs) {
            assert!(!item.contains('*'), "{set}: wildcard in RBAC rule {rule:?}");
        }
        for g in &groups {
            for r in &resources {
                for v in &rule.verbs {
                    out.push(((g.clone(), r.clone(), v.clone()), names.clone()));
                }
            }
        }
    }
    out
}

/// The (group, resource, verb) triples bound to ServiceAccount `sa`, and where each is
/// granted.
fn grants(set: &str, r: &Rendered, sa: &str) -> BTreeMap<Triple, BTreeSet<Grant>> {
    let bound = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
        subjects.iter().flatten().any(|s| {
            s.kind == "ServiceAccount" && s.name == sa && s.namespace.as_deref() == Some(NAMESPACE)
        })
    };
    let mut out: BTreeMap<Triple, BTreeSet<Grant>> = BTreeMap::new();
    let mut add = |rules: &[PolicyRule], ns: &str| {
        for (t, names) in expand_rules(set, rules) {
            out.entry(t).or_default().insert((ns.to_string(), names));
        }
    };
    for b in r.role_bindings.iter().filter(|b| bound(&b.subjects)) {
        let ns = b.metadata.namespace.clone().unwrap_or_default();
        let rules = match b.role_ref.kind.as_str() {
            "Role" => r
                .roles
                .iter()
                .find(|x| {
                    x.metadata.name.as_deref() == Some(&b.role_ref.name)
                        && x.metadata.namespace.as_deref() == Some(&ns)
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{set}: RoleBinding {:?} refers to a missing Role",
                        b.metadata.name
                    )
                })
                .rules
                .clone(),
            "ClusterRole" => r
                .cluster_roles
                .iter()
                .find(|x| x.metadata.name.as_deref() == Some(&b.role_ref.name))
                .unwrap_or_else(|| {
                    panic!(
                        "{set}: RoleBinding {:?} refers to a missing ClusterRole",
                        b.metadata.name
                    )
                })
                .rules
                .clone(),
            other => panic!("{set}: roleRef kind {other}"),
        };
        add(&rules.unwrap_or_default(), &ns);
    }
    for b in r
        .cluster_role_bindings
        .iter()
        .filter(|b| bound(&b.subjects))
    {
        assert_eq!(b.role_ref.kind, "ClusterRole");
        let role = r
            .cluster_roles
            .iter()
            .find(|x| x.metadata.name.as_deref() == Some(&b.role_ref.name))
            .unwrap_or_else(|| {
                panic!(
                    "{set}: ClusterRoleBinding {:?} refers to a missing ClusterRole",
                    b.metadata.name
                )
            });
        add(&role.rules.clone().unwrap_or_default(), "");
    }
    out
}

fn deployment<'a>(set: &str, r: &'a Rendered, component: &str) -> Option<&'a Deployment> {
    let found: Vec<_> = r
        .deployments
        .iter()
        .filter(|d| {
            d.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/component"))
                .map(String::as_str)
                == Some(component)
        })
        .collect();
    assert!(
        found.len() <= 1,
        "{set}: {} Deployments of {component}",
        found.len()
    );
    found.first().copied()
}

fn pod_spec(d: &Deployment) -> &PodSpec {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a Deployment has a pod spec")
}

/// The Lease the chart tells the operator to use (its LEASE_NAME), in the release's
/// namespace (its LEASE_NAMESPACE).
fn lease_name(set: &str, r: &Rendered) -> String {
    let operator = deployment(set, r, "operator").expect("the operator Deployment");
    let env = pod_spec(operator).containers[0]
        .env
        .clone()
        .unwrap_or_default();
    let value = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
            .unwrap_or_else(|| panic!("{set}: the operator has no {name}"))
    };
    assert_eq!(
        value("LEASE_NAMESPACE"),
        NAMESPACE,
        "{set}: LEASE_NAMESPACE"
    );
    value("LEASE_NAME")
}

fn check_rbac(set: &str, r: &Rendered, cluster_wide: bool, watch_ns: &str, shim: bool) {
    let operator = deployment(set, r, "operator").expect("the operator Deployment");
    let operator_sa = pod_spec(operator)
        .service_account_name
        .clone()
        .expect("the operator has a ServiceAccount");
    let got = grants(set, r, &operator_sa);
    let want = expand(OPERATOR);
    let have: BTreeSet<_> = got.keys().cloned().collect();
    assert_eq!(
        have,
        want,
        "{set}: the operator's RBAC differs from rbac::OPERATOR\n  missing: {:?}\n  extra: {:?}",
        want.difference(&have).collect::<Vec<_>>(),
        have.difference(&want).collect::<Vec<_>>()
    );
    // Each grant where rbac::OPERATOR places it, limited by name where it says so: the
    // CRD to the Thumbnail CRD, the Lease to the one the operator is told to use.
    let lease = lease_name(set, r);
    for perm in OPERATOR {
        let namespace = match perm.scope {
            Scope::Cluster => "",
            Scope::Own => NAMESPACE,
            Scope::Watched if cluster_wide => "",
            Scope::Watched => watch_ns,
        };
        let names = match (perm.by_name, perm.resource) {
            (false, _) => vec![],
            (true, "customresourcedefinitions") => vec![CRD_NAME.to_string()],
            (true, "leases") => vec![lease.clone()],
            (true, other) => panic!("which {other} is the operator's own? add it to this test"),
        };
        for verb in perm.verbs {
            let t = (
                perm.group.to_string(),
                perm.resource.to_string(),
                verb.to_string(),
            );
            assert_eq!(
                got[&t],
                BTreeSet::from([(namespace.to_string(), names.clone())]),
                "{set}: {t:?} granted as (namespace, resourceNames) {:?}, rbac::OPERATOR says \
                 {namespace:?} (\"\" = cluster-wide), {names:?}",
                got[&t]
            );
        }
    }

    let shim_sa = deployment(set, r, "api-shim")
        .map(|d| pod_spec(d).service_account_name.clone().expect("shim SA"));
    assert_eq!(
        shim_sa.is_some(),
        shim,
        "{set}: shim Deployment present: {}",
        shim_sa.is_some()
    );
    if let Some(sa) = shim_sa {
        let got = grants(set, r, &sa);
        let have: BTreeSet<_> = got.keys().cloned().collect();
        assert_eq!(
            have,
            expand(SHIM),
            "{set}: the shim's RBAC differs from SHIM"
        );
        // The shim keeps Thumbnails where the operator watches them (the release's
        // namespace when the operator watches all).
        let shim_ns = if cluster_wide { NAMESPACE } else { watch_ns };
        assert!(
            got.values()
                .all(|g| g == &BTreeSet::from([(shim_ns.to_string(), vec![])])),
            "{set}: shim RBAC outside {shim_ns} (or limited by name): {got:?}"
        );
        let shim = deployment(set, r, "api-shim").unwrap();
        let env = pod_spec(shim).containers[0].env.clone().unwrap_or_default();
        let pod_ns = env
            .iter()
            .find(|e| e.name == "POD_NAMESPACE")
            .and_then(|e| e.value.clone());
        assert_eq!(
            pod_ns.as_deref(),
            Some(shim_ns),
            "{set}: the shim's Thumbnail namespace"
        );
    }

    // The uninstall hook: exactly rbac::DRAIN where the operator watches, nothing named.
    let drain_sa = drain_job(set, r).map(|j| {
        job_pod_spec(j)
            .service_account_name
            .clone()
            .expect("the drain Job has a ServiceAccount")
    });
    if let Some(sa) = &drain_sa {
        let got = grants(set, r, sa);
        let have: BTreeSet<_> = got.keys().cloned().collect();
        assert_eq!(
            have,
            expand(DRAIN),
            "{set}: the drain hook's RBAC differs from rbac::DRAIN"
        );
        let ns = if cluster_wide { "" } else { watch_ns };
        assert!(
            got.values()
                .all(|g| g == &BTreeSet::from([(ns.to_string(), vec![])])),
            "{set}: drain RBAC outside {ns:?} (or limited by name): {got:?}"
        );
    }

    // Every other ServiceAccount (the object store) has no permissions at all.
    for sa in &r.service_accounts {
        let name = sa.metadata.name.clone().unwrap_or_default();
        assert_eq!(
            sa.automount_service_account_token,
            Some(false),
            "{set}: ServiceAccount {name} mounts tokens by default"
        );
        if name != operator_sa
            && Some(&name) != drain_sa.as_ref()
            && Some(&name)
                != deployment(set, r, "api-shim")
                    .and_then(|d| pod_spec(d).service_account_name.as_ref())
        {
            assert!(
                grants(set, r, &name).is_empty(),
                "{set}: ServiceAccount {name} has RBAC"
            );
        }
    }
}

/// `probes`: a long-running container (a Deployment's) must have them; a Job's runs
/// to completion and has none.
fn check_container_security(set: &str, owner: &ObjectMeta, c: &Container, probes: bool) {
    let what = format!(
        "{set}: {}/{}",
        owner.name.as_deref().unwrap_or_default(),
        c.name
    );
    let sc = c
        .security_context
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no securityContext"));
    assert_eq!(
        sc.allow_privilege_escalation,
        Some(false),
        "{what}: allowPrivilegeEscalation"
    );
    assert_eq!(
        sc.read_only_root_filesystem,
        Some(true),
        "{what}: readOnlyRootFilesystem"
    );
    assert_eq!(sc.run_as_non_root, Some(true), "{what}: runAsNonRoot");
    assert!(sc.privileged != Some(true), "{what}: privileged");
    let caps = sc
        .capabilities
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no capabilities"));
    assert_eq!(
        caps.drop.as_deref(),
        Some(&["ALL".to_string()][..]),
        "{what}: capabilities.drop"
    );
    assert!(
        caps.add.as_ref().is_none_or(|a| a.is_empty()),
        "{what}: adds capabilities"
    );
    if probes {
        assert!(
            c.liveness_probe.is_some() && c.readiness_probe.is_some(),
            "{what}: probes"
        );
    }
    let res = c
        .resources
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no resources"));
    assert!(
        res.requests
            .as_ref()
            .is_some_and(|r| r.contains_key("cpu") && r.contains_key("memory")),
        "{what}: requests"
    );
    assert!(
        res.limits
            .as_ref()
            .is_some_and(|l| l.contains_key("memory")),
        "{what}: memory limit"
    );
    let image = c.image.as_deref().unwrap_or_default();
    assert!(
        image.contains(':') && !image.ends_with(":latest"),
        "{what}: image {image} is not pinned"
    );
}

/// Restricted Pod Security on a pod spec (the pod-level part).
fn check_pod_security(set: &str, name: &str, spec: &PodSpec) {
    let psc = spec
        .security_context
        .as_ref()
        .unwrap_or_else(|| panic!("{set}: {name}: no pod securityContext"));
    assert_eq!(
        psc.run_as_non_root,
        Some(true),
        "{set}: {name}: pod runAsNonRoot"
    );
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
        Some("RuntimeDefault"),
        "{set}: {name}: seccomp"
    );
    assert!(
        psc.run_as_user.is_some_and(|u| u != 0),
        "{set}: {name}: runAsUser"
    );
    assert!(
        spec.host_network != Some(true)
            && spec.host_pid != Some(true)
            && spec.host_ipc != Some(true),
        "{set}: {name}: host namespaces"
    );
    assert!(
        spec.init_containers.is_none() && spec.ephemeral_containers.is_none(),
        "{set}: {name}: unchecked containers"
    );
}

fn check_pods(set: &str, r: &Rendered) {
    for j in &r.jobs {
        let name = j.metadata.name.clone().unwrap_or_default();
        let spec = job_pod_spec(j);
        check_pod_security(set, &name, spec);
        for c in &spec.containers {
            check_container_security(set, &j.metadata, c, false);
        }
    }
    for d in &r.deployments {
        let spec = pod_spec(d);
        let name = d.metadata.name.clone().unwrap_or_default();
        check_pod_security(set, &name, spec);
        for c in &spec.containers {
            check_container_security(set, &d.metadata, c, true);
        }
        // The selector selects the pod template.
        let selector = d
            .spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .clone()
            .unwrap_or_default();
        let labels = d
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        assert!(
            !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
            "{set}: {name}: selector"
        );
    }
    // Services select a rendered Deployment's pods, and named target ports exist there.
    for s in &r.services {
        let name = s.metadata.name.clone().unwrap_or_default();
        let spec = s.spec.as_ref().unwrap();
        let selector = spec.selector.clone().unwrap_or_default();
        let target = r
            .deployments
            .iter()
            .find(|d| {
                let labels = d
                    .spec
                    .as_ref()
                    .unwrap()
                    .template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .unwrap_or_else(|| panic!("{set}: Service {name} selects no rendered pods"));
        let ports: BTreeSet<_> = pod_spec(target)
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| p.name.clone())
            .collect();
        for p in spec.ports.iter().flatten() {
            if let Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(t)) =
                &p.target_port
            {
                assert!(
                    ports.contains(t),
                    "{set}: Service {name} targets port {t}, the pod has {ports:?}"
                );
            }
        }
    }
    for m in &r.service_monitors {
        let names: BTreeSet<_> = r
            .services
            .iter()
            .flat_map(|s| s.spec.as_ref().unwrap().ports.iter().flatten())
            .filter_map(|p| p.name.clone())
            .collect();
        for e in &m.spec.endpoints {
            assert!(
                names.contains(&e.port),
                "{set}: ServiceMonitor endpoint port {} matches no Service port",
                e.port
            );
        }
    }
}

/// The operator's environment: each variable is one of its flags (or a credential the
/// store reads), and together they parse as its command line.
fn check_operator_env(set: &str, r: &Rendered, watch_ns: &str) {
    let operator = deployment(set, r, "operator").expect("the operator Deployment");
    let container = &pod_spec(operator).containers[0];
    let command = thumbnail_operator::config::Config::command();
    let flags = env_flags(&command);
    let mut argv = vec!["thumbnail-operator".to_string()];
    let mut seen = BTreeSet::new();
    for e in container.env.iter().flatten() {
        assert!(
            seen.insert(e.name.clone()),
            "{set}: operator env {} twice",
            e.name
        );
        if thumbnail_api::store_config::SECRET_ENV.contains(&e.name.as_str()) {
            assert!(
                e.value_from
                    .as_ref()
                    .and_then(|v| v.secret_key_ref.as_ref())
                    .is_some(),
                "{set}: {} not from a Secret",
                e.name
            );
            continue;
        }
        if e.name == "RUST_LOG" {
            continue; // read by tracing's EnvFilter
        }
        // The replica's own name, from the downward API: the Lease holder.
        if e.name == "POD_NAME" {
            assert_eq!(
                e.value_from
                    .as_ref()
                    .and_then(|v| v.field_ref.as_ref())
                    .map(|f| f.field_path.as_str()),
                Some("metadata.name"),
                "{set}: POD_NAME not from the downward API"
            );
            argv.push("--pod-name=thumbnail-operator-5d9c7b-x2x4z".into());
            continue;
        }
        let (long, takes_value) = flags.get(&e.name).unwrap_or_else(|| {
            panic!(
                "{set}: the chart sets {} on the operator, which has no such flag (known: {:?})",
                e.name,
                flags.keys()
            )
        });
        let value = e
            .value
            .clone()
            .unwrap_or_else(|| panic!("{set}: {} has no literal value", e.name));
        argv.extend(env_arg(set, &e.name, long, *takes_value, &value));
    }
    let config =
        thumbnail_operator::config::Config::try_parse_from_args(&argv).unwrap_or_else(|e| {
            panic!("{set}: the operator's environment does not parse: {e}\n{argv:?}")
        });
    assert_eq!(config.namespace, watch_ns, "{set}: WATCH_NAMESPACE");
    // The operator deletes originals only in the shim's uploads bucket: the same bucket.
    assert_eq!(
        config.uploads_bucket(),
        "thumbnails",
        "{set}: UPLOADS_BUCKET"
    );
    // operator.sourcePolicy.allow reaches SOURCE_ALLOW (and parses).
    let allowed = |ns: &str, bucket: &str, key: &str| {
        config
            .source_allow
            .check(ns, bucket, key, config.uploads_bucket())
            .is_ok()
    };
    assert!(
        allowed("team-a", "thumbnails", "originals/team-a/x"),
        "{set}"
    );
    assert!(
        !allowed("team-a", "thumbnails", "originals/team-b/x"),
        "{set}"
    );
    let extra = set == "everything";
    assert_eq!(allowed("team-a", "photos", "cat.jpg"), extra, "{set}");
    assert_eq!(
        allowed("team-b", "media", "shared/team-b/cat.jpg"),
        extra,
        "{set}"
    );
    assert!(
        !allowed("team-b", "media", "shared/team-a/cat.jpg"),
        "{set}"
    );
    assert!(config.command.is_none(), "{set}: the operator reconciles");
    // resizer.resources reach the Jobs (defaults small enough for small nodes).
    let resizer = (
        config.resizer_cpu_request.as_str(),
        config.resizer_memory_request.as_str(),
        config.resizer_cpu_limit.as_str(),
        config.resizer_memory_limit.as_str(),
    );
    let want = if set == "everything" {
        ("250m", "128Mi", "1", "1Gi")
    } else {
        ("100m", "128Mi", "", "")
    };
    assert_eq!(resizer, want, "{set}: resizer requests and limits");
    assert!(config.leader_election(), "{set}: leader election");
    let lease = thumbnail_operator::leader::LeaseSettings::from_config(&config, "ignored")
        .unwrap_or_else(|e| {
            panic!("{set}: the chart's leader election settings are refused: {e:#}")
        });
    assert_eq!(lease.namespace, NAMESPACE, "{set}: the Lease's namespace");
    let replicas = operator.spec.as_ref().and_then(|s| s.replicas);
    let expected = if set == "default" { Some(2) } else { replicas };
    assert_eq!(replicas, expected, "{set}: operator replicas");
    assert!(
        replicas.is_some_and(|n| n >= 1),
        "{set}: operator replicas {replicas:?}"
    );
    assert!(
        matches!(
            config.executor,
            thumbnail_operator::config::ExecutorKind::Jobs
        ),
        "{set}: executor"
    );
    // The chart's imagePullSecrets reach the resizer Jobs too (issue 11 defect 7).
    let pull_secrets: Vec<String> = pod_spec(operator)
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(
        config.resizer_image_pull_secrets, pull_secrets,
        "{set}: RESIZER_IMAGE_PULL_SECRETS"
    );
    if set == "everything" {
        assert_eq!(pull_secrets, ["regcred", "mirror"], "{set}");
    }
    assert!(
        config.resizer_image.contains("/resizer:"),
        "{set}: resizer image {}",
        config.resizer_image
    );
    // The Jobs get the resizer's identity, which the operator names but never mounts.
    let resizer = secret_name(set, "resizer", "s3-resizer");
    assert_eq!(
        config.resizer_credentials_secret, resizer,
        "{set}: RESIZER_CREDENTIALS_SECRET"
    );
}

/// The Secret of one identity: the existing one the value set names, or the chart's.
fn secret_name(set: &str, component: &str, existing: &str) -> String {
    let suffix = if component == "shim" {
        "api-shim"
    } else {
        component
    };
    if set == "everything" && component != "admin" {
        existing.to_string()
    } else if set == "production" {
        format!("thumbnail-s3-{suffix}")
    } else {
        format!("{RELEASE}-s3-{suffix}")
    }
}

/// Every Secret a pod spec reads: env secretKeyRefs, envFrom, volumes.
fn secrets_of(spec: &PodSpec) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for e in c.env.iter().flatten() {
            if let Some(r) = e
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
            {
                out.insert(r.name.clone());
            }
        }
        for e in c.env_from.iter().flatten() {
            if let Some(r) = &e.secret_ref {
                out.insert(r.name.clone());
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(name) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            out.insert(name);
        }
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(r) = &p.secret {
                out.insert(r.name.clone());
            }
        }
    }
    out
}

/// Issue 12 ("one admin key everywhere"): each component reads only its own identity's
/// Secret; the bundled store knows all of them, through the one generator
/// (files/s3-identities.sh, shipped verbatim), and never the AWS_* variables SeaweedFS
/// would turn into an extra admin identity.
fn check_store_identities(set: &str, r: &Rendered) {
    let tokens: BTreeSet<String> = if set == "everything" {
        BTreeSet::from(["api-tokens".to_string()])
    } else if set == "production" {
        BTreeSet::from(["thumbnail-api-tokens".to_string()])
    } else {
        // The token Secret the chart generates (the shim requires a token by default).
        BTreeSet::from(["thumbnail-operator-api-shim-tokens".to_string()])
    };
    let operator = deployment(set, r, "operator").expect("the operator Deployment");
    assert_eq!(
        secrets_of(pod_spec(operator)),
        BTreeSet::from([secret_name(set, "operator", "s3-operator")]),
        "{set}: the operator reads only its own identity's Secret"
    );
    if let Some(shim) = deployment(set, r, "api-shim") {
        let mut want = BTreeSet::from([secret_name(set, "shim", "s3-shim")]);
        want.extend(tokens);
        assert_eq!(
            secrets_of(pod_spec(shim)),
            want,
            "{set}: the shim reads only its own identity's Secret (and its tokens)"
        );
    }
    for job in &r.jobs {
        assert_eq!(
            secrets_of(job_pod_spec(job)),
            BTreeSet::new(),
            "{set}: Job {:?} reads no store credentials",
            job.metadata.name
        );
    }
    let Some(store) = deployment(set, r, "seaweedfs") else {
        return;
    };
    let spec = pod_spec(store);
    let mut want: BTreeSet<String> = ["operator", "shim", "resizer"]
        .iter()
        .zip(["s3-operator", "s3-shim", "s3-resizer"])
        .map(|(c, e)| secret_name(set, c, e))
        .collect();
    want.insert(format!("{RELEASE}-s3-admin"));
    assert_eq!(
        secrets_of(spec),
        want,
        "{set}: the bundled store knows every identity"
    );
    let env: Vec<&str> = spec.containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    for name in thumbnail_api::store_config::SECRET_ENV {
        assert!(
            !env.contains(name),
            "{set}: SeaweedFS gets {name}, which it would make an admin identity of"
        );
    }
    let script = std::fs::read_to_string(
        repo_root().join("charts/thumbnail-operator/files/s3-identities.sh"),
    )
    .expect("the identity generator");
    let shipped = r
        .config_maps
        .iter()
        .find_map(|c| c.data.as_ref()?.get("s3-identities.sh"))
        .unwrap_or_else(|| panic!("{set}: no ConfigMap carries s3-identities.sh"));
    assert_eq!(
        shipped.trim_end(),
        script.trim_end(),
        "{set}: the store runs the generator the tests check"
    );
    let args = spec.containers[0]
        .args
        .clone()
        .unwrap_or_default()
        .join(" ");
    assert!(
        args.contains("sh /etc/thumbnail-operator/s3-identities.sh > /tmp/s3-identities.json")
            && args.contains("-config=/tmp/s3-identities.json"),
        "{set}: the store's identities come from the generator: {args}"
    );
    check_store_listens_on_loopback(set, spec, &args);
}

/// Issue 12, the bundled store: SeaweedFS checks identities only in its S3 API, so every
/// one of its services listens on loopback (`-ip.bind`; `-s3.ip.bind` follows it, and S3's
/// gRPC port with it) and the Pod's only port is the forwarder's S3 port. The S3 gateway
/// starts only once the bucket exists (one started before it sometimes never learned of
/// it), so its `/healthz` is the store's readiness.
fn check_store_listens_on_loopback(set: &str, spec: &PodSpec, args: &str) {
    assert!(
        args.contains(" server ") && args.contains(" s3 "),
        "{set}: SeaweedFS runs its server and its S3 gateway: {args}"
    );
    assert_eq!(
        args.matches("-ip.bind=127.0.0.1").count(),
        2,
        "{set}: both SeaweedFS processes bind loopback only: {args}"
    );
    let (create, gateway) = (args.find("s3.bucket.create"), args.find(" s3 -filer="));
    assert!(
        create.is_some() && gateway.is_some() && create < gateway,
        "{set}: the bucket is created before the S3 gateway starts: {args}"
    );
    for wide in ["0.0.0.0", "-s3.ip.bind", "-ip.bind=::", " mini "] {
        assert!(
            !args.contains(wide),
            "{set}: SeaweedFS listens beyond loopback ({wide}): {args}"
        );
    }
    let ports: Vec<(&str, i32)> = spec
        .containers
        .iter()
        .flat_map(|c| {
            c.ports
                .iter()
                .flatten()
                .map(|p| (c.name.as_str(), p.container_port))
        })
        .collect();
    assert_eq!(
        ports,
        [("s3", 8333)],
        "{set}: the store Pod exposes only the S3 forwarder"
    );
    let forwarder = spec
        .containers
        .iter()
        .find(|c| c.name == "s3")
        .expect("the S3 forwarder container");
    let forward = forwarder.args.clone().unwrap_or_default().join(" ");
    assert!(
        forward.contains("exec nc -ll -p 8333 -e nc 127.0.0.1 \"$S3_LOOPBACK_PORT\""),
        "{set}: the forwarder forwards to the loopback S3 port: {forward}"
    );
    let readiness = spec.containers[0]
        .readiness_probe
        .as_ref()
        .and_then(|p| p.exec.as_ref())
        .and_then(|e| e.command.clone())
        .unwrap_or_default()
        .join(" ");
    assert!(
        readiness.contains("http://127.0.0.1:8334/healthz"),
        "{set}: the store is ready once its S3 gateway (started after the bucket) answers: {readiness:?}"
    );
}

/// A command's flags by the environment variable each reads: env name -> (long flag,
/// whether the flag takes a value).
fn env_flags(command: &clap::Command) -> BTreeMap<String, (String, bool)> {
    command
        .get_arguments()
        .filter_map(|a| {
            Some((
                a.get_env()?.to_str()?.to_string(),
                (a.get_long()?.to_string(), a.get_action().takes_values()),
            ))
        })
        .collect()
}

/// The command-line argument an environment variable stands for (None: a switch that
/// is off).
fn env_arg(set: &str, name: &str, long: &str, takes_value: bool, value: &str) -> Option<String> {
    if takes_value {
        return Some(format!("--{long}={value}"));
    }
    // A switch read from the environment: clap takes "true"/"false" (and 1/0, yes/no,
    // on/off) there; anything else is an error the chart must not make.
    match value {
        "true" | "1" | "yes" | "on" => Some(format!("--{long}")),
        "false" | "0" | "no" | "off" | "" => None,
        other => panic!("{set}: {name} is a switch; {other:?} is neither true nor false"),
    }
}

fn drain_job<'a>(set: &str, r: &'a Rendered) -> Option<&'a Job> {
    let found: Vec<_> = r
        .jobs
        .iter()
        .filter(|j| {
            j.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/component"))
                .map(String::as_str)
                == Some("drain")
        })
        .collect();
    assert!(found.len() <= 1, "{set}: {} drain Jobs", found.len());
    found.first().copied()
}

fn job_pod_spec(j: &Job) -> &PodSpec {
    j.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a Job has a pod spec")
}

/// The uninstall hook: every object of it a pre-delete hook deleted before a new
/// attempt and once it succeeded, the RBAC weighted before the Job; the Job runs the
/// operator image's `drain` with the watched namespace and the chart's timeout.
fn check_drain_hook(set: &str, docs: &[Value], r: &Rendered, watch_ns: &str, timeout: u64) {
    let job = drain_job(set, r).unwrap_or_else(|| panic!("{set}: no drain hook Job"));
    let weight = |doc: &Value| -> i64 {
        doc["metadata"]["annotations"]["helm.sh/hook-weight"]
            .as_str()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("{set}: hook without a weight: {}", doc["metadata"]))
    };
    let hooks: Vec<&Value> = docs
        .iter()
        .filter(|d| !d["metadata"]["annotations"]["helm.sh/hook"].is_null())
        .collect();
    let kinds: BTreeSet<&str> = hooks.iter().filter_map(|d| d["kind"].as_str()).collect();
    let rbac_kinds: BTreeSet<&str> = if watch_ns.is_empty() {
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Job"].into()
    } else {
        ["ServiceAccount", "Role", "RoleBinding", "Job"].into()
    };
    assert_eq!(kinds, rbac_kinds, "{set}: hook objects");
    let job_doc = hooks.iter().find(|d| d["kind"] == "Job").unwrap();
    for h in &hooks {
        let a = &h["metadata"]["annotations"];
        assert_eq!(a["helm.sh/hook"], "pre-delete", "{set}: {}", h["kind"]);
        assert_eq!(
            a["helm.sh/hook-delete-policy"], "before-hook-creation,hook-succeeded",
            "{set}: {}",
            h["kind"]
        );
        if h["kind"] != "Job" {
            assert!(
                weight(h) < weight(job_doc),
                "{set}: {} must exist before the Job (lower hook weight)",
                h["kind"]
            );
        }
    }
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.backoff_limit, Some(0), "{set}: one drain attempt");
    assert!(
        spec.active_deadline_seconds
            .is_some_and(|d| d as u64 > timeout),
        "{set}: the Job's deadline must leave the drain its own timeout"
    );
    let pod = job_pod_spec(job);
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.automount_service_account_token, Some(true));
    let container = &pod.containers[0];
    assert!(
        container
            .image
            .as_deref()
            .is_some_and(|i| i.contains("/operator:")),
        "{set}: the drain runs the operator image"
    );
    assert_eq!(container.args.as_deref(), Some(&["drain".to_string()][..]));
    let command = thumbnail_operator::config::Config::command();
    let top = env_flags(&command);
    let sub = env_flags(
        command
            .find_subcommand("drain")
            .expect("a drain subcommand"),
    );
    let (mut argv, mut sub_argv) = (vec!["thumbnail-operator".to_string()], vec![]);
    for e in container.env.iter().flatten() {
        let value = e
            .value
            .clone()
            .unwrap_or_else(|| panic!("{set}: drain {} has no literal value", e.name));
        if let Some((long, takes)) = top.get(&e.name) {
            argv.extend(env_arg(set, &e.name, long, *takes, &value));
        } else if let Some((long, takes)) = sub.get(&e.name) {
            sub_argv.extend(env_arg(set, &e.name, long, *takes, &value));
        } else {
            panic!("{set}: the drain Job sets {}, which is no flag", e.name);
        }
    }
    argv.push("drain".into());
    argv.extend(sub_argv);
    let config =
        thumbnail_operator::config::Config::try_parse_from_args(&argv).unwrap_or_else(|e| {
            panic!("{set}: the drain Job's environment does not parse: {e}\n{argv:?}")
        });
    assert_eq!(config.namespace, watch_ns, "{set}: the drain's namespace");
    match config.command {
        Some(thumbnail_operator::config::Command::Drain(args)) => {
            assert_eq!(args.timeout_seconds, timeout, "{set}: drain timeout")
        }
        other => panic!("{set}: not the drain subcommand: {other:?}"),
    }
}

/// Clap parsing from an argument list, without the process environment.
trait ParseArgs: Sized {
    fn try_parse_from_args(argv: &[String]) -> Result<Self, clap::Error>;
}
impl ParseArgs for thumbnail_operator::config::Config {
    fn try_parse_from_args(argv: &[String]) -> Result<Self, clap::Error> {
        use clap::FromArgMatches;
        // Drop the `env` sources so a developer's environment cannot change the result.
        let mut command = Self::command();
        let ids: Vec<_> = command
            .get_arguments()
            .map(|a| a.get_id().clone())
            .collect();
        for id in ids {
            command = command.mut_arg(id, |a| a.env(None::<&str>));
        }
        command = command.mut_subcommand("drain", |mut sub| {
            let ids: Vec<_> = sub.get_arguments().map(|a| a.get_id().clone()).collect();
            for id in ids {
                sub = sub.mut_arg(id, |a| a.env(None::<&str>));
            }
            sub
        });
        let matches = command.try_get_matches_from(argv)?;
        Self::from_arg_matches(&matches)
    }
}

#[test]
fn rendered_objects_are_valid_kubernetes_types_with_exact_rbac() {
    for (set, args) in VALUE_SETS {
        let docs = render(set, args);
        let r = parse(set, &docs);
        let cluster_wide = args.contains(&"--set=operator.clusterWide=true");
        let watch_ns = if cluster_wide {
            ""
        } else if args.contains(&"--set=operator.watchNamespace=media") {
            "media"
        } else {
            NAMESPACE
        };
        let shim = !args.contains(&"--set=shim.enabled=false");
        check_rbac(set, &r, cluster_wide, watch_ns, shim);
        check_pods(set, &r);
        check_operator_env(set, &r, watch_ns);
        let timeout = if *set == "everything" { 300 } else { 120 };
        check_drain_hook(set, &docs, &r, watch_ns, timeout);
        assert_eq!(r.crds.len(), 1, "{set}: the chart carries one CRD");
        assert_eq!(r.crds[0].metadata.name.as_deref(), Some(CRD_NAME));
        let store = deployment(set, &r, "seaweedfs").is_some();
        assert_eq!(store, *set != "production", "{set}: bundled store");
        // One Secret per identity the chart generates: operator, shim and resizer unless
        // they name existing ones, and the bundled store's admin. (The shim's generated
        // token Secret: the_shim_requires_a_token_by_default.)
        let generated = match *set {
            "production" => 0,
            "everything" => 1,
            _ => 4,
        };
        let credentials = r
            .secrets
            .iter()
            .filter(|s| s.metadata.name.as_deref() != Some("thumbnail-operator-api-shim-tokens"))
            .count();
        assert_eq!(credentials, generated, "{set}: credentials Secrets");
        check_store_identities(set, &r);
        if *set == "everything" {
            assert_eq!(r.service_monitors.len(), 1, "{set}: ServiceMonitor");
            assert_eq!(r.network_policies.len(), 4, "{set}: NetworkPolicies");
            assert_eq!(r.claims.len(), 1, "{set}: PersistentVolumeClaim");
        }
    }
}

/// The defaults fit any cluster: Kubernetes picks the shim's NodePort (a second release
/// does not collide), and no public URL is assumed (the shim builds links from each
/// request, status.links are relative). kind's `make up` asks for the NodePort
/// kind-config.yaml maps.
#[test]
fn default_values_fit_any_cluster_and_make_up_fits_kind() {
    let shim_service = |r: &Rendered| {
        r.services
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some("thumbnail-operator-api-shim"))
            .expect("the shim Service")
            .spec
            .clone()
            .unwrap()
    };
    let env_of = |d: &Deployment, name: &str| {
        pod_spec(d).containers[0]
            .env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    let r = parse("default", &render("default", &[]));
    let spec = shim_service(&r);
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(
        spec.ports.as_ref().unwrap()[0].node_port,
        None,
        "the default NodePort must be left to Kubernetes"
    );
    let operator = deployment("default", &r, "operator").unwrap();
    let shim = deployment("default", &r, "api-shim").unwrap();
    assert_eq!(env_of(operator, "PUBLIC_BASE_URL").as_deref(), Some(""));
    assert_eq!(env_of(shim, "SHIM_PUBLIC_BASE_URL").as_deref(), Some(""));

    // A chosen base URL still reaches both.
    let r = parse(
        "base-url",
        &render(
            "base-url",
            &["--set=shim.publicBaseUrl=https://thumbs.example.com"],
        ),
    );
    for d in [
        deployment("base-url", &r, "operator").unwrap(),
        deployment("base-url", &r, "api-shim").unwrap(),
    ] {
        let env = env_of(d, "PUBLIC_BASE_URL").or_else(|| env_of(d, "SHIM_PUBLIC_BASE_URL"));
        assert_eq!(env.as_deref(), Some("https://thumbs.example.com"));
    }

    // What `make up` passes for kind: a NodePort kind-config.yaml maps to the host.
    let makefile = std::fs::read_to_string(repo_root().join("Makefile")).expect("Makefile");
    let up = makefile
        .split("\nup:")
        .nth(1)
        .and_then(|rest| rest.split("\n.PHONY").next())
        .expect("the `up` target");
    let set = up
        .split_whitespace()
        .find(|w| w.starts_with("shim.service.nodePort="))
        .expect("make up sets shim.service.nodePort");
    let r = parse("kind", &render("kind", &[&format!("--set={set}")]));
    let node_port = shim_service(&r).ports.as_ref().unwrap()[0].node_port;
    let kind_config =
        std::fs::read_to_string(repo_root().join("kind-config.yaml")).expect("kind-config.yaml");
    let kind: Value = serde_yaml::from_str(&kind_config).expect("kind-config.yaml is YAML");
    let mapped: Vec<i64> = kind["nodes"][0]["extraPortMappings"]
        .as_array()
        .expect("extraPortMappings")
        .iter()
        .filter_map(|m| m["containerPort"].as_i64())
        .collect();
    assert!(
        node_port.is_some_and(|p| mapped.contains(&i64::from(p))),
        "make up's NodePort {node_port:?} is not mapped by kind-config.yaml ({mapped:?})"
    );
}

/// Issue 12: the shim's NodePort is not open by default. The chart generates a token
/// into a Secret, mounts it as a directory (so the kubelet's updates reach the shim,
/// which re-reads it), and points SHIM_TOKEN_FILE at it; an administrator's own Secret
/// replaces it; only requireToken=false serves without a token, and says so explicitly
/// (the binary refuses to serve a non-loopback address without tokens otherwise).
#[test]
fn the_shim_requires_a_token_by_default() {
    let env_of = |d: &Deployment, name: &str| {
        pod_spec(d).containers[0]
            .env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    // (value set, Secret the shim must read its tokens from, generated by the chart)
    let cases: [(&str, &[&str], Option<&str>, bool); 3] = [
        (
            "default",
            &[],
            Some("thumbnail-operator-api-shim-tokens"),
            true,
        ),
        (
            "own-secret",
            &["--set=shim.tokensSecret=api-tokens"],
            Some("api-tokens"),
            false,
        ),
        ("open", &["--set=shim.requireToken=false"], None, false),
    ];
    for (set, args, secret, generated) in cases {
        let r = parse(set, &render(set, args));
        let shim = deployment(set, &r, "api-shim").expect("the shim Deployment");
        let spec = pod_spec(shim);
        let container = &spec.containers[0];
        let volume = spec.volumes.iter().flatten().find(|v| v.name == "tokens");
        let mount = container
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == "tokens");
        let generated_secret = r
            .secrets
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some("thumbnail-operator-api-shim-tokens"));
        match secret {
            Some(secret) => {
                let volume = volume.unwrap_or_else(|| panic!("{set}: no tokens volume"));
                assert_eq!(
                    volume
                        .secret
                        .as_ref()
                        .and_then(|s| s.secret_name.as_deref()),
                    Some(secret),
                    "{set}"
                );
                let mount = mount.unwrap_or_else(|| panic!("{set}: tokens not mounted"));
                assert!(
                    mount.sub_path.is_none(),
                    "{set}: a subPath mount never sees the Secret's updates"
                );
                assert_eq!(
                    env_of(shim, "SHIM_TOKEN_FILE"),
                    Some(format!("{}/tokens", mount.mount_path)),
                    "{set}"
                );
                assert_eq!(env_of(shim, "SHIM_ALLOW_ANONYMOUS"), None, "{set}");
            }
            None => {
                assert!(volume.is_none() && mount.is_none(), "{set}");
                assert_eq!(env_of(shim, "SHIM_TOKEN_FILE"), None, "{set}");
                assert_eq!(
                    env_of(shim, "SHIM_ALLOW_ANONYMOUS").as_deref(),
                    Some("true"),
                    "{set}"
                );
            }
        }
        assert_eq!(generated_secret.is_some(), generated, "{set}");
        if let Some(s) = generated_secret {
            let tokens = s
                .string_data
                .as_ref()
                .and_then(|d| d.get("tokens"))
                .unwrap_or_else(|| panic!("{set}: the generated Secret has no tokens"));
            let token = tokens.trim();
            assert!(
                token.len() >= 32 && token.chars().all(|c| c.is_ascii_alphanumeric()),
                "{set}: a weak generated token {token:?}"
            );
        }
        // The limits against slow and numerous clients are always set.
        assert_eq!(
            env_of(shim, "SHIM_MAX_CONCURRENT_REQUESTS").as_deref(),
            Some("64"),
            "{set}"
        );
        assert_eq!(
            env_of(shim, "SHIM_HEADER_READ_TIMEOUT_SECONDS").as_deref(),
            Some("10"),
            "{set}"
        );
        assert_eq!(
            env_of(shim, "SHIM_MAX_EVENT_STREAMS").as_deref(),
            Some("32"),
            "{set}"
        );
    }
    // Two renderings without a cluster generate two different tokens (in a cluster the
    // Secret's own is reused: e2e helm_upgrade_and_uninstall_leave_nothing_behind).
    let token = |r: &Rendered| {
        r.secrets
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some("thumbnail-operator-api-shim-tokens"))
            .and_then(|s| s.string_data.clone())
            .and_then(|d| d.get("tokens").cloned())
    };
    assert_ne!(
        token(&parse("a", &render("a", &[]))),
        token(&parse("b", &render("b", &[])))
    );
}

#[test]
fn chart_crd_is_the_generated_one() {
    let chart = std::fs::read_to_string(
        repo_root().join("charts/thumbnail-operator/crds/thumbnails.dev_thumbnails.yaml"),
    )
    .expect("the chart's CRD");
    let repo = std::fs::read_to_string(repo_root().join("crds/thumbnails.dev_thumbnails.yaml"))
        .expect("crds/");
    assert!(
        chart == repo,
        "charts/thumbnail-operator/crds/ differs from crds/: run `make crds`"
    );
    let ours: CustomResourceDefinition =
        serde_yaml::from_str(&chart).expect("the chart's CRD parses");
    assert_eq!(
        ours,
        thumbnail_api::crd::crd(),
        "the chart's CRD is not what the code generates: run `make crds`"
    );
}

/// The chart's CRD, applied the way a user's `kubectl apply --server-side -f crds/` (or
/// helm) does, is accepted, Established, and shares ownership with the CRD the other
/// tests install from the Rust types (so it is field-for-field the same).
#[tokio::test]
async fn chart_crd_applies_to_the_api_server() {
    // First the CRD as the other tests install it (server-side apply of crd::crd()).
    testkit::kube::client_with_crd().await;
    let path = repo_root().join("charts/thumbnail-operator/crds/thumbnails.dev_thumbnails.yaml");
    let path = path.to_str().expect("UTF-8 path");
    // Validated by the server (schema of CustomResourceDefinition, CEL compilation).
    kubectl_ok(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=helm-chart-test",
        "-f",
        path,
    ]);
    // No --force-conflicts: if another test applied the CRD, the chart's must be
    // field-for-field the same to share ownership.
    kubectl_ok(&[
        "apply",
        "--server-side",
        "--field-manager=helm-chart-test",
        "-f",
        path,
    ]);
    kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/{CRD_NAME}"),
        "--timeout=30s",
    ]);
    let served: CustomResourceDefinition = serde_json::from_str(&kubectl_ok(&[
        "get",
        &format!("crd/{CRD_NAME}"),
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .expect("a CRD");
    let managers: Vec<_> = served
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.iter().any(|m| m == "helm-chart-test")
            && managers.iter().any(|m| m == "thumbnail-tests"),
        "the chart's CRD and the generated one should share ownership; field managers: {managers:?}"
    );
    let ours: CustomResourceDefinition =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut served_spec = served.spec;
    if ours.spec.conversion.is_none()
        && served_spec
            .conversion
            .as_ref()
            .is_some_and(|c| c.strategy == "None")
    {
        served_spec.conversion = None; // the API server's default
    }
    if ours.spec.names.list_kind.is_none()
        && served_spec.names.list_kind.as_deref() == Some(&format!("{}List", ours.spec.names.kind))
    {
        served_spec.names.list_kind = None; // the API server's default
    }
    let mut out = Vec::new();
    diff(
        "spec",
        &serde_json::to_value(&ours.spec).unwrap(),
        &serde_json::to_value(&served_spec).unwrap(),
        &mut out,
    );
    assert!(
        out.is_empty(),
        "the API server serves a different CRD than the chart's:\n  {}",
        out.join("\n  ")
    );
    // The resource is served: an empty list, as `kubectl get thumbnails` shows it.
    kubectl_ok(&[
        "get",
        "thumbnails",
        "-n",
        &testkit::kube::unique_namespace("chart"),
        "-o",
        "name",
    ]);
}

/// The pod templates' checksum annotations are quoted strings: a hash that happens to be
/// all digits (as 6868668761778170, the checksum of one test install's S3 settings,
/// was) is a YAML number unquoted, and the API server refused the Deployment
/// (".annotations.checksum/s3: expected string"): an install failing about once in
/// 2000 namespaces.
#[test]
fn checksum_annotations_are_quoted() {
    for (set, args) in VALUE_SETS {
        let out = Command::new(helm())
            .current_dir(repo_root())
            .args([
                "template",
                RELEASE,
                "charts/thumbnail-operator",
                "--namespace",
                NAMESPACE,
            ])
            .args(*args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run helm ({}): {e}", helm()));
        assert!(
            out.status.success(),
            "{set}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let checksums: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("checksum/"))
            .collect();
        assert!(!checksums.is_empty(), "{set}: no checksum annotation");
        for line in checksums {
            let value = line.split_once(": ").map(|(_, v)| v.trim()).unwrap_or("");
            assert!(
                value.len() > 2 && value.starts_with('"') && value.ends_with('"'),
                "{set}: an unquoted checksum: {line}"
            );
        }
    }
}
