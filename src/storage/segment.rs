//! One journal generation on disk: an append-only file of checksummed records.
//!
//! A record is a 20-byte header followed by its payload. The header holds the
//! payload's length (`u32`), the sequence number (`u64`), a CRC-32 of those twelve
//! bytes and a CRC-32 of the sequence number and the payload (all little-endian).
//! The header's own checksum makes a length trustworthy before it is followed, so a
//! changed length is found as damage rather than mistaken for a short last write.
//!
//! Reading stops at the first record that is not whole. If it is the last thing in
//! the file, it is a *torn tail*: the last write of a process that stopped mid-write.
//! If bytes follow it, it is *damage*: the disk changed what it had confirmed.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Bytes before each record's payload.
pub const HEADER: usize = 20;

/// The file name of generation `generation`.
pub fn file_name(generation: u64) -> String {
    format!("journal-{generation:012}.log")
}

/// The generation a file name belongs to, if it is a journal file.
pub fn generation_of(name: &str) -> Option<u64> {
    name.strip_prefix("journal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// Appends one record's bytes to `buf`; a payload of 4 GiB or more cannot be framed
/// (records are commands from requests of at most a few MiB).
pub fn encode(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("journal record {seq} has {} bytes", payload.len()),
        )
    })?;
    let start = buf.len();
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    let header_crc = crc32fast::hash(&buf[start..]);
    buf.extend_from_slice(&header_crc.to_le_bytes());
    buf.extend_from_slice(&payload_crc(seq, payload).to_le_bytes());
    buf.extend_from_slice(payload);
    Ok(())
}

fn payload_crc(seq: u64, payload: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(payload);
    crc.finalize()
}

/// How reading a file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every byte belonged to a whole record.
    Clean,
    /// The last record is not whole and nothing follows it.
    Torn,
    /// A record is not whole and bytes follow it.
    Damaged(String),
}

/// Reads the records of one file in order.
#[derive(Debug)]
pub struct Reader {
    reader: BufReader<File>,
    path: PathBuf,
    len: u64,
    /// Bytes of whole records read so far: where the next record starts.
    offset: u64,
    end: Option<End>,
}

impl Reader {
    /// Opens `path` for reading from its start.
    pub fn open(path: &Path) -> std::io::Result<Reader> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Reader {
            reader: BufReader::with_capacity(1 << 16, file),
            path: path.to_owned(),
            len,
            offset: 0,
            end: None,
        })
    }

    /// Where the next record starts: the length of the whole prefix read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The file's length when it was opened.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// How reading ended, once [`Reader::next_record`] returned `None`.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// The next whole record (sequence number and payload), or `None` at the end
    /// (see [`Reader::end`]).
    pub fn next_record(&mut self) -> Option<(u64, Vec<u8>)> {
        if self.end.is_some() {
            return None;
        }
        match self.read_one() {
            Ok(Some(record)) => Some(record),
            Ok(None) => {
                self.end = Some(End::Clean);
                None
            }
            Err(end) => {
                self.end = Some(end);
                None
            }
        }
    }

    fn read_one(&mut self) -> Result<Option<(u64, Vec<u8>)>, End> {
        let left = self.len - self.offset;
        if left == 0 {
            return Ok(None);
        }
        let damaged = |what: &str| End::Damaged(format!("{}: {what}", self.path.display()));
        let io = |e: std::io::Error| End::Damaged(format!("{}: {e}", self.path.display()));
        if left < HEADER as u64 {
            return Err(End::Torn);
        }
        let mut header = [0u8; HEADER];
        self.reader.read_exact(&mut header).map_err(io)?;
        let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let len = word(0) as usize;
        let seq = u64::from_le_bytes(header[4..12].try_into().expect("8 bytes"));
        if crc32fast::hash(&header[..12]) != word(12) {
            return Err(
                if header.iter().all(|&b| b == 0) && zeros_to_end(&mut self.reader).map_err(io)? {
                    // Space the file system gave the last write but never filled.
                    End::Torn
                } else {
                    damaged(&format!(
                        "the record header at byte {} fails its checksum",
                        self.offset
                    ))
                },
            );
        }
        // The header's checksum vouches for the length; one past the end of the file
        // is a write cut short, so nothing is allocated beyond the file's size.
        let whole = (HEADER + len) as u64;
        if whole > left {
            return Err(End::Torn);
        }
        let mut payload = vec![0u8; len];
        self.reader.read_exact(&mut payload).map_err(io)?;
        if payload_crc(seq, &payload) != word(16) {
            // A last record whose payload fails its checksum is a write the disk kept
            // only part of; anything after it means the disk changed confirmed bytes.
            return Err(if whole == left {
                End::Torn
            } else {
                damaged(&format!(
                    "the record at byte {} fails its checksum",
                    self.offset
                ))
            });
        }
        self.offset += whole;
        Ok(Some((seq, payload)))
    }
}

