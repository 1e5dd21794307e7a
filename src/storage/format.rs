//! Which encoding a data directory was written in.
//!
//! Journal records and snapshots are compact binary encodings of the routing core's
//! types, which are not self-describing: a build whose types changed cannot read what
//! an older build wrote, and would misread it as damage and fall back to ever older
//! state. A marker file names the encoding a directory holds; a build that finds
//! another one refuses to start and says what to do, instead of losing conversations
//! quietly.

use std::path::Path;

/// The encoding this build writes and reads. Raise it whenever a change alters how the
/// router, a snapshot image or a journal record encodes (a field added, removed or moved).
pub const STORAGE_FORMAT: u32 = 20;

/// The encoding of directories written before the marker existed.
const UNMARKED_FORMAT: u32 = 1;

/// The marker file's name inside the data directory.
pub const MARKER: &str = "FORMAT";

/// Why a data directory cannot be used by this build.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The marker cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The marker file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The directory holds another encoding.
    #[error(
        "data directory {dir} holds storage format {found}; this build reads format \
         {STORAGE_FORMAT}. Open conversations carry over only within one format: let the \
         build that wrote it drain (SIGTERM) and finish its conversations, then move the \
         directory away (or point `storage.data_dir` at an empty one) and start this build"
    )]
    Other {
        /// The data directory.
        dir: String,
        /// The format it holds.
        found: u32,
    },
}

/// Checks that `root` holds this build's format, marking a new directory with it.
/// `has_data` says whether the directory already held a journal or snapshots before
/// it was opened (such a directory without a marker was written in format 1).
pub fn check(root: &Path, has_data: bool) -> Result<(), FormatError> {
    let path = root.join(MARKER);
    let io = |source| FormatError::Io {
        path: path.clone(),
        source,
    };
    let found = match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a format marker: {:?}", text.trim()),
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if has_data {
                UNMARKED_FORMAT
            } else {
                write(&path).map_err(io)?;
                STORAGE_FORMAT
            }
        }
        Err(e) => return Err(io(e)),
    };
    if found != STORAGE_FORMAT {
        return Err(FormatError::Other {
            dir: root.display().to_string(),
            found,
        });
    }
    Ok(())
}

fn parse(text: &str) -> Option<u32> {
    text.trim()
        .strip_prefix("switchboard storage format ")?
        .parse()
        .ok()
}

/// Writes the marker durably: to a temporary name, fsynced, renamed.
fn write(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    writeln!(file, "switchboard storage format {STORAGE_FORMAT}")?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sb-format-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_new_directory_is_marked_and_then_accepted() {
        let root = temp_root("new");
        check(&root, false).unwrap();
        let text = std::fs::read_to_string(root.join(MARKER)).unwrap();
        assert_eq!(parse(&text), Some(STORAGE_FORMAT));
        check(&root, true).unwrap();
    }

    #[test]
    fn an_unmarked_directory_with_data_is_the_old_format_and_refused() {
        let root = temp_root("old");
        let err = check(&root, true).unwrap_err();
        assert!(matches!(err, FormatError::Other { found: 1, .. }), "{err}");
        assert!(err.to_string().contains("drain"), "{err}");
        assert!(
            !root.join(MARKER).exists(),
            "an old directory is not re-marked"
        );
    }

    #[test]
    fn another_format_or_a_garbled_marker_is_refused() {
        let root = temp_root("other");
        let other = STORAGE_FORMAT + 1;
        std::fs::write(
            root.join(MARKER),
            format!("switchboard storage format {other}\n"),
        )
        .unwrap();
        assert!(matches!(
            check(&root, true),
            Err(FormatError::Other { found, .. }) if found == other
        ));
        std::fs::write(root.join(MARKER), "hello").unwrap();
        assert!(matches!(check(&root, true), Err(FormatError::Io { .. })));
    }
}
