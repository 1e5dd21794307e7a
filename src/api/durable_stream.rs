//! Frames towards one stream, each released only once every change made before it
//! was queued is durable, in the order they were queued.
//!
//! A stream's session keeps reading frames while earlier answers wait for the
//! journal, so many changes of one stream share a group commit instead of one stream
//! paying a whole commit per message. Statuses that end the stream go through the same
//! queue, so they never overtake the frames before them.
//!
//! The wait happens where the transport pulls the next frame ([`DurableStream`] is the
//! response body's stream itself): a frame goes from the session to the writer in one
//! hop, and every frame already durable when the writer wakes is written in the same
//! wake-up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::Status;

use crate::storage::{Journal, NotDurable};
use crate::tenants::Tenants;

/// One queued item: what to send, the journal position it waits for, and what to
/// send instead when the journal cannot make the changes before it durable (`None`:
/// end the stream with `UNAVAILABLE`). The alternative is boxed: only confirmations
/// carry one, and every item is moved through the queue whole.
struct Queued<M> {
    after: u64,
    item: Result<M, Status>,
    instead: Option<Box<M>>,
}

impl<M> Queued<M> {
    /// What goes out once the wait for the journal ended with `durable`.
    fn resolve(self, durable: Result<(), NotDurable>) -> Result<M, Status> {
        match durable {
            Ok(()) => self.item,
            Err(e) => match self.instead {
                Some(instead) => Ok(*instead),
                None => Err(Status::unavailable(format!("{e}; reconnect and retry"))),
            },
        }
    }
}

/// A wait for the journal to make a position durable.
type DurableWait = Pin<Box<dyn Future<Output = Result<(), NotDurable>> + Send>>;

/// The session's side of the queue.
#[derive(Debug)]
pub struct DurableSender<M> {
    tenants: Tenants,
    queue: mpsc::Sender<Queued<M>>,
}

/// The transport's side: the stream of a response, yielding each frame once what it
/// reports is durable.
pub struct DurableStream<M> {
    queue: mpsc::Receiver<Queued<M>>,
    /// The journal, when durability is on; without one every frame goes out at once.
    journal: Option<Arc<Journal>>,
    /// The frame at the head of the queue and its wait for the journal.
    waiting: Option<(Queued<M>, DurableWait)>,
    /// Set once a status went out: nothing follows it.
    ended: bool,
}

// Nothing in the stream is pinned in place: frames are moved out whole, and the wait
// is boxed.
impl<M> Unpin for DurableStream<M> {}

impl<M> std::fmt::Debug for DurableStream<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableStream")
            .field("waiting", &self.waiting.is_some())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// A queue of at most `capacity` frames for one stream: the session's sender and the
/// response's stream.
pub fn channel<M>(tenants: &Tenants, capacity: usize) -> (DurableSender<M>, DurableStream<M>) {
    let (queue, rx) = mpsc::channel(capacity);
    let journal = tenants.storage().map(|s| s.journal.clone());
    (
        DurableSender {
            tenants: tenants.clone(),
            queue,
        },
        DurableStream {
            queue: rx,
            journal,
            waiting: None,
            ended: false,
        },
    )
}

impl<M: Send + 'static> DurableSender<M> {
    /// Queues a frame or an ending status; false once the peer is gone.
    pub async fn send(&self, item: Result<M, Status>) -> bool {
        self.push(item, None).await
    }

    /// Queues a frame that confirms a change; `instead` goes out if the journal cannot
    /// write it. False once the peer is gone.
    pub async fn confirm(&self, frame: M, instead: M) -> bool {
        self.push(Ok(frame), Some(Box::new(instead))).await
    }

    async fn push(&self, item: Result<M, Status>, instead: Option<Box<M>>) -> bool {
        let queued = Queued {
            after: self.tenants.journal_mark(),
            item,
            instead,
        };
        self.queue.send(queued).await.is_ok()
    }
}

impl<M> DurableStream<M> {
    /// The wait for `after`, or `None` when it is over already.
    fn wait_for(&self, after: u64) -> Option<DurableWait> {
        let journal = self.journal.as_ref()?;
        let progress = journal.progress();
        if progress.durable >= after && !progress.failing {
            return None;
        }
        let journal = journal.clone();
        Some(Box::pin(async move { journal.wait_for(after).await }))
    }

    fn release(&mut self, queued: Queued<M>, durable: Result<(), NotDurable>) -> Result<M, Status> {
        let item = queued.resolve(durable);
        self.ended = item.is_err();
        item
    }
}

impl<M> Stream for DurableStream<M> {
    type Item = Result<M, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some((_, wait)) = &mut this.waiting {
            let durable = std::task::ready!(wait.as_mut().poll(cx));
            let (queued, _) = this.waiting.take().expect("waiting was just polled");
            return Poll::Ready(Some(this.release(queued, durable)));
        }
        let Some(queued) = std::task::ready!(this.queue.poll_recv(cx)) else {
            return Poll::Ready(None);
        };
        match this.wait_for(queued.after) {
            None => Poll::Ready(Some(this.release(queued, Ok(())))),
            Some(mut wait) => match wait.as_mut().poll(cx) {
                Poll::Ready(durable) => Poll::Ready(Some(this.release(queued, durable))),
                Poll::Pending => {
                    this.waiting = Some((queued, wait));
                    Poll::Pending
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Queued;
    use crate::api::pb::{DeskFrame, GatewayFrame};
    use std::mem::size_of;

    /// Every relayed frame is moved through its stream's queue whole, so a large
    /// variant left unboxed (an offer once made each desk frame 432 bytes, each queued
    /// one 872) costs every message of every conversation.
    #[test]
    fn queued_frames_stay_small() {
        let sizes = [
            ("DeskFrame", size_of::<DeskFrame>()),
            ("Queued<DeskFrame>", size_of::<Queued<DeskFrame>>()),
            ("GatewayFrame", size_of::<GatewayFrame>()),
            ("Queued<GatewayFrame>", size_of::<Queued<GatewayFrame>>()),
        ];
        println!("{sizes:?}");
        for (name, bytes) in sizes {
            assert!(
                bytes <= 256,
                "{name} is {bytes} bytes: box its large variants"
            );
        }
    }
}
