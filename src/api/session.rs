//! The loop every stream session runs (adapters, agents, bot workers): whichever
//! comes first of shutdown, outbound work for the peer, or the peer's next frame.

use std::future::Future;
use std::pin::Pin;

use tonic::Streaming;

/// What a session's next turn is.
#[derive(Debug)]
pub(super) enum Turn<W, F> {
    /// Shutdown started: send what is owed, then end with `UNAVAILABLE`.
    Stopped,
    /// Outbound work is ready (what the session's work future yielded).
    Work(W),
    /// The peer sent a frame.
    Frame(F),
    /// The peer closed the stream, or it broke.
    PeerGone,
}

/// Waits for the session's next turn. `stopped` resolves once shutdown starts (a
/// session returns after it); `work` is the session's own outbound source, made
/// afresh each turn.
pub(super) async fn next_turn<W, F>(
    stopped: Pin<&mut impl Future<Output = ()>>,
    work: impl Future<Output = W>,
    inbound: &mut Streaming<F>,
) -> Turn<W, F> {
    tokio::select! {
        () = stopped => Turn::Stopped,
        ready = work => Turn::Work(ready),
        frame = inbound.message() => match frame {
            Ok(Some(frame)) => Turn::Frame(frame),
            Ok(None) | Err(_) => Turn::PeerGone,
        },
    }
}

/// The frame a stream must open with: `None` when the peer left before sending
/// anything, else what `check` makes of the first frame (an error names the field).
pub(super) async fn opening<F, T, E>(
    inbound: &mut Streaming<F>,
    check: impl FnOnce(F) -> Result<T, E>,
) -> Option<Result<T, E>> {
    match inbound.message().await {
        Ok(Some(frame)) => Some(check(frame)),
        Ok(None) | Err(_) => None,
    }
}
