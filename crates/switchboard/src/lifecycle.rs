//! The server's life, as every part that runs tasks sees it: the token cancelled when shutdown
//! begins, and the tracker of the tasks that must finish before the store closes.
//!
//! Every long-lived task is spawned through [`Lifecycle::spawn`] (or the tracker), so none is a
//! bare `tokio::spawn` that shutdown could not wait for: serving stops, then the tracked tasks
//! finish (sockets send their close frames, requests run to their end, background duties return
//! when they see the token), and only then does the store close.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Lifecycle {
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
    /// Every task shutdown waits for.
    pub tasks: TaskTracker,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs a task that shutdown waits for. The task watches [`Lifecycle::shutdown`] itself, or
    /// ends when what it serves goes away.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Runs a task that ends when shutdown begins, if it has not ended before.
    pub fn spawn_until_shutdown<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = task => {}
            }
        });
    }
}
