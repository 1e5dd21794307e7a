//! The loop every stream session runs (adapters, agents, bot workers): whichever
//! comes first of shutdown, outbound work for the peer, or the peer's next frame.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio_stream::Stream;
use tonic::Streaming;

/// Most frames a session takes from its peer in one go: a burst is handled under one
/// tenant lock and one journal append, bounded so one busy stream cannot hold the
/// lock for long.
pub(super) const BURST_FRAMES: usize = 32;

/// What a session's next turn is.
#[derive(Debug)]
pub(super) enum Turn<W, F> {
    /// Shutdown started: send what is owed, then end with `UNAVAILABLE`.
    Stopped,
    /// Outbound work is ready (what the session's work future yielded).
    Work(W),
    /// The peer sent a frame.
    Frame(F),
    /// The peer left: how.
    PeerGone(PeerEnd),
}

/// How a peer's request stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PeerEnd {
    /// The peer half-closed it (`Ok(None)` from [`Streaming::message`]): it meant to
    /// leave.
    Closed,
    /// It broke (an `Err`): the peer reset or cancelled the call, or the connection
    /// failed. The peer may be back shortly.
    Lost,
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
            Ok(None) => Turn::PeerGone(PeerEnd::Closed),
            Err(_) => Turn::PeerGone(PeerEnd::Lost),
        },
    }
}

/// Frames the peer had already sent when a session woke, in order.
#[derive(Debug)]
pub(super) struct Burst<F> {
    /// The frame that woke the session, then those already there, at most
    /// [`BURST_FRAMES`].
    pub(super) frames: Vec<F>,
    /// The peer left right after these frames: how.
    pub(super) peer_gone: Option<PeerEnd>,
}

/// `first`, then every frame the peer has already sent, up to [`BURST_FRAMES`]; never
/// waits for one that has not arrived. Sessions handle a burst as one unit of work,
/// so a busy stream takes the tenant lock once per wake-up instead of once per frame.
pub(super) async fn burst<F>(first: F, inbound: &mut Streaming<F>) -> Burst<F> {
    let mut frames = vec![first];
    let mut peer_gone = None;
    while frames.len() < BURST_FRAMES {
        // Polled once: a frame not there yet ends the burst (its waker stays
        // registered, which only costs a spurious wake-up later).
        let next = std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut *inbound).poll_next(cx) {
                Poll::Ready(next) => Some(next),
                Poll::Pending => None,
            })
        })
        .await;
        match next {
            None => break,
            Some(Some(Ok(frame))) => frames.push(frame),
            Some(Some(Err(_))) => {
                peer_gone = Some(PeerEnd::Lost);
                break;
            }
            Some(None) => {
                peer_gone = Some(PeerEnd::Closed);
                break;
            }
        }
    }
    Burst { frames, peer_gone }
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
