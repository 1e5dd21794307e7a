//! Snapshot files: one tenant's whole state as of a journal sequence number.
//!
//! A snapshot is one file, written to a temporary name, fsynced and renamed, so a
//! crash leaves either the old set or the new one. Its header carries a CRC-32 of the
//! body, so a damaged file is detected and the previous snapshot is used instead. The
//! two newest files of each tenant are kept.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Marks a snapshot file of this format.
const MAGIC: &[u8; 8] = b"SBSNAP01";
/// Magic, CRC-32 and body length.
const HEADER: usize = 8 + 4 + 8;
/// Snapshots kept per tenant.
pub const KEEP: usize = 2;

/// Where one tenant's snapshots live.
#[derive(Debug, Clone)]
pub struct SnapshotDir {
    dir: PathBuf,
}

/// A snapshot file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// The journal sequence number it holds everything up to.
    pub seq: u64,
    /// Its path.
    pub path: PathBuf,
}

/// Why a snapshot file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not whole: wrong magic, short, or its checksum does not match.
    #[error("{0}: damaged (bad header, length or checksum)")]
    Damaged(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Tenant ids as directory names: hex, so any id is a safe file name.
fn hex(tenant: &str) -> String {
    tenant.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(name: &str) -> Option<String> {
    if !name.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..name.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(name.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Tenants with a snapshot directory under `root`.
pub fn tenants(root: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| unhex(&e.file_name().to_string_lossy()))
        .collect();
    found.sort();
    found
}

impl SnapshotDir {
    /// The snapshot directory of `tenant` under `root`.
    pub fn new(root: &Path, tenant: &str) -> SnapshotDir {
        SnapshotDir {
            dir: root.join(hex(tenant)),
        }
    }

    /// Snapshot files, newest first.
    pub fn files(&self) -> Vec<SnapshotFile> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<SnapshotFile> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let seq = name.strip_suffix(".snap")?.parse().ok()?;
                Some(SnapshotFile {
                    seq,
                    path: e.path(),
                })
            })
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.seq));
        files
    }

    /// Writes a snapshot holding everything up to `seq`, then keeps only the newest
    /// [`KEEP`]. With `sync`, the file and directory are fsynced before it counts.
    pub fn write(&self, seq: u64, body: &[u8], sync: bool) -> Result<PathBuf, SnapshotError> {
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.dir.join(format!("{seq:020}.snap"));
        let tmp = self.dir.join(format!("{seq:020}.snap.tmp"));
        let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        header.extend_from_slice(&(body.len() as u64).to_le_bytes());
        file.write_all(&header).map_err(io(&tmp))?;
        file.write_all(body).map_err(io(&tmp))?;
        if sync {
            file.sync_all().map_err(io(&tmp))?;
        }
        drop(file);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        if sync {
            fs::File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io(&self.dir))?;
        }
        for old in self.files().into_iter().skip(KEEP) {
            let _ = fs::remove_file(&old.path);
        }
        Ok(path)
    }

    /// Removes every snapshot but the newest: after an erasure, the older files may
    /// hold the erased data.
    pub fn keep_newest_only(&self) {
        for old in self.files().into_iter().skip(1) {
            let _ = fs::remove_file(&old.path);
        }
    }

    /// Reads a snapshot's body, checking it is whole.
    pub fn read(file: &SnapshotFile) -> Result<Vec<u8>, SnapshotError> {
        let data = fs::read(&file.path).map_err(io(&file.path))?;
        let damaged = || SnapshotError::Damaged(file.path.clone());
        if data.len() < HEADER || &data[..8] != MAGIC {
            return Err(damaged());
        }
        let crc = u32::from_le_bytes(data[8..12].try_into().map_err(|_| damaged())?);
        let len = u64::from_le_bytes(data[12..20].try_into().map_err(|_| damaged())?);
        let body = &data[HEADER..];
        if body.len() as u64 != len || crc32fast::hash(body) != crc {
            return Err(damaged());
        }
        Ok(body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sb-snap-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_newest_two_are_kept_and_damage_is_detected() {
        let root = temp_root("keep");
        let dir = SnapshotDir::new(&root, "acme/eu");
        for seq in [5, 9, 12] {
            dir.write(seq, format!("state {seq}").as_bytes(), true)
                .unwrap();
        }
        let files = dir.files();
        assert_eq!(files.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![12, 9]);
        assert_eq!(SnapshotDir::read(&files[0]).unwrap(), b"state 12");
        assert_eq!(tenants(&root), vec!["acme/eu".to_owned()]);

        let mut data = fs::read(&files[0].path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x40;
        fs::write(&files[0].path, &data).unwrap();
        assert!(matches!(
            SnapshotDir::read(&files[0]),
            Err(SnapshotError::Damaged(_))
        ));
        fs::write(&files[1].path, &data[..10]).unwrap();
        assert!(matches!(
            SnapshotDir::read(&files[1]),
            Err(SnapshotError::Damaged(_))
        ));
        let _ = fs::remove_dir_all(&root);
    }
}
