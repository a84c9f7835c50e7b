//! Prometheus metrics of the controller, served on /metrics.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub phase: String,
    pub reason: String,
}

#[derive(Clone)]
pub struct Metrics {
    pub reconciles: Counter,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub runs_finished: Family<OutcomeLabels, Counter>,
    pub run_duration: Histogram,
    pub queue_length: Gauge,
    pub runs_active: Gauge,
    /// 1 while this replica reconciles (holds the Lease, or runs without election).
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Counter::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            runs_finished: Family::default(),
            run_duration: Histogram::new([0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]),
            queue_length: Gauge::default(),
            runs_active: Gauge::default(),
            leader: Gauge::default(),
        }
    }
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("thumbnail");
        r.register("reconciles", "Reconciles started", self.reconciles.clone());
        r.register(
            "reconcile_errors",
            "Reconciles that failed, by error",
            self.reconcile_errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            self.reconcile_duration.clone(),
        );
        r.register(
            "runs_finished",
            "Resizer runs that finished, by phase and reason",
            self.runs_finished.clone(),
        );
        r.register(
            "run_duration_seconds",
            "From run start to its recorded result",
            self.run_duration.clone(),
        );
        r.register(
            "queue_length",
            "Thumbnails waiting for a resizer slot",
            self.queue_length.clone(),
        );
        r.register(
            "runs_active",
            "Resizer runs in progress",
            self.runs_active.clone(),
        );
        r.register(
            "leader",
            "1 on the replica that reconciles (holds the leader Lease), 0 on the others",
            self.leader.clone(),
        );
    }

    pub fn error(&self, label: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                error: label.into(),
            })
            .inc();
    }

    pub fn finished(&self, phase: &str, reason: &str, took: Option<Duration>) {
        let labels = OutcomeLabels {
            phase: phase.into(),
            reason: reason.into(),
        };
        self.runs_finished.get_or_create(&labels).inc();
        if let Some(took) = took {
            self.run_duration.observe(took.as_secs_f64());
        }
    }
}
