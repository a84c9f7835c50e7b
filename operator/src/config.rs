//! Operator configuration: command-line flags, each also readable from the environment
//! (the Helm chart sets the environment).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Where resizer runs happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// Kubernetes Jobs (the default, for clusters).
    Jobs,
    /// Child processes of the operator running the resizer binary (no cluster needed).
    Local,
}

/// Subcommands; without one the operator reconciles.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Delete every Thumbnail in the watched namespace(s) and wait until the running
    /// operator has finished them (their stored objects deleted, finalizers removed).
    /// The Helm chart's pre-delete hook, so that an uninstall leaves nothing behind.
    Drain(crate::drain::DrainArgs),
}

#[derive(Clone, Debug, Parser)]
#[command(
    name = "thumbnail-operator",
    version,
    about = "Reconciles Thumbnail resources into resizer Jobs"
)]
pub struct Config {
    /// What to do instead of reconciling.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Namespace to watch; empty watches all namespaces.
    #[arg(long, env = "WATCH_NAMESPACE", default_value = "")]
    pub namespace: String,

    /// How resizer runs are executed.
    #[arg(long, env = "THUMBNAIL_EXECUTOR", value_enum, default_value = "jobs")]
    pub executor: ExecutorKind,

    /// Container image of the resizer (Jobs executor).
    #[arg(
        long,
        env = "RESIZER_IMAGE",
        default_value = "ghcr.io/thumbnail-operator/resizer:0.1.0"
    )]
    pub resizer_image: String,

    /// Secrets (names, comma-separated) the resizer Jobs' Pods pull their image with,
    /// as the chart's `imagePullSecrets` (in each Thumbnail's namespace).
    #[arg(long, env = "RESIZER_IMAGE_PULL_SECRETS", value_delimiter = ',')]
    pub resizer_image_pull_secrets: Vec<String>,

    /// Image pull policy of the resizer container.
    #[arg(
        long,
        env = "RESIZER_IMAGE_PULL_POLICY",
        default_value = "IfNotPresent"
    )]
    pub resizer_image_pull_policy: String,

    /// Path of the resizer binary (local executor).
    #[arg(long, env = "RESIZER_BIN", default_value = "resizer")]
    pub resizer_bin: PathBuf,

    /// Where the local executor records its runs (invocations, results, logs), so an
    /// operator restart resumes them.
    #[arg(
        long,
        env = "LOCAL_STATE_DIR",
        default_value = "/tmp/thumbnail-operator/runs"
    )]
    pub local_state_dir: PathBuf,

    /// First retry delay of the local executor in milliseconds (doubles per retry; a
    /// Job's pod backoff starts at 10 s).
    #[arg(long, env = "LOCAL_BACKOFF_BASE_MS", default_value_t = 1000)]
    pub local_backoff_base_ms: u64,

    /// Most resizer runs at once; further Thumbnails wait as Pending/Queued, oldest first.
    #[arg(long, env = "MAX_RUNNING", default_value_t = 4)]
    pub max_running: usize,

    /// Most queued Thumbnails one resizer run makes (a batch): when a slot frees, the
    /// Thumbnail at the head of the queue takes up to this many of the next waiting
    /// ones of its namespace into its run, which pays one Pod start-up for all of them
    /// and downloads and decodes a source they share once. 1: a run per Thumbnail.
    #[arg(long, env = "BATCH_SIZE", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=thumbnail_api::contract::MAX_BATCH as i64))]
    pub batch_size: u32,

    /// A run taking longer than this fails (Job activeDeadlineSeconds).
    #[arg(long, env = "JOB_DEADLINE_SECONDS", default_value_t = 300)]
    pub job_deadline_seconds: i64,

    /// Finished Jobs are deleted after this long (ttlSecondsAfterFinished).
    #[arg(long, env = "JOB_TTL_SECONDS", default_value_t = 3600)]
    pub job_ttl_seconds: i32,

    /// Retries of a run that failed for a transient reason (Job backoffLimit).
    #[arg(long, env = "JOB_BACKOFF_LIMIT", default_value_t = 3)]
    pub job_backoff_limit: i32,

    /// Name of the Secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) of the resizer's own
    /// object-store identity, in each Thumbnail's namespace: the Jobs' credentials. The
    /// operator only names it, never reads it; its own credentials are its environment's.
    #[arg(
        long,
        env = "RESIZER_CREDENTIALS_SECRET",
        default_value = "thumbnail-s3-resizer"
    )]
    pub resizer_credentials_secret: String,

    /// Bucket for sources that name none, and for every thumbnail.
    #[arg(long, env = "S3_BUCKET", default_value = "thumbnails")]
    pub bucket: String,

    /// The REST shim's uploads bucket (its SHIM_BUCKET); empty: --bucket. A deleted
    /// Thumbnail's source object is deleted only when it is exactly the shim's original
    /// for that Thumbnail: this bucket, key originals/<namespace>/<name>. Thumbnails in
    /// namespace N may always read this bucket's originals/N/ (see --source-allow).
    #[arg(long, env = "UPLOADS_BUCKET", default_value = "")]
    pub uploads_bucket: String,

    /// Sources Thumbnails may read besides their namespace's shim originals
    /// (<uploads bucket>/originals/<namespace>/): rules NAMESPACE=BUCKET/PREFIX
    /// separated by ',' or ';'. NAMESPACE is a namespace or * (all); PREFIX is empty
    /// (the whole bucket) or ends in '/', and may contain {namespace}. E.g.
    /// "team-a=photos/,*=media/shared/{namespace}/". Anything else fails with reason
    /// SourceNotAllowed before a resizer runs.
    #[arg(long, env = "SOURCE_ALLOW", default_value = "", value_parser = crate::source_policy::SourcePolicy::parse)]
    pub source_allow: crate::source_policy::SourcePolicy,

    /// Base URL of the REST API, used in status.links. Empty (the default): the links
    /// are relative to the API's root (/api/v1/thumbnails/<id>); the REST shim answers
    /// with absolute ones built from the URL each client used.
    #[arg(long, env = "PUBLIC_BASE_URL", default_value = "")]
    pub public_base_url: String,

    /// CPU request of each resizer container. The scheduler starts a Job's pod only
    /// where this much is free: max-running x this request must fit the nodes.
    #[arg(long, env = "RESIZER_CPU_REQUEST", default_value = "100m", value_parser = quantity)]
    pub resizer_cpu_request: String,

    /// Memory request of each resizer container.
    #[arg(long, env = "RESIZER_MEMORY_REQUEST", default_value = "128Mi", value_parser = quantity)]
    pub resizer_memory_request: String,

    /// CPU limit of each resizer container; empty: none (the run may use idle CPU).
    #[arg(long, env = "RESIZER_CPU_LIMIT", default_value = "", value_parser = optional_quantity)]
    pub resizer_cpu_limit: String,

    /// Memory limit of each resizer container; empty: derived from the pixel limit
    /// (room to decode the largest accepted image).
    #[arg(long, env = "RESIZER_MEMORY_LIMIT", default_value = "", value_parser = optional_quantity)]
    pub resizer_memory_limit: String,

    /// Address of /metrics and /healthz.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8081")]
    pub metrics_addr: SocketAddr,

    /// The object store (shared with the resizer and the shim).
    #[command(flatten)]
    pub store: thumbnail_api::store_config::StoreConfig,

    /// Limits passed to every resizer run.
    #[command(flatten)]
    pub limits: thumbnail_api::contract::Limits,

    /// Leader election through a coordination.k8s.io Lease, so that of several replicas
    /// exactly one reconciles: on by default with the Jobs executor, off in local mode
    /// (one process on one machine; the CRD-only API server of `make dev` has no Leases).
    #[arg(long, env = "LEADER_ELECTION", value_name = "true|false")]
    pub leader_election: Option<bool>,

    /// Name of the Lease (the Helm chart uses the release's operator name).
    #[arg(long, env = "LEASE_NAME", default_value = "thumbnail-operator")]
    pub lease_name: String,

    /// Namespace of the Lease; empty: the operator's own (its ServiceAccount's, or the
    /// kubeconfig context's).
    #[arg(long, env = "LEASE_NAMESPACE", default_value = "")]
    pub lease_namespace: String,

    /// A leader that has not renewed the Lease for this long loses it to another replica:
    /// the bound on a handover after the leader dies without releasing it.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,

    /// How often the leader renews the Lease; less than the duration, so a renewal can
    /// fail and be retried before the Lease expires.
    #[arg(long, env = "LEASE_RENEW_SECONDS", default_value_t = 5)]
    pub lease_renew_seconds: u64,

    /// This replica's name: the Lease's holderIdentity and the Events' reporting
    /// instance (the chart sets it from the downward API).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,

    /// Log as JSON lines instead of text.
    #[arg(long, env = "LOG_JSON", default_value_t = false)]
    pub log_json: bool,
}

