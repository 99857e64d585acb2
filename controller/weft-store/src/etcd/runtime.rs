//! The private tokio runtime the etcd backend runs on.
//!
//! [`crate::Store`] is synchronous, and `weftd` calls it both from
//! `spawn_blocking` threads and, at start-up, straight from async code. A
//! runtime of our own on its own thread makes one code path work from all of
//! them: a call spawns its future here and waits on a plain channel, which
//! never panics the way `Handle::block_on` does inside another runtime.
//! The runtime is dropped on its own thread, because dropping a runtime from
//! async code panics as well.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::StoreError;

const WORKER_NAME: &str = "weft-etcd";

/// Owner of the runtime thread: the runtime lives until this is dropped.
#[derive(Debug)]
pub(crate) struct Runtime {
    handle: Handle,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Runtime {
    pub(crate) fn start() -> Result<Runtime, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(WORKER_NAME)
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the etcd client runtime: {e}"))
            })?;
        let handle = rt.handle().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("weft-etcd-rt".into())
            .spawn(move || {
                // Either a shutdown or the sender dropped: both mean stop.
                let _ = rt.block_on(rx);
                // In-flight calls are abandoned: their callers get an error
                // from the closed reply channel.
                rt.shutdown_background();
            })
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the etcd client thread: {e}"))
            })?;
        Ok(Runtime {
            handle,
            shutdown: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `fut` on the runtime and blocks the calling thread until it
    /// finishes. Callable from any thread, inside a runtime or not.
    pub(crate) fn block<F, T>(&self, fut: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the etcd client runtime stopped during a call".into(),
            ))
        })
    }

    /// Runs `fut` on the runtime; the returned future may be awaited on any
    /// runtime.
    pub(crate) async fn run<F, T>(&self, fut: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn(fut).await.unwrap_or_else(|e| {
            Err(StoreError::Backend(format!(
                "an etcd client task failed: {e}"
            )))
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let tx = self
            .shutdown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Joining is quick (shutdown_background does not wait for tasks),
        // but not if the last owner is dropped on the runtime itself.
        let on_runtime = std::thread::current().name() == Some(WORKER_NAME);
        if let Some(thread) = thread
            && !on_runtime
        {
            let _ = thread.join();
        }
    }
}
