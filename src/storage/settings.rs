//! `[storage]`: where and how durably the journal and snapshots are kept.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How far an accepted change is written before the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Written and fsynced: survives a machine crash.
    Fsync,
    /// Written to the OS page cache: survives a process crash, not a machine crash.
    Buffered,
    /// Memory only: a restart loses everything (customers are told on a clean stop).
    Off,
}

impl Durability {
    /// Stable name, used in logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Fsync => "fsync",
            Durability::Buffered => "buffered",
            Durability::Off => "off",
        }
    }
}

/// The `[storage]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `fsync`, `buffered` or `off`.
    pub durability: Durability,
    /// Directory of the journal and snapshots (`--data-dir`, `SWITCHBOARD_DATA_DIR`);
    /// relative paths are from the working directory. One process per directory.
    pub data_dir: PathBuf,
    /// Least time between the starts of two group commits: a change arriving
    /// sooner after one began waits for the rest of it, so that others share its
    /// write and fsync; an idle journal writes at once.
    pub commit_window_ms: u64,
    /// Seconds between snapshots of the tenants that changed.
    pub snapshot_secs: u64,
    /// Journal records after which a snapshot is taken early.
    pub snapshot_records: u64,
    /// Seconds an agent has after a restart to sign in again and keep its conversations.
    pub agent_grace_secs: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            durability: Durability::Fsync,
            data_dir: PathBuf::from("switchboard-data"),
            commit_window_ms: 1,
            snapshot_secs: 60,
            snapshot_records: 1_000_000,
            agent_grace_secs: 60,
        }
    }
}

impl StorageSettings {
    /// Checks the values; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.commit_window_ms > 100 {
            return Err("storage.commit_window_ms: at most 100".into());
        }
        if self.snapshot_secs == 0 {
            return Err("storage.snapshot_secs: must be above 0".into());
        }
        if self.snapshot_records == 0 {
            return Err("storage.snapshot_records: must be above 0".into());
        }
        if self.durability != Durability::Off && self.data_dir.as_os_str().is_empty() {
            return Err("storage.data_dir: must be set unless durability is \"off\"".into());
        }
        Ok(())
    }
}
