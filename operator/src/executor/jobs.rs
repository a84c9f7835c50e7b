//! Resizer runs as Kubernetes Jobs.
//!
//! One Job per (Thumbnail, generation) with a deterministic name, created with
//! server-side apply so a retried reconcile or a restarted operator never makes a
//! second one. The pod is hardened (non-root, read-only root, no capabilities, no
//! service-account token). The resizer's exit codes drive a podFailurePolicy: a
//! permanent input error fails the Job at once, disruptions are not counted, anything
//! else is retried up to backoffLimit.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerStateTerminated, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    LocalObjectReference, Pod, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecretKeySelector, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PropagationPolicy};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller};
use kube::{Client, Resource, ResourceExt};

use super::{Executor, RunState};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::invocation::{self, Invocation};
use thumbnail_api::crd::Thumbnail;
use thumbnail_api::metadata::{LABEL_GENERATION, LABEL_MANAGED_BY, LABEL_THUMBNAIL, MANAGER};

/// Name of the resizer container (the podFailurePolicy refers to it).
pub const CONTAINER: &str = "resizer";

pub struct JobExecutor {
    client: Client,
    config: std::sync::Arc<Config>,
}

impl JobExecutor {
    pub fn new(client: Client, config: Config) -> Self {
        JobExecutor {
            client,
            config: std::sync::Arc::new(config),
        }
    }

    fn jobs(&self, thumb: &Thumbnail) -> Api<Job> {
        Api::namespaced(self.client.clone(), &thumb.namespace().unwrap_or_default())
    }

    /// Jobs in the watched namespace (all namespaces when it is empty).
    /// A Job not finished: running, still starting, or stuck on something the user must
    /// fix (its Pods, owned by this Job's uid, say which).
    async fn progress(&self, thumb: &Thumbnail, job: &Job) -> Result<RunState> {
        let run_name = job.name_any();
        let uid = job.metadata.uid.as_deref();
        let pods: Api<Pod> =
            Api::namespaced(self.client.clone(), &thumb.namespace().unwrap_or_default());
        let list = pods
            .list(
                &ListParams::default().labels(&format!("batch.kubernetes.io/job-name={run_name}")),
            )
            .await?
            .items;
        let owned = list.iter().filter(|p| owned_by(p, uid));
        let mut starting = true;
        let mut last_failure: Option<(&Pod, ContainerStateTerminated)> = None;
        for pod in owned {
            if let Some((reason, message)) = blocked_reason(pod) {
                return Ok(RunState::Blocked { reason, message });
            }
            if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                starting = false;
            }
            if let Some(t) = terminated(pod).filter(|t| t.exit_code != 0) {
                let newer = last_failure.as_ref().is_none_or(|(p, _)| {
                    p.metadata.creation_timestamp < pod.metadata.creation_timestamp
                });
                if newer {
                    last_failure = Some((pod, t));
                }
            }
        }
        // The Job retries a failed attempt: say so, and why the last one failed.
        let failed = job.status.as_ref().and_then(|s| s.failed).unwrap_or(0);
        if let (true, Some((_, t))) = (failed > 0, last_failure) {
            let why = match invocation::outcome_from_exit(
                t.exit_code,
                t.message.as_deref().unwrap_or(""),
                t.reason.as_deref(),
            ) {
                invocation::RunOutcome::Failed { reason, message } => {
                    format!("{reason}: {message}")
                }
                invocation::RunOutcome::Succeeded(_) | invocation::RunOutcome::Batch(_) => {
                    format!("exit code {}", t.exit_code)
                }
            };
            let limit = job.spec.as_ref().and_then(|s| s.backoff_limit).unwrap_or(6);
            return Ok(RunState::Retrying {
                message: format!(
                    "attempt {} of {}: the previous attempt failed ({why}); retrying",
                    failed + 1,
                    limit + 1
                ),
            });
        }
        Ok(if starting {
            RunState::Starting
        } else {
            RunState::Running
        })
    }

    fn managed_jobs(&self) -> Api<Job> {
        if self.config.namespace.is_empty() {
            Api::all(self.client.clone())
        } else {
            Api::namespaced(self.client.clone(), &self.config.namespace)
        }
    }
}

/// Selects the Jobs this operator made (the controller watches them; the cap counts
/// those of them a Thumbnail controls, see [`is_resizer_run`]).
fn managed_selector() -> String {
    format!("{LABEL_MANAGED_BY}={MANAGER}")
}

