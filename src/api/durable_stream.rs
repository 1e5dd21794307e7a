//! Frames towards one stream, each released only once every change made before it
//! was queued is durable, in the order they were queued.
//!
//! A stream's session keeps reading frames while earlier answers wait for the
//! journal, so many changes of one stream share a group commit instead of one stream
//! paying a whole commit per message. Statuses that end the stream go through the same
//! queue, so they never overtake the frames before them.

use tokio::sync::mpsc;
use tonic::Status;

use crate::hub::Hub;

/// One queued item: what to send, and what to send instead when the journal cannot
/// make the changes before it durable (`None`: end the stream with `UNAVAILABLE`).
struct Queued<M> {
    after: u64,
    item: Result<M, Status>,
    instead: Option<M>,
}

/// The session's side of the queue.
#[derive(Debug)]
pub struct DurableSender<M> {
    hub: Hub,
    /// Through the releasing task, with a journal; straight to the stream without
    /// one (nothing ever waits then, so the extra hop would only cost).
    path: Path<M>,
}

#[derive(Debug)]
enum Path<M> {
    Queued(mpsc::Sender<Queued<M>>),
    Direct(mpsc::Sender<Result<M, Status>>),
}

impl<M: Send + 'static> DurableSender<M> {
    /// A queue of at most `capacity` frames waiting for the journal, in front of the
    /// stream's outbound channel `out`.
    pub fn new(hub: Hub, out: mpsc::Sender<Result<M, Status>>, capacity: usize) -> Self {
        let path = if hub.carries_over() {
            let (queue, rx) = mpsc::channel(capacity);
            tokio::spawn(release(hub.clone(), rx, out));
            Path::Queued(queue)
        } else {
            Path::Direct(out)
        };
        DurableSender { hub, path }
    }

    /// Queues a frame or an ending status; false once the peer is gone.
    pub async fn send(&self, item: Result<M, Status>) -> bool {
        self.push(item, None).await
    }

    /// Queues a frame that confirms a change; `instead` goes out if the journal cannot
    /// write it. False once the peer is gone.
    pub async fn confirm(&self, frame: M, instead: M) -> bool {
        self.push(Ok(frame), Some(instead)).await
    }

    async fn push(&self, item: Result<M, Status>, instead: Option<M>) -> bool {
        match &self.path {
            Path::Direct(out) => out.send(item).await.is_ok(),
            Path::Queued(queue) => {
                let queued = Queued {
                    after: self.hub.journal_mark(),
                    item,
                    instead,
                };
                queue.send(queued).await.is_ok()
            }
        }
    }
}

async fn release<M>(
    hub: Hub,
    mut rx: mpsc::Receiver<Queued<M>>,
    out: mpsc::Sender<Result<M, Status>>,
) {
    while let Some(queued) = rx.recv().await {
        let item = match hub.durable(queued.after).await {
            Ok(()) => queued.item,
            Err(e) => match queued.instead {
                Some(instead) => Ok(instead),
                None => Err(Status::unavailable(format!("{e}; reconnect and retry"))),
            },
        };
        let ends = item.is_err();
        if out.send(item).await.is_err() || ends {
            return;
        }
    }
}
