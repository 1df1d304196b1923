//! The tail's vectors of named vectors that no graph searches, kept in an unlinked scratch
//! file of the data dir instead of the heap.
//!
//! Those vectors are read only by exact searches on their named vector (and by the next full
//! rebuild's snapshot), yet every re-analysis added three of them (4.5 KB at 384 dims) to the
//! process's resident memory until that rebuild (RELIABILITY.md). Here they are appended with
//! `pwrite` and read through a read-only shared mapping: they sit in the kernel's page cache,
//! reclaimable, and count as the process's memory only while a search reads them — as the frozen generation's same vectors are served
//! from its index file. The file is unlinked as soon as it is open, so a crash leaves nothing
//! behind. Nothing here is durable or needs to be: redb holds every vector; the tail is
//! rebuilt from it at start. The file takes disk space only for what it holds (no space is
//! reserved ahead, which would make a nearly full disk look fuller than redb finds it); the
//! filesystems a data dir lives on (ext4, XFS, tmpfs) reserve blocks when `pwrite` runs, so a
//! full disk fails the write at once rather than the kernel's writeback later.
//!
//! Any I/O failure (a full disk, a filesystem without shared mappings) is reported to the
//! caller, which keeps the vectors in memory instead.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{Mmap, MmapOptions};

/// First mapping: 1 MiB; each growth doubles it (address space only).
const FIRST_BYTES: usize = 1 << 20;

static FILES: AtomicU64 = AtomicU64::new(0);

/// An append-only array of `f32` in an unlinked file.
pub(crate) struct SpillFile {
    file: File,
    /// The file, mapped read-only (the mapping may be longer than the file).
    map: Option<Mmap>,
    /// Values written.
    len: usize,
}

impl SpillFile {
    /// A new, empty file in `dir` (created if missing), already unlinked.
    pub fn create(dir: &Path) -> io::Result<SpillFile> {
        std::fs::create_dir_all(dir)?;
        let n = FILES.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".tail-{}-{n}.spill", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(SpillFile {
            file,
            map: None,
            len: 0,
        })
    }

    /// Values written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The values written.
    #[inline]
    pub fn as_slice(&self) -> &[f32] {
        match &self.map {
            // The mapping is page-aligned and at least `len * 4` bytes long.
            Some(map) => bytemuck::cast_slice(&map[..self.len * 4]),
            None => &[],
        }
    }

    /// Appends `values`; on an error nothing is appended and the file stays usable for
    /// reading what it held.
    pub fn push(&mut self, values: &[f32]) -> io::Result<()> {
        let bytes: &[u8] = bytemuck::cast_slice(values);
        let at = self.len * 4;
        self.file.write_all_at(bytes, at as u64)?;
        let mapped = self.map.as_ref().map_or(0, |m| m.len());
        if at + bytes.len() > mapped {
            let mut want = mapped.max(FIRST_BYTES);
            while at + bytes.len() > want {
                want *= 2;
            }
            // The mapping may reach past the end of the file: only written bytes (inside the
            // file) are ever read, so no access faults.
            // SAFETY: the file is private to this struct (unlinked, never truncated), so the
            // mapped bytes change only through `push`, which needs `&mut self`: no reader
            // holds a slice of them while they are written.
            let map = unsafe { MmapOptions::new().len(want).map(&self.file)? };
            self.map = Some(map);
        }
        self.len += values.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written_across_growths_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = SpillFile::create(dir.path()).unwrap();
        assert!(f.as_slice().is_empty());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "unlinked"
        );
        let mut expected = Vec::new();
        // 3 MiB in vectors of 384: two growths past the first 1 MiB.
        for i in 0..2_048u32 {
            let v: Vec<f32> = (0..384).map(|j| (i * 384 + j) as f32 * 0.5).collect();
            f.push(&v).unwrap();
            expected.extend_from_slice(&v);
            if i % 500 == 0 {
                assert_eq!(f.as_slice(), &expected[..]);
            }
        }
        assert_eq!(f.len(), expected.len());
        assert_eq!(f.as_slice(), &expected[..]);
    }
}
