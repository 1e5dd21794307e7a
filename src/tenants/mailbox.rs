//! Bounded mailboxes between the router and the streams that deliver its notices.
//!
//! The router runs under a tenant lock and must never wait on a network peer, so its
//! notices go into a mailbox and the stream task that owns the connection is woken to
//! send them. The bounds keep a slow or absent peer from growing memory without limit;
//! what does not fit is counted and logged, never dropped silently.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::outbound::NotificationId;
use crate::routing::{AgentNotice, AssistSuggestions, CustomerNotice, CustomerNoticeBody, Millis};
use crate::telemetry::metrics;

/// The router's side of an agent session's mailbox: a lock-free queue, so the session
/// drains it without taking the tenant lock. It is bounded by a count kept beside it
/// rather than by a preallocated ring, so an idle desk costs a few hundred bytes, not
/// room for every notice it might one day hold. A clone reaches the same session (the
/// matching pool keeps one to send suggestions without the tenant lock).
#[derive(Debug, Clone)]
pub struct AgentMailbox {
    /// Notices towards the session.
    tx: crossbeam_channel::Sender<AgentNotice>,
    /// Notices queued and not yet taken.
    queued: Arc<AtomicUsize>,
    /// Most notices queued.
    limit: usize,
    /// Token of the session that owns this mailbox.
    pub token: u64,
    /// Set when a newer session of the same agent took over: this one must end.
    replaced: Arc<AtomicBool>,
    /// Set when a notice did not fit: the session must end and the agent's
    /// conversations be routed again.
    overflowed: Arc<AtomicBool>,
    /// Wakes the session task.
    notify: Arc<Notify>,
}

/// The session's side of an agent mailbox.
#[derive(Debug)]
pub struct AgentInbox {
    /// Notices from the router, in order.
    rx: crossbeam_channel::Receiver<AgentNotice>,
    /// Notices queued and not yet taken.
    queued: Arc<AtomicUsize>,
    /// Set when a newer session of the same agent took over.
    replaced: Arc<AtomicBool>,
    /// Set when a notice was refused for lack of room.
    overflowed: Arc<AtomicBool>,
    /// Signalled after every push.
    pub notify: Arc<Notify>,
}

impl AgentMailbox {
    /// A mailbox holding at most `limit` notices for the session with `token`, and
    /// the session's end of it.
    pub fn new(limit: usize, token: u64) -> (AgentMailbox, AgentInbox) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let overflowed = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(Notify::new());
        let queued = Arc::new(AtomicUsize::new(0));
        let replaced = Arc::new(AtomicBool::new(false));
        let inbox = AgentInbox {
            rx,
            queued: queued.clone(),
            replaced: replaced.clone(),
            overflowed: overflowed.clone(),
            notify: notify.clone(),
        };
        (
            AgentMailbox {
                tx,
                queued,
                limit,
                token,
                replaced,
                overflowed,
                notify,
            },
            inbox,
        )
    }

    /// Tells the session it was replaced by a newer one of the same agent.
    pub fn end_replaced(&self) {
        self.replaced.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Adds a notice and wakes the session.
    pub fn push(&self, notice: AgentNotice) {
        self.file(notice);
        self.notify.notify_one();
    }

    /// Adds a notice without waking the session; the caller wakes it through
    /// [`AgentMailbox::waker`] once it has let go of the tenant lock.
    pub fn file(&self, notice: AgentNotice) {
        let fits = self.queued.fetch_add(1, Ordering::AcqRel) < self.limit;
        if !fits || self.tx.send(notice).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            if !self.overflowed.swap(true, Ordering::AcqRel) {
                tracing::warn!("agent session reads too slowly; ending it");
            }
            metrics::record_dropped("agent_mailbox_full");
        }
    }

    /// What wakes the session.
    pub fn waker(&self) -> &Arc<Notify> {
        &self.notify
    }
}

impl AgentMailbox {
    /// Adds agent-assist suggestions. Unlike [`AgentMailbox::push`], a full or closed
    /// mailbox drops them (counted) without ending the session: they only help.
    pub fn push_suggestions(&self, suggestions: AssistSuggestions) {
        let fits = self.queued.fetch_add(1, Ordering::AcqRel) < self.limit;
        let notice = AgentNotice::Suggestions(Box::new(suggestions));
        if !fits || self.tx.send(notice).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            metrics::record_matching("assist", "dropped_mailbox");
            return;
        }
        metrics::record_assist();
        self.notify.notify_one();
    }
}

