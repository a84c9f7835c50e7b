//! Leader election: of the operator's replicas exactly one reconciles (launches Jobs,
//! writes status), the one holding a `coordination.k8s.io/v1` Lease in the operator's
//! namespace. The others serve /healthz and /metrics and wait.
//!
//! Acquiring and renewing is `kube-lease-manager`'s. What this module adds is the
//! leader's own check that it still holds the Lease ([`Candidate::lost`]): the crate
//! tells a leader that it lost the Lease only at its next renewal, and not at all while
//! renewals fail (it retries, still saying "leader"). A leader that cannot see its own
//! renewal in the Lease stops before the Lease expires, so that when another replica
//! takes it over, the old leader is already gone: two replicas never reconcile at once.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::Config;
use thumbnail_api::metadata::MANAGER;

/// The leader stops this long before the Lease it last saw renewed would expire: the
/// followers' clocks and their reads of the Lease may be a little ahead of its own.
pub const STOP_BEFORE_EXPIRY: Duration = Duration::from_secs(2);

/// How often the leader reads the Lease to check that it still holds it.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Which Lease, held under which name, for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub duration_seconds: u64,
    pub renew_seconds: u64,
}

impl LeaseSettings {
    /// From the flags; the namespace defaults to the client's (in a pod: its own).
    pub fn from_config(config: &Config, default_namespace: &str) -> anyhow::Result<Self> {
        let identity = config.pod_name.clone().filter(|n| !n.is_empty()).context(
            "leader election needs this replica's name as the Lease holder: set --pod-name \
                 or POD_NAME (the Helm chart sets it from the downward API), or run with \
                 --leader-election=false",
        )?;
        let (duration, renew) = (config.lease_duration_seconds, config.lease_renew_seconds);
        let room = STOP_BEFORE_EXPIRY.as_secs() + CHECK_EVERY.as_secs();
        if renew == 0 || renew + room > duration {
            bail!(
                "--lease-renew-seconds={renew} with --lease-duration-seconds={duration}: the \
                 leader must renew at least {room} s before the Lease expires (it stops \
                 {} s before expiry when it cannot see its renewal); e.g. 5 and 15",
                STOP_BEFORE_EXPIRY.as_secs()
            );
        }
        if config.lease_name.is_empty() {
            bail!("--lease-name is empty");
        }
        let namespace = if config.lease_namespace.is_empty() {
            default_namespace.to_string()
        } else {
            config.lease_namespace.clone()
        };
        Ok(LeaseSettings {
            name: config.lease_name.clone(),
            namespace,
            identity,
            duration_seconds: duration,
            renew_seconds: renew,
        })
    }
}

/// What a Lease says about `identity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holding {
    /// Held by `identity`, renewed for the last time so that it expires at `expires`.
    Ours { expires: SystemTime },
    /// Held by someone else, or by nobody (`None`).
    NotOurs(Option<String>),
}

pub fn holding(lease: &Lease, identity: &str) -> Holding {
    let spec = lease.spec.clone().unwrap_or_default();
    match spec.holder_identity {
        Some(holder) if holder == identity => {
            let expires = match (spec.renew_time, spec.lease_duration_seconds) {
                (Some(renewed), Some(seconds)) => {
                    SystemTime::from(renewed.0) + Duration::from_secs(seconds.max(0) as u64)
                }
                // Ours but never renewed: nothing proves it is still valid.
                _ => SystemTime::UNIX_EPOCH,
            };
            Holding::Ours { expires }
        }
        other => Holding::NotOurs(other),
    }
}

/// Why a leader whose Lease is valid until `valid_until` (as far as it has seen) must
/// stop now, if it must.
fn expiring(valid_until: SystemTime) -> Option<String> {
    let left = valid_until
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    (left <= STOP_BEFORE_EXPIRY).then(|| {
        format!(
            "the Lease was not renewed: it expires in {left:?}, when another replica may take it"
        )
    })
}

/// This replica as a candidate for the Lease: `kube-lease-manager` tries to take it
/// and, once held, renews it in a background task.
pub struct Candidate {
    settings: LeaseSettings,
    api: Api<Lease>,
    leader: watch::Receiver<bool>,
    task: JoinHandle<kube_lease_manager::Result<LeaseManager>>,
}

