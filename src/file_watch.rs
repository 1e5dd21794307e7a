//! Watching files that are read again when they change: credentials and TLS
//! certificates, which Kubernetes Secrets and cert-manager replace in place.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Every `every`, until `stopped` resolves, looks at the files' modification times
/// and lengths and calls `changed` when any differs from the last look.
pub async fn on_change(
    files: Vec<PathBuf>,
    every: Duration,
    stopped: impl Future<Output = ()>,
    mut changed: impl FnMut(),
) {
    if every.is_zero() || files.is_empty() {
        return;
    }
    let mut seen = fingerprint(&files);
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = &mut stopped => return,
        }
        let now = fingerprint(&files);
        if now != seen {
            seen = now;
            changed();
        }
    }
}

/// Modification time and length of each file: a change in any means read again.
fn fingerprint(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}
