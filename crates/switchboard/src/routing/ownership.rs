//! Which node routes each instance, in a cluster: the one holding the lease `routing/<instance>`
//! in the store (PostgreSQL). Every node tries to take each instance's lease every third of
//! `routing.lease_seconds`; the holder renews it at the same pace and routes the instance, so
//! every queue has exactly one owner at a time. A node that cannot renew (it lost the store, or
//! its lease ran out) stops routing at once; one that dies stops renewing, and another node takes
//! over once the lease has run out, rebuilding the queues from the store. A node shutting down
//! gives its leases up, so another takes over at once.
//!
//! The same loop is each node's heartbeat: it reports its open sockets to every instance's owner,
//! which counts a node silent for a whole lease as gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::router::Router;
use super::tenure::Tenure;

fn lease_name(instance_id: &str) -> String {
    format!("routing/{instance_id}")
}

/// Keeps this node's share of routing until `shutdown`, then gives it up.
pub async fn keep(router: Arc<Router>, shutdown: CancellationToken) {
    let Some(remote) = router.remote().cloned() else {
        return;
    };
    let (store, clock, lease) = (router.store.clone(), router.clock.clone(), router.lease());
    let node = router.node().to_string();
    // A new owner starts without knowing the other nodes' sockets: they report them at once.
    match remote.new_owners().await {
        Ok(taken) => {
            let mut taken = Box::pin(taken);
            let life = router.life().clone();
            let router = router.clone();
            let stop = shutdown.clone();
            life.spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        instance = taken.next() => match instance {
                            Some(instance) => router.report_sockets(&instance),
                            None => return,
                        },
                    }
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot hear of new routing owners"),
    }

    // The instances held here: how long this node may act for each, and the task serving
    // other nodes' requests for it.
    let mut held: HashMap<String, (Arc<Tenure>, JoinHandle<()>)> = HashMap::new();
    let mut every = tokio::time::interval(lease / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        for instance_id in router.instance_ids() {
            let name = lease_name(&instance_id);
            let until = clock.now() + lease;
            let claimed_at = Instant::now();
            let claimed = store.claim_lease(&name, &node, until).await;
            if let (Ok(true), Some((tenure, _))) = (&claimed, held.get(&instance_id)) {
                tenure.renewed(claimed_at, lease);
            }
            let holding = held.contains_key(&instance_id);
            match claimed {
                Ok(true) if !holding => {
                    match take(&router, &instance_id, claimed_at, lease).await {
                        Ok(taken) => {
                            tracing::info!(instance = %instance_id, "routing this instance");
                            held.insert(instance_id.clone(), taken);
                            remote.announce_owner(&instance_id).await;
                        }
                        Err(e) => {
                            tracing::warn!(instance = %instance_id, error = %e, "could not take routing over");
                            router.give_up(&instance_id);
                            let _ = store.release_lease(&name, &node).await;
                        }
                    }
                }
                Ok(true) => {}
                Ok(false) | Err(_) if holding => {
                    tracing::warn!(instance = %instance_id, result = ?claimed, "lost the routing lease; no longer routing this instance");
                    router.give_up(&instance_id);
                    if let Some((_, serving)) = held.remove(&instance_id) {
                        serving.abort();
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(instance = %instance_id, error = %e, "could not reach the store for the routing lease")
                }
            }
            router.report_sockets(&instance_id);
        }
    }
    for (instance_id, (_, serving)) in held {
        router.give_up(&instance_id);
        serving.abort();
        if let Err(e) = store.release_lease(&lease_name(&instance_id), &node).await {
            tracing::warn!(instance = %instance_id, error = %e, "could not give the routing lease up");
        }
    }
}

/// Starts the instance's task here and serves other nodes' requests for it, for a lease claimed
/// at `claimed_at`.
async fn take(
    router: &Router,
    instance_id: &str,
    claimed_at: Instant,
    lease: Duration,
) -> anyhow::Result<(Arc<Tenure>, JoinHandle<()>)> {
    let tenure = Arc::new(Tenure::ended());
    tenure.renewed(claimed_at, lease);
    let commands = router.take(instance_id, tenure.clone()).await?;
    let remote = router.remote().expect("only clusters take instances over");
    let serving = remote.serve(instance_id, commands, tenure.clone()).await?;
    Ok((tenure, serving))
}
