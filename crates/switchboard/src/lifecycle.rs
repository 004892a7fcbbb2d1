//! The server's life, as every part that runs tasks sees it. No long-lived task is a bare
//! `tokio::spawn` that shutdown could not wait for: each runs under one of two trackers, and
//! [`Lifecycle::finish`] ends them in an order that loses nothing.
//!
//! 1. The **front**: requests (which run to their end even if the client hangs up), sockets and
//!    the duties that watch [`Lifecycle::shutdown`]. Shutdown cancels the token; sockets send
//!    their close frames; requests finish.
//! 2. The **background**: what requests lean on while they finish (the routers' tasks, the bus
//!    and cluster links, routing's effects, the notices follower). It is stopped only once the
//!    front has finished, so a request that is still running never finds its router gone.
//!
//! Then the store closes.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Lifecycle {
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
    /// The front's tasks: requests, sockets and duties that watch `shutdown`.
    pub tasks: TaskTracker,
    /// Cancelled once the front has finished.
    background_stop: CancellationToken,
    background: TaskTracker,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs a front task, which watches [`Lifecycle::shutdown`] itself or ends on its own.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Runs a background task: until it ends on its own, or until every front task has
    /// finished during shutdown.
    pub fn spawn_background<F>(&self, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = self.background_stop.clone();
        self.background.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = task => {}
            }
        })
    }

    /// The shutdown sequence, each stage given at most `patience`: the front is told to stop
    /// and awaited, then the background. Returns whether everything finished in time.
    pub async fn finish(&self, patience: Duration) -> bool {
        self.shutdown.cancel();
        self.tasks.close();
        let front = tokio::time::timeout(patience, self.tasks.wait())
            .await
            .is_ok();
        self.background_stop.cancel();
        self.background.close();
        let background = tokio::time::timeout(patience, self.background.wait())
            .await
            .is_ok();
        front && background
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn the_background_outlives_every_front_task() {
        let life = Lifecycle::new();
        let (release, released) = oneshot::channel::<()>();
        let (background_saw, saw) = oneshot::channel::<bool>();
        let front_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = front_done.clone();
        life.spawn(async move {
            let _ = released.await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let done = front_done.clone();
        let mut background_saw = Some(background_saw);
        life.spawn_background(async move {
            // Runs until stopped; dropped when the background stops.
            struct Report(
                Option<oneshot::Sender<bool>>,
                std::sync::Arc<std::sync::atomic::AtomicBool>,
            );
            impl Drop for Report {
                fn drop(&mut self) {
                    let done = self.1.load(std::sync::atomic::Ordering::SeqCst);
                    let _ = self.0.take().unwrap().send(done);
                }
            }
            let _report = Report(background_saw.take(), done);
            std::future::pending::<()>().await
        });
        let finishing = tokio::spawn({
            let life = life.clone();
            async move { life.finish(Duration::from_secs(10)).await }
        });
        release.send(()).unwrap();
        assert!(finishing.await.unwrap(), "everything finished");
        assert!(
            saw.await.unwrap(),
            "the background stopped only after the front task finished"
        );
    }
}
