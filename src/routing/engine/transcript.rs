//! A conversation's transcript as the router keeps it: messages as they were written,
//! and queue notes as what they said (place and wait), rendered in the customer's
//! language only when the transcript is read. A waiting customer's note is the one
//! text no one else shares; kept as figures it costs a few bytes instead of a string.

use std::collections::VecDeque;
use std::sync::Arc;

use super::texts::{handoff_text, is_chinese, queue_text};
use crate::routing::model::{AgentId, Millis, QueueStatus, Sender, TranscriptEntry};

/// One kept entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) enum Kept {
    /// A message, with its text.
    Message(TranscriptEntry),
    /// A system note telling the customer where they stand (a handoff note when
    /// `handoff`), sent at `at`, in Chinese when `chinese`, else in English (the
    /// language it was sent in, whatever the conversation's becomes).
    QueueNote {
        at: Millis,
        status: QueueStatus,
        handoff: bool,
        chinese: bool,
    },
}

impl Kept {
    fn sender(&self) -> Sender {
        match self {
            Kept::Message(e) => e.sender,
            Kept::QueueNote { .. } => Sender::System,
        }
    }

    fn at(&self) -> Millis {
        match self {
            Kept::Message(e) => e.at,
            Kept::QueueNote { at, .. } => *at,
        }
    }

    fn render(&self) -> TranscriptEntry {
        match self {
            Kept::Message(e) => e.clone(),
            &Kept::QueueNote {
                at,
                status,
                handoff,
                chinese,
            } => TranscriptEntry {
                sender: Sender::System,
                text: {
                    let language = if chinese { "zh" } else { "en" };
                    if handoff {
                        handoff_text(language, status)
                    } else {
                        queue_text(language, status)
                    }
                },
                at,
                agent: None,
            },
        }
    }
}

/// The last `transcript_limit` entries of a conversation, oldest first. Most
/// waiting conversations hold two (the first message and the queue note): those stay
/// in place, without an allocation of their own.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) enum Transcript {
    /// Up to two entries, the older first.
    Few([Option<Kept>; 2]),
    /// More than two.
    Many(VecDeque<Kept>),
}

/// What [`Transcript::Few`] reads as its heap part.
static NONE_MORE: VecDeque<Kept> = VecDeque::new();

impl Default for Transcript {
    fn default() -> Transcript {
        Transcript::Few([None, None])
    }
}

impl Transcript {
    fn iter(&self) -> impl DoubleEndedIterator<Item = &Kept> + '_ {
        let (few, many): (&[Option<Kept>], &VecDeque<Kept>) = match self {
            Transcript::Few(few) => (few, &NONE_MORE),
            Transcript::Many(many) => (&[], many),
        };
        few.iter().flatten().chain(many.iter())
    }

    fn push(&mut self, limit: usize, kept: Kept) {
        match self {
            Transcript::Few([first @ None, _]) => *first = Some(kept),
            Transcript::Few([first, second @ None]) => {
                if limit >= 2 {
                    *second = Some(kept);
                } else {
                    *first = Some(kept);
                }
            }
            Transcript::Few([first, second]) => {
                if limit <= 2 {
                    *first = second.take();
                    *second = Some(kept);
                } else {
                    let mut many = VecDeque::with_capacity(4);
                    many.extend(first.take());
                    many.extend(second.take());
                    many.push_back(kept);
                    *self = Transcript::Many(many);
                }
            }
            Transcript::Many(many) => {
                if many.len() >= limit {
                    many.pop_front();
                }
                many.push_back(kept);
            }
        }
    }

    /// Appends a message, dropping the oldest entry beyond `limit`.
    pub(super) fn push_message(&mut self, limit: usize, entry: TranscriptEntry) {
        self.push(limit, Kept::Message(entry));
    }

    /// Appends the queue (or handoff) note sent at `at` in `language`, dropping the
    /// oldest entry beyond `limit`.
    pub(super) fn push_queue_note(
        &mut self,
        limit: usize,
        at: Millis,
        status: QueueStatus,
        handoff: bool,
        language: &str,
    ) {
        let chinese = is_chinese(language);
        self.push(
            limit,
            Kept::QueueNote {
                at,
                status,
                handoff,
                chinese,
            },
        );
    }

    /// Every entry, oldest first.
    pub(super) fn render(&self) -> Vec<TranscriptEntry> {
        self.iter().map(Kept::render).collect()
    }

    /// The text of the customer's last message, if any.
    pub(super) fn last_customer_text(&self) -> Option<Arc<str>> {
        self.iter().rev().find_map(|k| match k {
            Kept::Message(e) if e.sender == Sender::Customer => Some(e.text.clone()),
            _ => None,
        })
    }

    /// Whether `agent` wrote at `since` or later.
    pub(super) fn agent_wrote_since(&self, since: Millis, agent: &AgentId) -> bool {
        self.iter()
            .rev()
            .take_while(|k| k.at() >= since)
            .any(|k| match k {
                Kept::Message(e) => {
                    k.sender() == Sender::Agent && e.agent.as_deref() == Some(&**agent)
                }
                Kept::QueueNote { .. } => false,
            })
    }
}