impl Candidate {
    /// Creates the Lease if it does not exist and starts competing for it.
    pub async fn start(client: Client, settings: LeaseSettings) -> anyhow::Result<Self> {
        let manager = LeaseManagerBuilder::new(client.clone(), &settings.name)
            .with_namespace(&settings.namespace)
            .with_identity(&settings.identity)
            .with_duration(settings.duration_seconds)
            // The crate renews this long before expiry.
            .with_grace(settings.duration_seconds - settings.renew_seconds)
            .with_field_manager(format!("{MANAGER}-{}", settings.identity))
            .build()
            .await
            .with_context(|| {
                format!(
                    "reading or creating the Lease {}/{} for leader election (the operator \
                     needs get, create and patch on coordination.k8s.io leases there)",
                    settings.namespace, settings.name
                )
            })?;
        let (leader, task) = manager.watch().await;
        Ok(Candidate {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            leader,
            task,
        })
    }

    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Waits until this replica holds the Lease.
    pub async fn elected(&mut self) -> anyhow::Result<()> {
        let elected = self.leader.wait_for(|leader| *leader).await.is_ok();
        if elected {
            Ok(())
        } else {
            Err(self.stopped().await)
        }
    }

    /// Resolves, with the reason, as soon as this replica can no longer be sure that it
    /// holds the Lease: the lease manager saw another holder, or stopped, or the Lease
    /// read back has another holder, or its last renewal that this replica could see is
    /// about to expire (renewals or reads failing).
    pub async fn lost(&mut self) -> String {
        let duration = Duration::from_secs(self.settings.duration_seconds);
        // Elected just now: the crate renewed it within the last moments.
        let mut valid_until = SystemTime::now() + duration;
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                still = self.leader.wait_for(|leader| !*leader) => {
                    if still.is_ok() {
                        return "the lease manager found the Lease held by another replica".into();
                    }
                    break;
                }
                _ = tick.tick() => {
                    // First what is already known: after this process was frozen or
                    // starved, the Lease it last saw may be expired before any read
                    // returns — it stops before doing anything else.
                    if let Some(why) = expiring(valid_until) {
                        return why;
                    }
                    match self.api.get_opt(&self.settings.name).await {
                        Ok(Some(lease)) => match holding(&lease, &self.settings.identity) {
                            Holding::Ours { expires } => valid_until = expires,
                            Holding::NotOurs(holder) => {
                                return format!("the Lease is held by {}", holder.as_deref().unwrap_or("nobody"));
                            }
                        },
                        Ok(None) => return "the Lease was deleted".into(),
                        Err(e) => warn!(error = %e, "cannot read the Lease to confirm leadership"),
                    }
                    if let Some(why) = expiring(valid_until) {
                        return why;
                    }
                }
            }
        }
        format!("{:#}", self.stopped().await)
    }

    /// Gives the Lease up (so another replica takes over at once, not after its
    /// duration) and stops competing.
    pub async fn resign(self) {
        drop(self.leader);
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(Ok(_))) => debug!("Lease released"),
            Ok(Ok(Err(e))) => {
                warn!(error = %e, "releasing the Lease failed; it expires on its own")
            }
            Ok(Err(e)) => warn!(error = %e, "the lease manager panicked"),
            Err(_) => warn!("releasing the Lease timed out; it expires on its own"),
        }
    }

    /// Why the lease manager's task ended (it runs until the Candidate is dropped).
    async fn stopped(&mut self) -> anyhow::Error {
        match (&mut self.task).await {
            Ok(Ok(_)) => anyhow::anyhow!("the lease manager stopped"),
            Ok(Err(e)) => anyhow::Error::new(e).context("the lease manager stopped"),
            Err(e) => anyhow::Error::new(e).context("the lease manager panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    fn lease(holder: Option<&str>, renewed: Option<Timestamp>, seconds: Option<i32>) -> Lease {
        Lease {
            metadata: Default::default(),
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                renew_time: renewed.map(MicroTime),
                lease_duration_seconds: seconds,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_lease_is_ours_until_its_renewal_plus_duration() {
        let renewed: Timestamp = "2026-01-02T03:04:05.5Z".parse().unwrap();
        let expires = SystemTime::from(renewed) + Duration::from_secs(15);
        assert_eq!(
            holding(&lease(Some("pod-a"), Some(renewed), Some(15)), "pod-a"),
            Holding::Ours { expires }
        );
        assert_eq!(
            holding(&lease(Some("pod-b"), Some(renewed), Some(15)), "pod-a"),
            Holding::NotOurs(Some("pod-b".into()))
        );
        assert_eq!(
            holding(&lease(None, None, None), "pod-a"),
            Holding::NotOurs(None)
        );
        assert_eq!(holding(&Lease::default(), "pod-a"), Holding::NotOurs(None));
        // Ours without a renewal time proves nothing: already expired.
        assert_eq!(
            holding(&lease(Some("pod-a"), None, Some(15)), "pod-a"),
            Holding::Ours {
                expires: SystemTime::UNIX_EPOCH
            }
        );
    }

    fn config(args: &[&str]) -> Config {
        let mut argv = vec!["thumbnail-operator"];
        argv.extend_from_slice(args);
        Config::try_parse_from(argv).unwrap()
    }

    #[test]
    fn settings_default_to_15_s_renewed_every_5_s_in_the_own_namespace() {
        let s = LeaseSettings::from_config(&config(&["--pod-name=op-1"]), "ops").unwrap();
        assert_eq!(
            s,
            LeaseSettings {
                name: "thumbnail-operator".into(),
                namespace: "ops".into(),
                identity: "op-1".into(),
                duration_seconds: 15,
                renew_seconds: 5,
            }
        );
        let s = LeaseSettings::from_config(
            &config(&[
                "--pod-name=op-1",
                "--lease-namespace=other",
                "--lease-name=x",
            ]),
            "ops",
        )
        .unwrap();
        assert_eq!((s.namespace.as_str(), s.name.as_str()), ("other", "x"));
    }

    #[test]
    fn bad_settings_are_refused_with_what_to_set() {
        let err = |args: &[&str]| {
            format!(
                "{:#}",
                LeaseSettings::from_config(&config(args), "ops").unwrap_err()
            )
        };
        // POD_NAME may be set in the environment of whoever runs the tests.
        let no_name = LeaseSettings::from_config(
            &Config {
                pod_name: None,
                ..config(&[])
            },
            "ops",
        )
        .unwrap_err();
        assert!(no_name.to_string().contains("POD_NAME"), "{no_name}");
        let e = err(&["--pod-name=a", "--lease-renew-seconds=14"]);
        assert!(e.contains("--lease-renew-seconds=14"), "{e}");
        let e = err(&["--pod-name=a", "--lease-renew-seconds=0"]);
        assert!(e.contains("renew"), "{e}");
        let e = err(&["--pod-name=a", "--lease-name="]);
        assert!(e.contains("--lease-name"), "{e}");
    }

    #[test]
    fn leader_election_is_on_with_jobs_and_off_in_local_mode_unless_set() {
        assert!(config(&[]).leader_election());
        assert!(!config(&["--executor=local"]).leader_election());
        assert!(config(&["--leader-election=true"]).leader_election());
        assert!(!config(&["--leader-election=false"]).leader_election());
        assert!(!config(&["--executor=local", "--leader-election=false"]).leader_election());
        assert!(config(&["--executor=local", "--leader-election=true"]).leader_election());
    }

    /// A Lease API server in memory (tower-test): GET, create, patch (merge semantics,
    /// enough for the crate's apply and strategic patches of `spec`). Every request
    /// must be granted by rbac::OPERATOR, a named permission only on the Lease by name.
    mod fake {
        use std::sync::{Arc, Mutex};

        use http::{Request, Response};
        use kube::client::Body;
        use kube::Client;
        use serde_json::{json, Value};
        use thumbnail_api::rbac::{request_permission, OPERATOR};

        pub const NAME: &str = "thumbnail-operator";
        pub const NS: &str = "ops";

        #[derive(Default)]
        pub struct State {
            pub lease: Option<Value>,
            /// Answer every request with 500 (an API server out of reach).
            pub failing: bool,
            pub requests: Vec<String>,
        }

        fn merge(into: &mut Value, patch: &Value) {
            match (into, patch) {
                (Value::Object(a), Value::Object(b)) => {
                    for (k, v) in b {
                        if v.is_null() {
                            a.remove(k);
                        } else {
                            merge(a.entry(k.clone()).or_insert(Value::Null), v);
                        }
                    }
                }
                (a, b) => *a = b.clone(),
            }
        }

        fn status(code: u16, reason: &str) -> (u16, Value) {
            (
                code,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "code": code, "reason": reason, "message": reason}),
            )
        }

        pub fn start() -> (Client, Arc<Mutex<State>>) {
            let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let state = Arc::new(Mutex::new(State::default()));
            let shared = state.clone();
            tokio::spawn(async move {
                while let Some((request, send)) = handle.next_request().await {
                    let method = request.method().to_string();
                    let path = request.uri().path().to_string();
                    let query = request.uri().query().unwrap_or_default().to_string();
                    let (group, resource, verb) = request_permission(&method, &path, &query)
                        .unwrap_or_else(|| panic!("unrecognised request {method} {path}"));
                    let granted = OPERATOR.iter().any(|p| {
                        p.group == group
                            && p.resource == resource
                            && p.verbs.contains(&verb.as_str())
                            && (!p.by_name || path.ends_with(&format!("/{NAME}")))
                    });
                    assert!(
                        granted,
                        "{method} {path}: {verb} on {group}/{resource} is not granted by rbac::OPERATOR"
                    );
                    let collection = format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases");
                    let bytes = request.into_body().collect_bytes().await.unwrap();
                    let body: Value = if bytes.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_slice(&bytes).unwrap()
                    };
                    let (code, answer) = {
                        let mut st = shared.lock().unwrap();
                        st.requests.push(format!("{method} {path}"));
                        if st.failing {
                            status(500, "InternalError")
                        } else if method == "POST" && path == collection {
                            if st.lease.is_some() {
                                status(409, "AlreadyExists")
                            } else {
                                let mut lease = body;
                                lease["metadata"]["namespace"] = json!(NS);
                                lease["metadata"]["resourceVersion"] = json!("1");
                                st.lease = Some(lease.clone());
                                (201, lease)
                            }
                        } else if path == format!("{collection}/{NAME}") {
                            match (method.as_str(), st.lease.as_mut()) {
                                (_, None) => status(404, "NotFound"),
                                ("GET", Some(lease)) => (200, lease.clone()),
                                ("PATCH", Some(lease)) => {
                                    let mut patch = body;
                                    if let Some(m) = patch.as_object_mut() {
                                        m.remove("apiVersion");
                                        m.remove("kind");
                                    }
                                    merge(lease, &patch);
                                    (200, lease.clone())
                                }
                                _ => panic!("unexpected {method} {path}"),
                            }
                        } else {
                            panic!("unexpected {method} {path}")
                        }
                    };
                    send.send_response(
                        Response::builder()
                            .status(code)
                            .body(Body::from(answer.to_string().into_bytes()))
                            .unwrap(),
                    );
                }
            });
            (Client::new(service, NS), state)
        }
    }

    fn settings(identity: &str) -> LeaseSettings {
        LeaseSettings {
            name: fake::NAME.into(),
            namespace: fake::NS.into(),
            identity: identity.into(),
            duration_seconds: 4,
            renew_seconds: 1,
        }
    }

    fn holder(state: &std::sync::Mutex<fake::State>) -> Option<String> {
        let st = state.lock().unwrap();
        st.lease.as_ref()?["spec"]["holderIdentity"]
            .as_str()
            .map(str::to_string)
    }

    async fn elected(identity: &str) -> (Candidate, std::sync::Arc<std::sync::Mutex<fake::State>>) {
        let (client, state) = fake::start();
        let mut candidate = Candidate::start(client, settings(identity)).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), candidate.elected())
            .await
            .expect("elected within 10 s")
            .unwrap();
        assert_eq!(holder(&state).as_deref(), Some(identity));
        (candidate, state)
    }

    /// The Lease is created when missing and taken; a graceful stop gives it up, so the
    /// next replica need not wait for it to expire.
    #[tokio::test]
    async fn a_candidate_creates_and_takes_a_missing_lease_and_releases_it_on_resign() {
        let (candidate, state) = elected("pod-a").await;
        let requests = state.lock().unwrap().requests.clone();
        assert!(
            requests
                .iter()
                .any(|r| r == "POST /apis/coordination.k8s.io/v1/namespaces/ops/leases"),
            "{requests:?}"
        );
        candidate.resign().await;
        assert_eq!(holder(&state), None);
    }

    /// Another replica holds the Lease now (the leader was paused past its expiry): the
    /// leader notices within its next check and must stop.
    #[tokio::test]
    async fn a_leader_that_sees_another_holder_has_lost() {
        let (mut candidate, state) = elected("pod-a").await;
        {
            let mut st = state.lock().unwrap();
            let lease = st.lease.as_mut().unwrap();
            lease["spec"]["holderIdentity"] = json!("pod-b");
            lease["spec"]["renewTime"] = json!(MicroTime(Timestamp::now()));
        }
        let why = tokio::time::timeout(Duration::from_secs(5), candidate.lost())
            .await
            .expect("lost within 5 s");
        assert!(
            why.contains("another replica") || why.contains("pod-b"),
            "{why}"
        );
    }

    /// The API server out of reach: the crate cannot renew and keeps retrying (still
    /// "leader"); the leader stops on its own before the Lease it last renewed expires,
    /// which is when another replica may take it.
    #[tokio::test]
    async fn a_leader_that_cannot_renew_stops_before_its_lease_expires() {
        let (mut candidate, state) = elected("pod-a").await;
        // Renewed at least once more, then the API server goes away.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let expires = {
            let mut st = state.lock().unwrap();
            st.failing = true;
            let lease: Lease = serde_json::from_value(st.lease.clone().unwrap()).unwrap();
            match holding(&lease, "pod-a") {
                Holding::Ours { expires } => expires,
                other => panic!("{other:?}"),
            }
        };
        let why = tokio::time::timeout(Duration::from_secs(10), candidate.lost())
            .await
            .expect("stopped within 10 s");
        let stopped = SystemTime::now();
        assert!(why.contains("not renewed"), "{why}");
        assert!(
            stopped < expires,
            "stopped at {stopped:?}, after the Lease expired at {expires:?}"
        );
    }
}