/// A Kubernetes resource quantity as the chart's users write them: a decimal number
/// with an optional suffix (m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei). A bad one is
/// refused at start instead of failing every Job the API server would refuse.
pub fn quantity(s: &str) -> Result<String, String> {
    const SUFFIXES: &[&str] = &[
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E", "",
    ];
    let s = s.trim();
    let number = SUFFIXES
        .iter()
        .find_map(|suffix| s.strip_suffix(suffix))
        .unwrap_or(s);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if number.is_empty() || (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(format!(
            "{s:?} is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)"
        ));
    }
    Ok(s.to_string())
}

/// The value of a quantity [`quantity`] accepted, in its base unit (bytes, cores), for
/// comparing a request with a limit; decimal exponents (`1e3`) are not accepted above.
fn quantity_value(s: &str) -> f64 {
    const SCALE: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let s = s.trim();
    let (number, scale) = SCALE
        .iter()
        .find_map(|(suffix, scale)| Some((s.strip_suffix(suffix)?, *scale)))
        .unwrap_or((s, 1.0));
    number.parse::<f64>().unwrap_or(f64::NAN) * scale
}

fn optional_quantity(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Ok(String::new())
    } else {
        quantity(s)
    }
}

impl Config {
    /// Whether this replica must win the Lease before it reconciles.
    pub fn leader_election(&self) -> bool {
        self.leader_election
            .unwrap_or(self.executor == ExecutorKind::Jobs)
    }