impl AgentInbox {
    /// Takes every waiting notice.
    pub fn take(&self) -> Vec<AgentNotice> {
        let notices: Vec<AgentNotice> = self.rx.try_iter().collect();
        self.queued.fetch_sub(notices.len(), Ordering::AcqRel);
        notices
    }

    /// Whether a newer session of the same agent took over.
    pub fn replaced(&self) -> bool {
        self.replaced.load(Ordering::Acquire)
    }

    /// Whether a notice was refused because the inbox was full.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }
}

/// A delivery with its per-adapter id.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// Increasing per adapter, acknowledged by the adapter.
    pub id: u64,
    /// What to deliver; shared, so handing unsent deliveries to the stream under the
    /// tenant lock copies a pointer, not the text.
    pub notice: Arc<CustomerNotice>,
}

/// Bytes a delivery is counted as: its text, buttons and ids, plus the fixed part.
pub fn delivery_bytes(notice: &CustomerNotice) -> usize {
    const FIXED: usize = 128;
    let body = match &notice.body {
        CustomerNoticeBody::Message { text, buttons, .. } => {
            text.len()
                + buttons
                    .iter()
                    .map(|b| b.label.len() + b.payload.len() + 16)
                    .sum::<usize>()
        }
        CustomerNoticeBody::Closed(_) => 0,
        CustomerNoticeBody::Notification(n) => {
            n.text.len()
                + n.template.len()
                + n.buttons
                    .iter()
                    .map(|b| b.label.len() + b.payload.len() + 16)
                    .sum::<usize>()
        }
    };
    FIXED + body + notice.channel_conversation_id.len() + notice.customer_id.len()
}

/// A delivery the mailbox had no room for; nothing already queued was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxFull;

/// One adapter id's mailbox, shared by the tenant (which files deliveries under its
/// lock) and the adapter's stream (which takes and acknowledges them without the
/// tenant lock: relaying to a customer never waits on the router).
#[derive(Debug, Clone)]
pub struct AdapterOutbox(Arc<Mutex<AdapterMailbox>>);

impl AdapterOutbox {
    /// An empty outbox holding at most `limit` deliveries and `byte_limit` bytes.
    pub fn new(limit: usize, byte_limit: usize) -> AdapterOutbox {
        AdapterOutbox(Arc::new(Mutex::new(AdapterMailbox::new(limit, byte_limit))))
    }

    /// The mailbox, locked. Every change to it is whole before the lock is let go, so
    /// a panic elsewhere under it leaves nothing half-done: the lock is taken anyway.
    pub fn lock(&self) -> MutexGuard<'_, AdapterMailbox> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Deliveries for one adapter id. They stay until acknowledged, across reconnects.
#[derive(Debug)]
pub struct AdapterMailbox {
    /// Unacknowledged deliveries, oldest first.
    deliveries: VecDeque<Delivery>,
    /// Id of the next delivery.
    next_id: u64,
    /// Highest id written to the current stream.
    sent_up_to: u64,
    /// The stream connected now, if any: its token, and the signal that ends it when
    /// a newer stream of the same adapter id replaces it.
    connection: Option<(u64, Arc<Notify>)>,
    /// Most deliveries kept.
    limit: usize,
    /// Bytes of the deliveries kept.
    bytes: usize,
    /// Most bytes kept.
    byte_limit: usize,
    /// Wakes the connected stream task; each connection gets its own, so a replaced
    /// stream can never take a wake-up (or deliveries) meant for its successor.
    notify: Arc<Notify>,
    /// The highest acknowledgement not journaled yet, and when it came.
    unjournaled_ack: Option<(u64, Millis)>,
    /// Notifications acknowledged since the tenant last asked, to mark delivered.
    delivered_notifications: Vec<NotificationId>,
}

/// What a stream gets when it attaches to a mailbox.
#[derive(Debug)]
pub struct Attached {
    /// Signalled when a newer stream of the same adapter id replaces this one.
    pub replaced: Arc<Notify>,
    /// Signalled when there is something to send.
    pub wake: Arc<Notify>,
    /// Deliveries waiting (unsent or unacknowledged).
    pub pending: usize,
}

impl AdapterMailbox {
    /// An empty mailbox holding at most `limit` deliveries and `byte_limit` bytes.
    pub fn new(limit: usize, byte_limit: usize) -> AdapterMailbox {
        AdapterMailbox {
            deliveries: VecDeque::new(),
            next_id: 1,
            sent_up_to: 0,
            connection: None,
            limit,
            bytes: 0,
            byte_limit,
            notify: Arc::new(Notify::new()),
            unjournaled_ack: None,
            delivered_notifications: Vec::new(),
        }
    }

