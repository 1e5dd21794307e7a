//! Journal records: one routing command (or delivery acknowledgement) of one tenant,
//! at the time it was applied.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::routing::{Command, Millis};

/// What a record changes. Records are decoded one at a time, so the size of the
/// larger variant costs nothing worth boxing for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Entry {
    /// A command applied to the tenant's router.
    Route {
        /// The command.
        command: Command,
        /// True when the first response of the message it files was returned to the
        /// caller rather than mailed to its adapter (a `Submit`).
        inline: bool,
    },
    /// An adapter acknowledged its deliveries up to an id.
    Acked {
        /// The adapter id.
        adapter: Arc<str>,
        /// Highest delivery id acknowledged.
        up_to: u64,
    },
}

/// One journal record as read back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Record {
    /// The tenant.
    pub tenant: Arc<str>,
    /// When it was applied.
    pub at: Millis,
    /// What it changes.
    pub entry: Entry,
}

/// The same shape borrowed, so a command is encoded before it is consumed.
#[derive(Serialize)]
struct RecordRef<'a> {
    tenant: &'a str,
    at: Millis,
    entry: EntryRef<'a>,
}

#[derive(Serialize)]
enum EntryRef<'a> {
    Route { command: &'a Command, inline: bool },
    Acked { adapter: &'a str, up_to: u64 },
}

/// Encodes a command record.
pub fn encode_route(tenant: &str, at: Millis, command: &Command, inline: bool) -> Vec<u8> {
    encode(RecordRef {
        tenant,
        at,
        entry: EntryRef::Route { command, inline },
    })
}

/// Encodes an acknowledgement record.
pub fn encode_ack(tenant: &str, at: Millis, adapter: &str, up_to: u64) -> Vec<u8> {
    encode(RecordRef {
        tenant,
        at,
        entry: EntryRef::Acked { adapter, up_to },
    })
}

fn encode(record: RecordRef<'_>) -> Vec<u8> {
    // Encoding plain data into a Vec cannot fail.
    postcard::to_allocvec(&record).expect("records encode")
}

/// Decodes a record; an error means the bytes are not a record of this version.
pub fn decode(bytes: &[u8]) -> Result<Record, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{Channel, Presence};

    #[test]
    fn records_round_trip() {
        let command = Command::SetPresence {
            agent: "ann".into(),
            presence: Presence::Away,
        };
        let bytes = encode_route("t1", 42, &command, true);
        assert_eq!(
            decode(&bytes).unwrap(),
            Record {
                tenant: Arc::from("t1"),
                at: 42,
                entry: Entry::Route {
                    command,
                    inline: true
                },
            }
        );
        let ack = decode(&encode_ack("t1", 7, "web-1", 99)).unwrap();
        assert_eq!(
            ack.entry,
            Entry::Acked {
                adapter: Arc::from("web-1"),
                up_to: 99
            }
        );
        let abandon = Command::Abandon {
            channel: Channel::Weibo,
            channel_conversation_id: "x".into(),
            customer_id: "u".into(),
        };
        let bytes = encode_route("t", 1, &abandon, false);
        assert!(
            decode(&bytes[..bytes.len() - 1]).is_err(),
            "a cut record is refused"
        );
    }
}