    /// The shim's uploads bucket: --uploads-bucket, or the default bucket.
    pub fn uploads_bucket(&self) -> &str {
        if self.uploads_bucket.is_empty() {
            &self.bucket
        } else {
            &self.uploads_bucket
        }
    }

    /// What flags cannot check one by one: a resizer request above its limit makes the
    /// API server refuse every Job (each Thumbnail would fail with LaunchRejected), so
    /// the operator refuses to start instead, saying which values to change.
    pub fn check(&self) -> Result<(), String> {
        let memory_limit = crate::invocation::resizer_memory_limit(self);
        let pairs = [
            ("memory", &self.resizer_memory_request, &memory_limit, "resizer.resources.limits.memory (--resizer-memory-limit), or raise resizer.maxPixels for a larger derived limit"),
            ("cpu", &self.resizer_cpu_request, &self.resizer_cpu_limit, "resizer.resources.limits.cpu (--resizer-cpu-limit)"),
        ];
        for (what, request, limit, raise) in pairs {
            if !limit.is_empty() && quantity_value(request) > quantity_value(limit) {
                return Err(format!(
                    "the resizer's {what} request {request} is above its limit {limit}: Kubernetes would refuse every Job; lower resizer.resources.requests.{what} (--resizer-{what}-request) or raise {raise}"
                ));
            }
        }
        Ok(())
    }

    pub fn job_deadline(&self) -> Duration {
        Duration::from_secs(self.job_deadline_seconds.max(1) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_checked_at_start() {
        for good in ["100m", "0.5", "2", "128Mi", "1Gi", "1.5G", ".5"] {
            assert_eq!(quantity(good).as_deref(), Ok(good), "{good}");
        }
        for bad in ["", "m", "100mb", "-1", "1 Gi", "one", "1..5", "Mi"] {
            assert!(quantity(bad).is_err(), "{bad}");
        }
        let err = Config::try_parse_from(["thumbnail-operator", "--resizer-cpu-request=lots"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Kubernetes quantity"), "{err}");
    }

    /// A request above its limit (given, or derived from the pixel limit) stops the
    /// operator at start with what to change, instead of every Job being refused.
    #[test]
    fn a_resizer_request_above_its_limit_is_refused_at_start() {
        let check = |args: &[&str]| {
            let mut argv = vec!["thumbnail-operator"];
            argv.extend_from_slice(args);
            Config::try_parse_from(argv).unwrap().check()
        };
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(
            check(&["--resizer-memory-request=1Gi", "--resizer-memory-limit=1Gi"]),
            Ok(())
        );
        assert_eq!(
            check(&["--resizer-cpu-request=500m", "--resizer-cpu-limit=0.5"]),
            Ok(())
        );
        let err = check(&[
            "--resizer-memory-request=2Gi",
            "--resizer-memory-limit=1024Mi",
        ])
        .unwrap_err();
        assert!(
            err.contains("memory request 2Gi is above its limit 1024Mi")
                && err.contains("--resizer-memory-request"),
            "{err}"
        );
        let err = check(&["--resizer-cpu-request=2", "--resizer-cpu-limit=1500m"]).unwrap_err();
        assert!(
            err.contains("cpu request 2 is above its limit 1500m"),
            "{err}"
        );
        // The derived limit: 158Mi at one megapixel (invocation.rs).
        let err = check(&["--max-pixels=1000000", "--resizer-memory-request=512Mi"]).unwrap_err();
        assert!(
            err.contains("above its limit 158Mi") && err.contains("resizer.maxPixels"),
            "{err}"
        );
    }

    /// Nothing assumes a kind cluster: no fixed public URL (links stay relative to the
    /// API root), and resizer requests small enough for small nodes.
    #[test]
    fn defaults_fit_any_cluster() {
        let c = Config::try_parse_from(["thumbnail-operator"]).unwrap();
        assert_eq!(c.public_base_url, "");
        assert_eq!(c.resizer_cpu_request, "100m");
        assert_eq!(c.resizer_memory_request, "128Mi");
        assert_eq!(
            (
                c.resizer_cpu_limit.as_str(),
                c.resizer_memory_limit.as_str()
            ),
            ("", "")
        );
    }
}