impl Executor for JobExecutor {
    fn launch<'a>(
        &'a self,
        members: &'a [&'a Thumbnail],
        run_name: &'a str,
        invocation: &'a Invocation,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let thumb = members[0];
            let mut job = render(thumb, run_name, invocation, &self.config);
            // Every member owns the Job: its changes reconcile each of them, and the
            // garbage collector removes it only once all of them are gone. The first
            // member controls it (one controller reference at most; the cap counts
            // Jobs a Thumbnail controls).
            job.metadata.owner_references = Some(
                members
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| {
                        let mut r = m.controller_owner_ref(&())?;
                        if i > 0 {
                            r.controller = None;
                            r.block_owner_deletion = None;
                        }
                        Some(r)
                    })
                    .collect(),
            );
            self.jobs(thumb)
                .patch(
                    run_name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&job),
                )
                .await?;
            Ok(())
        })
    }

    fn observe<'a>(
        &'a self,
        thumb: &'a Thumbnail,
        run_name: &'a str,
    ) -> BoxFuture<'a, Result<RunState>> {
        Box::pin(async move {
            let Some(job) = self.jobs(thumb).get_opt(run_name).await? else {
                return Ok(RunState::Absent);
            };
            let condition = |t: &str| {
                job.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|cs| cs.iter().find(|c| c.type_ == t && c.status == "True"))
            };
            let (succeeded, failed) = (condition("Complete"), condition("Failed"));
            if succeeded.is_none() && failed.is_none() {
                return self.progress(thumb, &job).await;
            }
            // The result is the termination message of the newest pod of the Job: of the
            // pods it owns (by uid), not of any pod carrying its label — anyone who may
            // create pods in the namespace can set a label, and a result read from such a
            // pod would be believed.
            let pods: Api<Pod> =
                Api::namespaced(self.client.clone(), &thumb.namespace().unwrap_or_default());
            let uid = job.metadata.uid.as_deref();
            let mut list = pods
                .list(
                    &ListParams::default()
                        .labels(&format!("batch.kubernetes.io/job-name={run_name}")),
                )
                .await?
                .items;
            list.retain(|p| owned_by(p, uid));
            list.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
            let outcome = match list.iter().rev().find_map(terminated) {
                Some(t) => invocation::outcome_from_exit(
                    t.exit_code,
                    t.message.as_deref().unwrap_or(""),
                    t.reason.as_deref(),
                ),
                None => {
                    // No pod left to read (e.g. the deadline killed it before it started).
                    let (reason, message) = failed
                        .map(|c| {
                            (
                                c.reason.clone().unwrap_or_default(),
                                c.message.clone().unwrap_or_default(),
                            )
                        })
                        .unwrap_or_default();
                    invocation::outcome_without_result(&reason, &message, succeeded.is_some())
                }
            };
            Ok(RunState::Finished(outcome))
        })
    }

    fn active(&self) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move {
            let jobs = self
                .managed_jobs()
                .list(&ListParams::default().labels(&managed_selector()))
                .await?;
            Ok(jobs
                .items
                .iter()
                .filter(|j| is_resizer_run(j) && !is_finished(j))
                .count())
        })
    }

    fn stop<'a>(&'a self, thumb: &'a Thumbnail, run_name: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            // Foreground: the Job is removed only after its Pods are (their containers
            // stopped), so "the Job is gone" means no resizer of it can still upload.
            // Background deletion removed the Job at once while its Pod went on.
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                ..Default::default()
            };
            let jobs = self.jobs(thumb);
            match jobs.delete(run_name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(true),
                Err(e) => return Err(Error::Kube(e)),
            }
            // Deleted in the foreground, it stays (with a deletionTimestamp) until its
            // Pods are gone; its removal reconciles the Thumbnail through the Job watch.
            Ok(jobs.get_opt(run_name).await?.is_none())
        })
    }

    fn triggers(&self, controller: Controller<Thumbnail>) -> Controller<Thumbnail> {
        // A Job's status change reconciles its owners — every member of a batch, not
        // only the controlling one (`.owns()` would follow that one alone).
        controller.watches(
            self.managed_jobs(),
            watcher::Config::default().labels(&managed_selector()),
            |job: Job| {
                let ns = job.namespace().unwrap_or_default();
                let kind = Thumbnail::kind(&());
                job.metadata
                    .owner_references
                    .unwrap_or_default()
                    .into_iter()
                    .filter(move |o| o.kind == kind)
                    .map(move |o| ObjectRef::new(&o.name).within(&ns))
                    .collect::<Vec<_>>()
            },
        )
    }
}

