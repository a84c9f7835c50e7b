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
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, Pod, PodSecurityContext,
    PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PropagationPolicy};
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
    fn managed_jobs(&self) -> Api<Job> {
        if self.config.namespace.is_empty() {
            Api::all(self.client.clone())
        } else {
            Api::namespaced(self.client.clone(), &self.config.namespace)
        }
    }
}

/// Selects the Jobs this operator made (the cap counts them; the controller watches them).
fn managed_selector() -> String {
    format!("{LABEL_MANAGED_BY}={MANAGER}")
}

impl Executor for JobExecutor {
    fn launch<'a>(
        &'a self,
        thumb: &'a Thumbnail,
        run_name: &'a str,
        invocation: &'a Invocation,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let job = render(thumb, run_name, invocation, &self.config);
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
                return Ok(RunState::Running);
            }
            // The result is the termination message of the newest pod of the Job.
            let pods: Api<Pod> =
                Api::namespaced(self.client.clone(), &thumb.namespace().unwrap_or_default());
            let mut list = pods
                .list(
                    &ListParams::default()
                        .labels(&format!("batch.kubernetes.io/job-name={run_name}")),
                )
                .await?
                .items;
            list.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
            let terminated = list.iter().rev().find_map(|p| {
                p.status
                    .as_ref()?
                    .container_statuses
                    .as_ref()?
                    .iter()
                    .find(|c| c.name == CONTAINER)?
                    .state
                    .as_ref()?
                    .terminated
                    .clone()
            });
            let outcome = match terminated {
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
            Ok(jobs.items.iter().filter(|j| !is_finished(j)).count())
        })
    }

    fn stop<'a>(&'a self, thumb: &'a Thumbnail, run_name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                ..Default::default()
            };
            match self.jobs(thumb).delete(run_name, &params).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(Error::Kube(e)),
            }
        })
    }

    fn triggers(&self, controller: Controller<Thumbnail>) -> Controller<Thumbnail> {
        // A Job's status change reconciles its owner through the watch of owned Jobs.
        controller.owns(
            self.managed_jobs(),
            watcher::Config::default().labels(&managed_selector()),
        )
    }
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
    let mut limits = BTreeMap::from([(
        "memory".to_string(),
        quantity(if config.resizer_memory_limit.is_empty() {
            &invocation.memory_limit
        } else {
            &config.resizer_memory_limit
        }),
    )]);
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
        (LABEL_THUMBNAIL.to_string(), thumb.name_any()),
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
                name: config.s3_credentials_secret.clone(),
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
                ],
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
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
    use clap::Parser as _;

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
        // 1 Mpx: the floor of 64 Mi plus 64 Mi for the runtime.
        assert_eq!(q(&r.limits, "memory").as_deref(), Some("128Mi"));

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