    /// Whether a delivery of `bytes` fits now.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.deliveries.len() < self.limit && self.bytes + bytes <= self.byte_limit
    }

    /// Whether the undelivered or unacknowledged deliveries fill nine tenths of the
    /// mailbox, by count or by bytes: new messages from the adapter are then refused.
    pub fn is_backlogged(&self) -> bool {
        self.deliveries.len() * 10 >= self.limit * 9 || self.bytes * 10 >= self.byte_limit * 9
    }

    /// Adds a delivery; returns what wakes the stream, for the caller to signal once
    /// it has let go of its locks. When there is no room the delivery is refused
    /// (nothing queued is dropped); the caller counts it and tells its sender.
    pub fn push(&mut self, notice: CustomerNotice) -> Result<Arc<Notify>, MailboxFull> {
        let bytes = delivery_bytes(&notice);
        if !self.has_room(bytes) {
            return Err(MailboxFull);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.bytes += bytes;
        self.deliveries.push_back(Delivery {
            id,
            notice: Arc::new(notice),
        });
        Ok(self.notify.clone())
    }

    /// Attaches a stream; every unacknowledged delivery will be sent again. A stream
    /// attached before is told to end.
    pub fn connect(&mut self, token: u64) -> Attached {
        if let Some((_, older)) = self.connection.take() {
            older.notify_one();
        }
        let replaced = Arc::new(Notify::new());
        self.connection = Some((token, replaced.clone()));
        self.notify = Arc::new(Notify::new());
        self.sent_up_to = self.deliveries.front().map_or(self.next_id, |d| d.id) - 1;
        self.notify.notify_one();
        Attached {
            replaced,
            wake: self.notify.clone(),
            pending: self.deliveries.len(),
        }
    }

    /// Detaches the stream with this token (a stale token does nothing).
    pub fn disconnect(&mut self, token: u64) {
        if self.connection.as_ref().is_some_and(|(t, _)| *t == token) {
            self.connection = None;
        }
    }

    /// Deliveries not yet written to the stream with `token`; `None` when that stream
    /// is no longer the one attached. Ids increase along the queue, so the unsent ones
    /// are found by binary search, not by a walk over every unacknowledged delivery.
    pub fn take_unsent(&mut self, token: u64) -> Option<Vec<Delivery>> {
        if self.connection.as_ref().is_none_or(|(t, _)| *t != token) {
            return None;
        }
        let first_unsent = self.deliveries.partition_point(|d| d.id <= self.sent_up_to);
        let unsent: Vec<Delivery> = self.deliveries.range(first_unsent..).cloned().collect();
        if let Some(last) = unsent.last() {
            self.sent_up_to = last.id;
        }
        Some(unsent)
    }

    /// Deliveries kept: not yet sent, or sent and not acknowledged.
    pub fn len(&self) -> usize {
        self.deliveries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// What a snapshot keeps: the deliveries not acknowledged and the next id.
    pub fn saved(&self) -> (&VecDeque<Delivery>, u64) {
        (&self.deliveries, self.next_id)
    }

    /// Puts back what [`AdapterMailbox::saved`] kept; no stream is attached yet.
    pub fn restore(&mut self, deliveries: VecDeque<Delivery>, next_id: u64) {
        self.bytes = deliveries.iter().map(|d| delivery_bytes(&d.notice)).sum();
        self.deliveries = deliveries;
        self.next_id = next_id;
        self.sent_up_to = 0;
    }

    /// The adapter acknowledged deliveries up to `up_to` at `now`: forget them, and
    /// keep the acknowledgement for the journal when `journaled`
    /// ([`AdapterMailbox::take_unjournaled_ack`]).
    pub fn acknowledge(&mut self, up_to: u64, now: Millis, journaled: bool) {
        self.ack(up_to);
        if journaled {
            let highest = self.unjournaled_ack.map_or(up_to, |(u, _)| u.max(up_to));
            self.unjournaled_ack = Some((highest, now));
        }
    }

    /// The highest acknowledgement since the last call, and when it came.
    pub fn take_unjournaled_ack(&mut self) -> Option<(u64, Millis)> {
        self.unjournaled_ack.take()
    }

    /// Forgets deliveries up to and including `up_to`; notifications among them are
    /// kept to be marked delivered ([`AdapterMailbox::take_delivered_notifications`]).
    pub fn ack(&mut self, up_to: u64) {
        while self.deliveries.front().is_some_and(|d| d.id <= up_to) {
            if let Some(done) = self.deliveries.pop_front() {
                self.bytes -= delivery_bytes(&done.notice);
                if let CustomerNoticeBody::Notification(n) = &done.notice.body {
                    self.delivered_notifications.push(n.id);
                }
            }
        }
    }

    /// Notifications acknowledged since the last call.
    pub fn take_delivered_notifications(&mut self) -> Vec<NotificationId> {
        std::mem::take(&mut self.delivered_notifications)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{Channel, ConversationId, EndReason};

    fn notice(n: u64) -> CustomerNotice {
        CustomerNotice {
            adapter: Arc::from("a"),
            conversation: ConversationId(n),
            channel: Channel::Web,
            channel_conversation_id: Arc::from("x"),
            customer_id: Arc::from("cust"),
            body: CustomerNoticeBody::Closed(EndReason::ClosedByAgent),
        }
    }

    #[tokio::test]
    async fn unacknowledged_deliveries_are_resent_after_reconnect() {
        let mut m = AdapterMailbox::new(10, 1 << 20);
        m.push(notice(1)).unwrap();
        let first = m.connect(1);
        assert_eq!(first.pending, 1);
        m.push(notice(2)).unwrap();
        let sent: Vec<u64> = m.take_unsent(1).unwrap().iter().map(|d| d.id).collect();
        assert_eq!(sent, vec![1, 2]);
        assert!(m.take_unsent(1).unwrap().is_empty());
        m.ack(1);
        let second = m.connect(2);
        assert_eq!(second.pending, 1);
        // The replaced stream is told to end, gets nothing more, and its late
        // disconnect changes nothing.
        tokio::time::timeout(std::time::Duration::from_secs(1), first.replaced.notified())
            .await
            .expect("the older stream is told to end");
        assert!(m.take_unsent(1).is_none(), "nothing for a replaced stream");
        m.disconnect(1);
        assert!(m.connection.is_some());
        tokio::time::timeout(std::time::Duration::from_secs(1), second.wake.notified())
            .await
            .expect("the newer stream is woken to send what is pending");
        let resent: Vec<u64> = m.take_unsent(2).unwrap().iter().map(|d| d.id).collect();
        assert_eq!(resent, vec![2]);
    }

    #[test]
    fn a_full_adapter_mailbox_refuses_the_newest_and_keeps_the_rest() {
        let mut m = AdapterMailbox::new(2, 1 << 20);
        assert!(m.push(notice(1)).is_ok());
        assert!(m.push(notice(2)).is_ok());
        assert!(matches!(m.push(notice(3)), Err(MailboxFull)));
        m.connect(1);
        let ids: Vec<u64> = m.take_unsent(1).unwrap().iter().map(|d| d.id).collect();
        assert_eq!(ids, vec![1, 2]);
    }

    #[test]
    fn the_byte_bound_holds_whatever_the_count() {
        let one = delivery_bytes(&notice(1));
        let mut m = AdapterMailbox::new(1_000, one * 3);
        for n in 1..=3 {
            m.push(notice(n)).unwrap();
        }
        assert!(m.is_backlogged());
        assert!(matches!(m.push(notice(4)), Err(MailboxFull)));
        m.ack(2);
        assert!(m.has_room(one));
        assert!(!m.is_backlogged());
    }

    #[test]
    fn a_full_agent_mailbox_flags_overflow() {
        let (m, inbox) = AgentMailbox::new(1, 1);
        let n = AgentNotice::Ended {
            conversation: ConversationId(1),
            reason: EndReason::Abandoned,
        };
        m.push(n.clone());
        assert!(!inbox.overflowed());
        m.push(n);
        assert!(inbox.overflowed());
        assert_eq!(inbox.take().len(), 1);
    }
}
