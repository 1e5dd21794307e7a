//! Durable storage: the journal of accepted changes and the snapshots that bound it.
//!
//! - [`settings`]: `[storage]` (durability mode, data directory, windows).
//! - [`record`]: what one journal record holds.
//! - [`journal`]: group-committed, ordered records in generation files.
//! - [`segment`]: one generation's file of checksummed records.
//! - [`snapshot`]: checksummed per-tenant snapshot files.
//! - [`format`]: the marker naming the encoding a data directory holds.
//!
//! The tenant layer decides what goes in (every command that changed a router, every delivery
//! acknowledgement) and how a tenant is rebuilt; this module only keeps bytes safe.

pub mod format;
pub mod journal;
pub mod record;
pub mod segment;
pub mod settings;
pub mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use journal::{Journal, NotDurable, Progress};
pub use settings::{Durability, StorageSettings};

/// The open data directory: its journal and where snapshots go.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The journal.
    pub journal: Arc<Journal>,
    /// Root of the per-tenant snapshot directories.
    pub snapshots: PathBuf,
    /// The settings it was opened with.
    pub settings: StorageSettings,
}

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The directory cannot be created or locked.
    #[error("data directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The directory holds another build's encoding (or its marker is unreadable).
    #[error(transparent)]
    Format(#[from] format::FormatError),
    /// The journal cannot be opened.
    #[error("journal in {path}: {source}")]
    Journal {
        /// The journal directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl Storage {
    /// Opens the data directory of `settings`, or `None` when durability is off.
    pub fn open(settings: &StorageSettings) -> Result<Option<Storage>, StorageError> {
        if settings.durability == Durability::Off {
            return Ok(None);
        }
        let root = settings.data_dir.as_path();
        let directory = |source| StorageError::Directory {
            path: root.to_owned(),
            source,
        };
        std::fs::create_dir_all(root).map_err(directory)?;
        let snapshots = root.join("snapshots");
        let journal_dir = root.join("journal");
        let has_data = snapshots.exists() || journal_dir.exists();
        format::check(root, has_data)?;
        std::fs::create_dir_all(&snapshots).map_err(directory)?;
        let journal = Journal::open(
            &journal_dir,
            settings.durability,
            Duration::from_millis(settings.commit_window_ms),
        )
        .map_err(|source| StorageError::Journal {
            path: journal_dir.clone(),
            source,
        })?;
        Ok(Some(Storage {
            journal: Arc::new(journal),
            snapshots,
            settings: settings.clone(),
        }))
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.settings.data_dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_of_another_format_is_refused_before_anything_is_read() {
        let root = std::env::temp_dir().join(format!("sb-storage-format-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("journal")).unwrap();
        let settings = StorageSettings {
            durability: Durability::Buffered,
            data_dir: root.clone(),
            ..StorageSettings::default()
        };
        // A journal left by a build from before the marker: format 1.
        let refused = Storage::open(&settings).unwrap_err();
        assert!(matches!(refused, StorageError::Format(_)), "{refused}");
        // A fresh directory is marked and opens, and opens again after.
        let _ = std::fs::remove_dir_all(&root);
        drop(Storage::open(&settings).unwrap());
        drop(Storage::open(&settings).unwrap());
        let _ = std::fs::remove_dir_all(&root);
    }
}
