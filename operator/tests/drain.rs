//! `thumbnail-operator drain` (the chart's pre-delete hook) against the real CRD API
//! server: it deletes every Thumbnail of its namespace, and returns once the operator
//! (here a stand-in that removes the finalizer, as the real one does after deleting the
//! stored objects) has finished them all; without an operator it gives up at its
//! deadline with an error naming what is left.

use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use thumbnail_api::crd::Thumbnail;
use thumbnail_api::metadata::FINALIZER;
use thumbnail_operator::drain::drain;
use thumbnail_testkit as testkit;

async fn create(api: &Api<Thumbnail>, name: &str) {
    let t: Thumbnail = serde_json::from_value(json!({
        "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "metadata": {"name": name, "finalizers": [FINALIZER]},
        "spec": {"source": {"s3": {"key": format!("originals/{name}")}}, "width": 64},
    }))
    .unwrap();
    api.create(&PostParams::default(), &t).await.unwrap();
}

async fn remove_finalizer(api: &Api<Thumbnail>, name: &str) {
    let r = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await;
    match r {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => panic!("removing the finalizer of {name}: {e}"),
    }
}

/// What the operator does with a deleted Thumbnail, reduced to its effect on the API:
/// once it is marked for deletion, its finalizer goes.
fn fake_operator(api: Api<Thumbnail>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
        while let Some(e) = events.next().await {
            let t = match e {
                Ok(watcher::Event::Apply(t) | watcher::Event::InitApply(t)) => t,
                _ => continue,
            };
            if t.metadata.deletion_timestamp.is_some() {
                remove_finalizer(&api, t.metadata.name.as_deref().unwrap()).await;
            }
        }
    })
}

#[tokio::test]
async fn drain_deletes_every_thumbnail_and_waits_for_the_operator() {
    let client = testkit::kube::client_with_crd().await;
    let ns = testkit::kube::unique_namespace("drain");
    let other_ns = testkit::kube::unique_namespace("drain-other");
    let api: Api<Thumbnail> = Api::namespaced(client.clone(), &ns);
    let other: Api<Thumbnail> = Api::namespaced(client.clone(), &other_ns);
    for name in ["a", "b", "c"] {
        create(&api, name).await;
    }
    create(&other, "untouched").await;

    let operator = fake_operator(api.clone());
    let deleted = drain(client.clone(), &ns, Duration::from_secs(60))
        .await
        .expect("drain finishes once the operator removed the finalizers");
    operator.abort();
    assert_eq!(deleted, 3);
    assert!(api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    // Only the watched namespace is drained.
    let left = other.get("untouched").await.unwrap();
    assert!(left.metadata.deletion_timestamp.is_none());
    other
        .delete("untouched", &Default::default())
        .await
        .unwrap();
    remove_finalizer(&other, "untouched").await;

    // An empty namespace drains at once.
    assert_eq!(
        drain(client, &ns, Duration::from_secs(60)).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn drain_without_an_operator_fails_at_its_deadline_naming_what_is_left() {
    let client = testkit::kube::client_with_crd().await;
    let ns = testkit::kube::unique_namespace("drain-stuck");
    let api: Api<Thumbnail> = Api::namespaced(client.clone(), &ns);
    create(&api, "stuck").await;

    let err = drain(client, &ns, Duration::from_secs(2))
        .await
        .expect_err("nothing removes the finalizer");
    let msg = format!("{err:#}");
    assert!(msg.contains(&format!("{ns}/stuck")), "{msg}");
    assert!(msg.contains("still exist after 2 s"), "{msg}");
    assert!(msg.contains("is the operator running"), "{msg}");
    // It was deleted (marked), only the finalizer holds it.
    let t = api.get("stuck").await.unwrap();
    assert!(t.metadata.deletion_timestamp.is_some());
    remove_finalizer(&api, "stuck").await;
}