/// Whether every byte left in `reader` is zero.
fn zeros_to_end(reader: &mut impl Read) -> std::io::Result<bool> {
    let mut chunk = [0u8; 4096];
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(true);
        }
        if chunk[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(name: &str, bytes: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("sb-segment-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn read_all(path: &Path) -> (Vec<(u64, Vec<u8>)>, End, u64) {
        let mut reader = Reader::open(path).unwrap();
        let mut records = Vec::new();
        while let Some(r) = reader.next_record() {
            records.push(r);
        }
        (records, reader.end().cloned().unwrap(), reader.offset())
    }

    fn three_records() -> Vec<u8> {
        let mut buf = Vec::new();
        encode(&mut buf, 7, b"first").unwrap();
        encode(&mut buf, 8, b"").unwrap();
        encode(&mut buf, 9, b"third record").unwrap();
        buf
    }

    #[test]
    fn records_read_back_as_written() {
        let buf = three_records();
        let path = file_with("whole", &buf);
        let (records, end, offset) = read_all(&path);
        assert_eq!(end, End::Clean);
        assert_eq!(offset, buf.len() as u64);
        assert_eq!(
            records,
            vec![
                (7, b"first".to_vec()),
                (8, Vec::new()),
                (9, b"third record".to_vec())
            ]
        );
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_cut_anywhere_in_the_last_record_is_a_torn_tail_after_the_whole_ones() {
        let buf = three_records();
        let last_start = buf.len() - (HEADER + b"third record".len());
        for cut in last_start + 1..buf.len() {
            let path = file_with("torn", &buf[..cut]);
            let (records, end, offset) = read_all(&path);
            assert_eq!(end, End::Torn, "cut at {cut}");
            assert_eq!(records.len(), 2);
            assert_eq!(offset, last_start as u64);
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn a_changed_byte_before_the_last_record_is_damage_and_stops_there() {
        let buf = three_records();
        for at in 0..HEADER + b"first".len() {
            let mut bad = buf.clone();
            bad[at] ^= 0x20;
            let path = file_with("damaged", &bad);
            let (records, end, offset) = read_all(&path);
            assert!(matches!(end, End::Damaged(_)), "byte {at}: {end:?}");
            assert!(records.is_empty(), "byte {at}: {records:?}");
            assert_eq!(offset, 0);
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn a_changed_byte_in_the_last_record_is_a_torn_tail() {
        let mut buf = three_records();
        let last = buf.len() - 1;
        buf[last] ^= 0x01;
        let path = file_with("last", &buf);
        let (records, end, _) = read_all(&path);
        assert_eq!(end, End::Torn);
        assert_eq!(records.len(), 2);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_zero_filled_tail_is_torn_and_zeros_before_a_record_are_damage() {
        let mut buf = three_records();
        buf.extend_from_slice(&[0u8; 100]);
        let path = file_with("zeros", &buf);
        let (records, end, _) = read_all(&path);
        assert_eq!((records.len(), end), (3, End::Torn));
        let mut zeros_first = vec![0u8; HEADER];
        zeros_first.extend_from_slice(&three_records());
        std::fs::write(&path, &zeros_first).unwrap();
        let (records, end, _) = read_all(&path);
        assert!(
            records.is_empty() && matches!(end, End::Damaged(_)),
            "{end:?}"
        );
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn file_names_round_trip_and_others_are_not_generations() {
        assert_eq!(generation_of(&file_name(42)), Some(42));
        assert_eq!(generation_of("journal-000000000001.tmp"), None);
        assert_eq!(generation_of("LOCK"), None);
    }
}
