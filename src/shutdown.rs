//! Shutdown signals: SIGTERM (Kubernetes) and Ctrl-C.

use std::future::Future;

/// Resolves on the first SIGTERM or SIGINT. The handlers are installed when this is
/// called, not when the future is first polled, so a SIGTERM that arrives while the
/// server is still starting drains it instead of killing it.
pub fn signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            let (mut terminate, mut interrupt) = match (terminate, interrupt) {
                (Ok(t), Ok(i)) => (t, i),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM or Ctrl-C");
                    return std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("Ctrl-C received; draining"),
                _ = terminate.recv() => tracing::info!("SIGTERM received; draining"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("Ctrl-C received; draining");
    }
}
