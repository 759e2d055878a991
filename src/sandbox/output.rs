//! Box output for the full log: kept to a limit (the first half and the last half of
//! the limit, with a line saying how much was cut), so a migration that prints
//! gigabytes cannot fill the disk or the job log. Nothing written here reaches the MR.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;

pub struct CappedLog {
    file: std::fs::File,
    head_limit: u64,
    tail_limit: usize,
    written: u64,
    tail: VecDeque<u8>,
    total: u64,
}

impl CappedLog {
    pub fn create(path: &Path, limit: u64) -> std::io::Result<CappedLog> {
        Ok(CappedLog {
            file: std::fs::File::create(path)?,
            head_limit: limit / 2,
            tail_limit: (limit / 2) as usize,
            written: 0,
            tail: VecDeque::new(),
            total: 0,
        })
    }

    pub fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        self.total += bytes.len() as u64;
        if self.written < self.head_limit {
            let n = ((self.head_limit - self.written) as usize).min(bytes.len());
            self.file.write_all(&bytes[..n])?;
            self.written += n as u64;
            bytes = &bytes[n..];
        }
        if bytes.len() >= self.tail_limit {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_limit..]);
        } else {
            self.tail.extend(bytes);
            let excess = self.tail.len().saturating_sub(self.tail_limit);
            self.tail.drain(..excess);
        }
        Ok(())
    }

    /// Writes the kept tail; returns (bytes received, bytes cut).
    pub fn finish(mut self) -> std::io::Result<(u64, u64)> {
        let kept = self.written + self.tail.len() as u64;
        let cut = self.total - kept;
        if cut > 0 {
            writeln!(
                self.file,
                "\n[preflight: {cut} bytes of output cut here; {} bytes in all]",
                self.total
            )?;
        }
        let (a, b) = self.tail.as_slices();
        self.file.write_all(a)?;
        self.file.write_all(b)?;
        self.file.flush()?;
        Ok((self.total, cut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_and_says_how_much_was_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = CappedLog::create(&path, 10).unwrap();
        log.write(b"0123").unwrap();
        log.write(b"456789abcdefghij").unwrap();
        log.write(b"KLMNOPQRST").unwrap();
        assert_eq!(log.finish().unwrap(), (30, 20));
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("01234\n[preflight: 20 bytes"), "{text}");
        assert!(text.ends_with("PQRST"), "{text}");
    }

    #[test]
    fn small_output_is_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = CappedLog::create(&path, 100).unwrap();
        log.write(b"hello").unwrap();
        assert_eq!(log.finish().unwrap(), (5, 0));
        assert_eq!(std::fs::read_to_string(path).unwrap(), "hello");
    }
}