fn pull_secrets(config: &Config) -> Option<Vec<LocalObjectReference>> {
    let names: Vec<LocalObjectReference> = config
        .resizer_image_pull_secrets
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| LocalObjectReference {
            name: n.to_string(),
        })
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Why a started run's Pod makes no progress, when it is something the user must fix
/// (the image, a Secret, the node's capacity): (reason, message saying what to do).
/// `None` while it merely starts, or runs.
pub fn blocked_reason(pod: &Pod) -> Option<(String, String)> {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let status = pod.status.as_ref()?;
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    if let Some(c) = unschedulable {
        return Some((
            "Unschedulable".into(),
            format!(
                "resizer pod {name} cannot be scheduled: {}; lower operator.maxRunning or resizer.resources requests, or add capacity",
                c.message.as_deref().unwrap_or("no node fits it")
            ),
        ));
    }
    let waiting = status
        .container_statuses
        .iter()
        .flatten()
        .find(|c| c.name == CONTAINER)?
        .state
        .as_ref()?
        .waiting
        .as_ref()?;
    let reason = waiting.reason.as_deref()?;
    let detail = waiting.message.as_deref().unwrap_or("");
    let image = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == CONTAINER))
        .and_then(|c| c.image.as_deref())
        .unwrap_or("?");
    match reason {
        "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => Some((
            reason.into(),
            format!(
                "the resizer image {image} cannot be pulled ({reason}: {}); check resizer.image in the chart values and, for a private registry, imagePullSecrets",
                short(detail)
            ),
        )),
        "CreateContainerConfigError" | "CreateContainerError" => Some((
            reason.into(),
            format!(
                "the resizer container of pod {name} cannot be created ({reason}: {}); check the resizer's S3 credentials Secret in this namespace (chart value s3.credentials.resizer)",
                short(detail)
            ),
        )),
        _ => None,
    }
}

/// The resizer container's final state in `pod`, once it ended.
fn terminated(pod: &Pod) -> Option<ContainerStateTerminated> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == CONTAINER)?
        .state
        .as_ref()?
        .terminated
        .clone()
}

/// The first 200 characters: a kubelet message can carry a registry's whole answer.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// Whether `pod` belongs to the Job whose uid is `job_uid`.
fn owned_by(pod: &Pod, job_uid: Option<&str>) -> bool {
    job_uid.is_some_and(|uid| {
        pod.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == uid)
    })
}

/// Whether `job` is a resizer run: controlled by a Thumbnail (as [`render`] makes it).
/// The managed-by label alone proves nothing — anyone who may create Jobs can set it —
/// and the cap counted such Jobs, so a few foreign ones could stop every run.
pub fn is_resizer_run(job: &Job) -> bool {
    let group = Thumbnail::group(&());
    let kind = Thumbnail::kind(&());
    job.metadata.owner_references.iter().flatten().any(|o| {
        o.controller == Some(true)
            && o.kind == kind
            && o.api_version.split('/').next() == Some(group.as_ref())
    })
}

fn is_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

/// The Job for `run_name`: the resizer's command line from `invocation`, hardened pod,
/// owner reference to the Thumbnail, failure policy from the resizer's exit codes.
/// The resizer container's requests and limits, from the operator's flags (the chart's
/// `resizer.resources`). Without a memory limit of its own, the one derived from the
/// pixel limit applies, so a decompression bomb is OOM-killed rather than the node.
fn resources(invocation: &Invocation, config: &Config) -> ResourceRequirements {
    let quantity = |s: &str| Quantity(s.to_string());
    let mut limits = BTreeMap::from([("memory".to_string(), quantity(&invocation.memory_limit))]);
    if !config.resizer_cpu_limit.is_empty() {
        limits.insert("cpu".into(), quantity(&config.resizer_cpu_limit));
    }
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), quantity(&config.resizer_cpu_request)),
            ("memory".into(), quantity(&config.resizer_memory_request)),
        ])),
        limits: Some(limits),
        ..Default::default()
    }
}

