//! Bounded mailboxes between the router and the streams that deliver its notices.
//!
//! The router runs under a tenant lock and must never wait on a network peer, so its
//! notices go into a mailbox and the stream task that owns the connection is woken to
//! send them. The bounds keep a slow or absent peer from growing memory without limit;
//! what does not fit is counted and logged, never dropped silently.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::routing::{AgentNotice, CustomerNotice};
use crate::telemetry::metrics;

/// The router's side of an agent session's mailbox: a bounded lock-free queue, so
/// the session drains it without taking the tenant lock.
#[derive(Debug)]
pub struct AgentMailbox {
    /// Notices towards the session.
    tx: crossbeam_channel::Sender<AgentNotice>,
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
    /// Set when a notice was refused for lack of room.
    overflowed: Arc<AtomicBool>,
    /// Signalled after every push.
    pub notify: Arc<Notify>,
}

impl AgentMailbox {
    /// A mailbox holding at most `limit` notices, and the session's end of it.
    pub fn new(limit: usize) -> (AgentMailbox, AgentInbox) {
        let (tx, rx) = crossbeam_channel::bounded(limit);
        let overflowed = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(Notify::new());
        let inbox = AgentInbox {
            rx,
            overflowed: overflowed.clone(),
            notify: notify.clone(),
        };
        (
            AgentMailbox {
                tx,
                overflowed,
                notify,
            },
            inbox,
        )
    }

    /// Adds a notice and wakes the session.
    pub fn push(&self, notice: AgentNotice) {
        if self.tx.try_send(notice).is_err() {
            if !self.overflowed.swap(true, Ordering::AcqRel) {
                tracing::warn!("agent session reads too slowly; ending it");
            }
            metrics::record_dropped("agent_mailbox_full");
        }
        self.notify.notify_one();
    }
}

impl AgentInbox {
    /// Takes every waiting notice.
    pub fn take(&self) -> Vec<AgentNotice> {
        self.rx.try_iter().collect()
    }

    /// Whether a notice was refused because the inbox was full.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }
}

/// A delivery with its per-adapter id.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Increasing per adapter, acknowledged by the adapter.
    pub id: u64,
    /// What to deliver.
    pub notice: CustomerNotice,
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
    /// Token of the stream connected now, if any.
    connection: Option<u64>,
    /// Most deliveries kept.
    limit: usize,
    /// Wakes the connected stream task.
    pub notify: Arc<Notify>,
}

impl AdapterMailbox {
    /// An empty mailbox holding at most `limit` deliveries.
    pub fn new(limit: usize) -> AdapterMailbox {
        AdapterMailbox {
            deliveries: VecDeque::new(),
            next_id: 1,
            sent_up_to: 0,
            connection: None,
            limit,
            notify: Arc::new(Notify::new()),
        }
    }

    /// Adds a delivery and wakes the stream. When full, the oldest unacknowledged
    /// delivery is dropped, counted and logged.
    pub fn push(&mut self, notice: CustomerNotice) {
        if self.deliveries.len() >= self.limit {
            if let Some(old) = self.deliveries.pop_front() {
                tracing::warn!(
                    conversation_id = %old.notice.conversation,
                    delivery_id = old.id,
                    "adapter mailbox full; dropping its oldest unacknowledged delivery"
                );
            }
            metrics::record_dropped("adapter_mailbox_full");
        }
        let id = self.next_id;
        self.next_id += 1;
        self.deliveries.push_back(Delivery { id, notice });
        self.notify.notify_one();
    }

    /// Attaches a stream; every unacknowledged delivery will be sent again. `None` when
    /// another stream is attached.
    pub fn connect(&mut self, token: u64) -> Option<usize> {
        if self.connection.is_some() {
            return None;
        }
        self.connection = Some(token);
        self.sent_up_to = self.deliveries.front().map_or(self.next_id, |d| d.id) - 1;
        self.notify.notify_one();
        Some(self.deliveries.len())
    }

    /// Detaches the stream with this token (a stale token does nothing).
    pub fn disconnect(&mut self, token: u64) {
        if self.connection == Some(token) {
            self.connection = None;
        }
    }

    /// Deliveries not yet written to the current stream. Ids increase along the
    /// queue, so the unsent ones are found by binary search, not by a walk over every
    /// unacknowledged delivery.
    pub fn take_unsent(&mut self) -> Vec<Delivery> {
        let first_unsent = self.deliveries.partition_point(|d| d.id <= self.sent_up_to);
        let unsent: Vec<Delivery> = self.deliveries.range(first_unsent..).cloned().collect();
        if let Some(last) = unsent.last() {
            self.sent_up_to = last.id;
        }
        unsent
    }

    /// Deliveries kept: not yet sent, or sent and not acknowledged.
    pub fn len(&self) -> usize {
        self.deliveries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// Forgets deliveries up to and including `up_to`.
    pub fn ack(&mut self, up_to: u64) {
        while self.deliveries.front().is_some_and(|d| d.id <= up_to) {
            self.deliveries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{Channel, ConversationId, CustomerNoticeBody, EndReason};

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

    #[test]
    fn unacknowledged_deliveries_are_resent_after_reconnect() {
        let mut m = AdapterMailbox::new(10);
        m.push(notice(1));
        assert_eq!(m.connect(1), Some(1));
        assert_eq!(m.connect(2), None, "one stream per adapter id");
        m.push(notice(2));
        let sent: Vec<u64> = m.take_unsent().iter().map(|d| d.id).collect();
        assert_eq!(sent, vec![1, 2]);
        assert!(m.take_unsent().is_empty());
        m.ack(1);
        m.disconnect(1);
        assert_eq!(m.connect(3), Some(1));
        let resent: Vec<u64> = m.take_unsent().iter().map(|d| d.id).collect();
        assert_eq!(resent, vec![2]);
    }

    #[test]
    fn a_full_adapter_mailbox_drops_the_oldest() {
        let mut m = AdapterMailbox::new(2);
        for n in 1..=3 {
            m.push(notice(n));
        }
        m.connect(1);
        let ids: Vec<u64> = m.take_unsent().iter().map(|d| d.id).collect();
        assert_eq!(ids, vec![2, 3]);
    }

    #[test]
    fn a_full_agent_mailbox_flags_overflow() {
        let (m, inbox) = AgentMailbox::new(1);
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