pub fn render(thumb: &Thumbnail, run_name: &str, invocation: &Invocation, config: &Config) -> Job {
    let labels = BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGER.to_string()),
        (
            "app.kubernetes.io/name".to_string(),
            "thumbnail-resizer".to_string(),
        ),
        (
            "app.kubernetes.io/component".to_string(),
            "resizer".to_string(),
        ),
        // A Thumbnail's name may be longer than a label value may be.
        (
            LABEL_THUMBNAIL.to_string(),
            crate::naming::label_value(&thumb.name_any()),
        ),
        (
            LABEL_GENERATION.to_string(),
            thumb.metadata.generation.unwrap_or(0).to_string(),
        ),
    ]);
    let mut env: Vec<EnvVar> = invocation
        .env
        .iter()
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: Some(value.clone()),
            ..Default::default()
        })
        .collect();
    env.extend(invocation.secret_env.iter().map(|name| EnvVar {
        name: name.clone(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: config.resizer_credentials_secret.clone(),
                key: name.clone(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }));
    let container = Container {
        name: CONTAINER.into(),
        image: Some(config.resizer_image.clone()),
        image_pull_policy: Some(config.resizer_image_pull_policy.clone()),
        args: Some(invocation.args.clone()),
        env: Some(env),
        termination_message_policy: Some("File".into()),
        resources: Some(resources(invocation, config)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(run_name.into()),
            namespace: thumb.namespace(),
            labels: Some(labels.clone()),
            owner_references: thumb.controller_owner_ref(&()).map(|r| vec![r]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(config.job_backoff_limit),
            active_deadline_seconds: Some(config.job_deadline_seconds),
            ttl_seconds_after_finished: Some(config.job_ttl_seconds),
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![
                    PodFailurePolicyRule {
                        action: "FailJob".into(),
                        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                            container_name: Some(CONTAINER.into()),
                            operator: "In".into(),
                            values: vec![invocation::EXIT_PERMANENT],
                        }),
                        ..Default::default()
                    },
                    PodFailurePolicyRule {
                        action: "Ignore".into(),
                        on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                            type_: "DisruptionTarget".into(),
                            status: "True".into(),
                        }]),
                        ..Default::default()
                    },
                    // Killed (SIGKILL, 137) without a disruption (the rule above matches
                    // those first, and rules apply in order): the kernel's OOM killer at
                    // the memory limit. The same image needs the same memory on every
                    // attempt, so retrying only burns the backoff.
                    PodFailurePolicyRule {
                        action: "FailJob".into(),
                        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                            container_name: Some(CONTAINER.into()),
                            operator: "In".into(),
                            values: vec![invocation::EXIT_KILLED],
                        }),
                        ..Default::default()
                    },
                ],
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    image_pull_secrets: pull_secrets(config),
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        run_as_group: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "tmp".into(),
                        empty_dir: Some(EmptyDirVolumeSource {
                            size_limit: Some(Quantity("64Mi".into())),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "run-1-abcde"},
            "spec": {"containers": [{"name": CONTAINER, "image": "registry.example/resizer:nope"}]},
            "status": status,
        }))
        .unwrap()
    }

    fn waiting(reason: &str) -> Pod {
        pod(json!({"phase": "Pending", "containerStatuses": [{
            "name": CONTAINER, "image": "registry.example/resizer:nope", "imageID": "", "ready": false,
            "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": "rpc error: not found"}}}]}))
    }

    #[test]
    fn an_image_that_cannot_be_pulled_blocks_with_what_to_do() {
        for reason in ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"] {
            let (code, message) = blocked_reason(&waiting(reason)).expect(reason);
            assert_eq!(code, reason);
            assert!(
                message.contains("registry.example/resizer:nope")
                    && message.contains("imagePullSecrets"),
                "{message}"
            );
        }
        let (code, message) = blocked_reason(&waiting("CreateContainerConfigError")).unwrap();
        assert_eq!(code, "CreateContainerConfigError");
        assert!(message.contains("Secret"), "{message}");
    }

    #[test]
    fn an_unschedulable_pod_blocks_and_names_the_knobs() {
        let p = pod(json!({"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient cpu."}]}));
        let (code, message) = blocked_reason(&p).unwrap();
        assert_eq!(code, "Unschedulable");
        assert!(
            message.contains("Insufficient cpu") && message.contains("maxRunning"),
            "{message}"
        );
    }

    #[test]
    fn starting_and_running_pods_are_not_blocked() {
        assert_eq!(blocked_reason(&waiting("ContainerCreating")), None);
        assert_eq!(blocked_reason(&pod(json!({"phase": "Pending"}))), None);
        let running = pod(json!({"phase": "Running", "containerStatuses": [{
            "name": CONTAINER, "image": "x", "imageID": "", "ready": true, "restartCount": 0,
            "state": {"running": {}}}]}));
        assert_eq!(blocked_reason(&running), None);
    }

    #[test]
    fn image_pull_secrets_reach_the_job_pod() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["thumbnail-operator", "--namespace", "ns"];
            argv.extend(extra);
            Config::try_parse_from(argv).unwrap()
        };
        let names =
            |c: &Config| pull_secrets(c).map(|v| v.into_iter().map(|r| r.name).collect::<Vec<_>>());
        assert_eq!(names(&parse(&[])), None);
        let c = parse(&["--resizer-image-pull-secrets=regcred,mirror"]);
        assert_eq!(
            names(&c),
            Some(vec!["regcred".to_string(), "mirror".to_string()])
        );
    }

    fn container_resources(args: &[&str]) -> ResourceRequirements {
        let config = Config::try_parse_from(
            ["thumbnail-operator", "--max-pixels=1000000"]
                .iter()
                .chain(args),
        )
        .unwrap();
        let thumb: Thumbnail = serde_json::from_value(serde_json::json!({
            "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
            "metadata": {"name": "cat", "namespace": "ns", "uid": "u-1", "generation": 1},
            "spec": {"source": {"s3": {"key": "originals/cat.jpg"}}, "width": 64},
        }))
        .unwrap();
        let invocation = crate::invocation::build(&thumb, &config).unwrap();
        let job = render(&thumb, "cat-g1-x", &invocation, &config);
        let pod = job.spec.unwrap().template.spec.unwrap();
        pod.containers[0].resources.clone().unwrap()
    }

    /// Issue 12: an OOM-killed resizer (exit 137) fails the Job at once instead of being
    /// retried with the same memory; a disruption (also a SIGKILL, but with the
    /// DisruptionTarget condition) is matched first and still ignored.
    #[test]
    fn an_oom_killed_resizer_fails_the_job_and_a_disruption_does_not() {
        let config = Config::try_parse_from(["thumbnail-operator"]).unwrap();
        let thumb: Thumbnail = serde_json::from_value(serde_json::json!({
            "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
            "metadata": {"name": "cat", "namespace": "ns", "uid": "u-1", "generation": 1},
            "spec": {"source": {"s3": {"key": "originals/cat.jpg"}}, "width": 64},
        }))
        .unwrap();
        let invocation = crate::invocation::build(&thumb, &config).unwrap();
        let job = render(&thumb, "cat-g1-x", &invocation, &config);
        let rules = job.spec.unwrap().pod_failure_policy.unwrap().rules;
        let killed = rules
            .iter()
            .position(|r| {
                r.on_exit_codes
                    .as_ref()
                    .is_some_and(|c| c.values == [invocation::EXIT_KILLED])
            })
            .expect("a rule for exit code 137");
        assert_eq!(invocation::EXIT_KILLED, 137);
        assert_eq!(rules[killed].action, "FailJob");
        let on = rules[killed].on_exit_codes.as_ref().unwrap();
        assert_eq!(
            (on.container_name.as_deref(), on.operator.as_str()),
            (Some(CONTAINER), "In")
        );
        let disruption = rules
            .iter()
            .position(|r| r.on_pod_conditions.is_some())
            .expect("a rule for disruptions");
        assert_eq!(rules[disruption].action, "Ignore");
        assert!(disruption < killed, "rules apply in order: {rules:?}");

        // What the user reads, whether the kubelet says OOMKilled or only the code.
        for platform in [Some("OOMKilled"), Some("Error"), None] {
            match invocation::outcome_from_exit(137, "", platform) {
                invocation::RunOutcome::Failed { reason, message } => {
                    assert_eq!(reason, "OutOfMemory", "{platform:?}");
                    assert!(
                        message.contains("resizer.resources.limits.memory")
                            && message.contains("maxPixels"),
                        "{message}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    fn q(map: &Option<BTreeMap<String, Quantity>>, key: &str) -> Option<String> {
        map.as_ref()?.get(key).map(|q| q.0.clone())
    }

    /// The chart's resizer.resources reach the Job; without a memory limit of their own
    /// the one derived from the pixel limit applies.
    #[test]
    fn resizer_resources_come_from_the_flags() {
        let r = container_resources(&[]);
        assert_eq!(q(&r.requests, "cpu").as_deref(), Some("100m"));
        assert_eq!(q(&r.requests, "memory").as_deref(), Some("128Mi"));
        assert_eq!(q(&r.limits, "cpu"), None);
        // 1 Mpx: 25 MB to encode, a quarter more, the 64 MiB source, the runtime.
        assert_eq!(q(&r.limits, "memory").as_deref(), Some("158Mi"));

        let r = container_resources(&[
            "--resizer-cpu-request=50m",
            "--resizer-memory-request=64Mi",
            "--resizer-cpu-limit=1",
            "--resizer-memory-limit=512Mi",
        ]);
        assert_eq!(q(&r.requests, "cpu").as_deref(), Some("50m"));
        assert_eq!(q(&r.requests, "memory").as_deref(), Some("64Mi"));
        assert_eq!(q(&r.limits, "cpu").as_deref(), Some("1"));
        assert_eq!(q(&r.limits, "memory").as_deref(), Some("512Mi"));
    }
}
