//! The on-disk form of a collection's frozen graphs: one flat file, memory-mapped at start.
//!
//! Layout (little-endian, every section starts on a 64-byte boundary):
//! a 128-byte header (magic, format version, dimension, point count, the redb epoch and store
//! id it was built from, a CRC-32 of the body and of the header itself), then the position
//! table (entity id and redb slot per position), then per named vector the graph: entry point
//! and degrees, vectors (`n * dim` f32), level-0 adjacency (`n * (m0 + 1)` u32) and the upper
//! layers (a vectors-only graph has `m0 = 0`). Files are written to a temporary name, fsynced
//! and renamed, so a reader sees either the old file or the new one. Opening checks every
//! length, the checksum, every neighbour id, the slot order and that no entity appears twice
//! before the graph is used: a damaged file is reported as unusable, never trusted.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use super::error::{Result, VectorError};
use super::graph::{Graph, Region, UpperLayer};

const MAGIC: &[u8; 8] = b"JFVECIDX";
/// Bumped whenever the layout changes; an older file is rebuilt, not misread.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 128;
const ALIGN: usize = 64;

/// What a valid index file holds.
pub(crate) struct IndexFile {
    pub store_id: [u8; 16],
    pub epoch: u64,
    pub dim: usize,
    pub entities: Vec<u64>,
    pub slots: Vec<u64>,
    pub graphs: Vec<Graph>,
}

/// Why an index file was not used (logged; the caller rebuilds).
#[derive(Debug, thiserror::Error)]
pub enum IndexFileProblem {
    #[error("missing")]
    Missing,
    #[error("unreadable: {0}")]
    Io(std::io::Error),
    #[error("truncated or wrong length")]
    Truncated,
    #[error("not an index file (bad magic)")]
    BadMagic,
    #[error("format version {0}, expected {FORMAT_VERSION}")]
    Version(u32),
    #[error("checksum mismatch")]
    Checksum,
    #[error("inconsistent contents: {0}")]
    Invalid(&'static str),
}

fn pad(len: usize) -> usize {
    len.div_ceil(ALIGN) * ALIGN
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
    written: usize,
}

impl<W: Write> CrcWriter<W> {
    fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.crc.update(b);
        self.written += b.len();
        self.inner.write_all(b)
    }
    fn align(&mut self) -> std::io::Result<()> {
        let zeros = [0u8; ALIGN];
        let n = pad(self.written) - self.written;
        self.bytes(&zeros[..n])
    }
}

/// Writes an index file atomically: temp file, fsync, rename, fsync of the directory.
pub(crate) fn write(
    path: &Path,
    store_id: [u8; 16],
    epoch: u64,
    dim: usize,
    entities: &[u64],
    slots: &[u64],
    graphs: &[&Graph],
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| VectorError::io(dir, e))?;
    let tmp: PathBuf = path.with_extension(format!("tmp{}", std::process::id()));
    let result = write_to(&tmp, store_id, epoch, dim, entities, slots, graphs).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| VectorError::io(path, e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| VectorError::io(dir, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_to(
    tmp: &Path,
    store_id: [u8; 16],
    epoch: u64,
    dim: usize,
    entities: &[u64],
    slots: &[u64],
    graphs: &[&Graph],
) -> Result<()> {
    let io = |e| VectorError::io(tmp, e);
    let n = entities.len();
    let file = File::create(tmp).map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 20, Paced::new(file, WRITEBACK_CHUNK));
    w.write_all(&[0u8; HEADER_LEN]).map_err(io)?;
    let mut body = CrcWriter {
        inner: &mut w,
        crc: crc32fast::Hasher::new(),
        written: 0,
    };
    body.bytes(bytemuck::cast_slice(entities)).map_err(io)?;
    body.align().map_err(io)?;
    body.bytes(bytemuck::cast_slice(slots)).map_err(io)?;
    body.align().map_err(io)?;
    for g in graphs {
        let mut gh = [0u8; 16];
        gh[0..4].copy_from_slice(&g.entry.to_le_bytes());
        gh[4..8].copy_from_slice(&(g.upper.len() as u32).to_le_bytes());
        gh[8..12].copy_from_slice(&(g.m0 as u32).to_le_bytes());
        gh[12..16].copy_from_slice(&(g.m as u32).to_le_bytes());
        body.bytes(&gh).map_err(io)?;
        body.align().map_err(io)?;
        body.bytes(bytemuck::cast_slice(g.vectors.as_slice()))
            .map_err(io)?;
        body.align().map_err(io)?;
        body.bytes(bytemuck::cast_slice(g.level0.as_slice()))
            .map_err(io)?;
        body.align().map_err(io)?;
        for layer in &g.upper {
            body.bytes(&(layer.nodes.len() as u64).to_le_bytes())
                .map_err(io)?;
            body.bytes(bytemuck::cast_slice(&layer.nodes)).map_err(io)?;
            body.bytes(bytemuck::cast_slice(&layer.adj)).map_err(io)?;
            body.align().map_err(io)?;
        }
    }
    let body_len = body.written as u64;
    let body_crc = body.crc.finalize();
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(dim as u32).to_le_bytes());
    h[16..24].copy_from_slice(&(n as u64).to_le_bytes());
    h[24..32].copy_from_slice(&epoch.to_le_bytes());
    h[32..48].copy_from_slice(&store_id);
    h[48..52].copy_from_slice(&(graphs.len() as u32).to_le_bytes());
    h[60..64].copy_from_slice(&body_crc.to_le_bytes());
    h[64..72].copy_from_slice(&body_len.to_le_bytes());
    let header_crc = crc32fast::hash(&h[0..72]);
    h[72..76].copy_from_slice(&header_crc.to_le_bytes());
    w.seek(SeekFrom::Start(0)).map_err(io)?;
    w.write_all(&h).map_err(io)?;
    let file = w.into_inner().map_err(|e| io(e.into_error()))?.file;
    file.sync_all().map_err(io)?;
    Ok(())
}

/// Bytes of the index file written back to disk at a time while it is written.
const WRITEBACK_CHUNK: u64 = 8 << 20;

/// A file written back to disk as it is written, a chunk at a time, instead of all at the
/// final fsync: the index file is hundreds of MB, and with all of it dirty in the page cache
/// the final fsync saturates the disk for seconds, during which every redb commit of the
/// write path waits on its own fsync (one probe fsync took 593 ms during a 600 MB write and
/// fsync; 54 ms with the write paced like this). At most two chunks are dirty at any time:
/// each full chunk's writeback is started, and the previous chunk's is waited for.
struct Paced {
    file: File,
    chunk: u64,
    written: u64,
    /// Where the next chunk to start writeback for begins.
    started: u64,
    /// Off once the writer seeks back to write the header.
    sequential: bool,
}

impl Paced {
    fn new(file: File, chunk: u64) -> Paced {
        Paced {
            file,
            chunk: chunk.max(1),
            written: 0,
            started: 0,
            sequential: true,
        }
    }

    fn writeback(&mut self) {
        let chunk = self.chunk;
        while self.sequential && self.written >= self.started + chunk {
            #[cfg(target_os = "linux")]
            {
                use std::os::fd::AsRawFd;
                let fd = self.file.as_raw_fd();
                // SAFETY: sync_file_range takes the file's descriptor, which `self.file` keeps
                // open, and plain integers; it touches no memory of ours. It only schedules
                // and waits for writeback, so a failure costs nothing the final fsync does
                // not redo (and that fsync's error is the one reported).
                unsafe {
                    if self.started >= chunk {
                        libc::sync_file_range(
                            fd,
                            (self.started - chunk) as libc::off64_t,
                            chunk as libc::off64_t,
                            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                                | libc::SYNC_FILE_RANGE_WRITE
                                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                        );
                    }
                    libc::sync_file_range(
                        fd,
                        self.started as libc::off64_t,
                        chunk as libc::off64_t,
                        libc::SYNC_FILE_RANGE_WRITE,
                    );
                }
            }
            self.started += chunk;
        }
    }
}

impl Write for Paced {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        self.writeback();
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Paced {
    /// Only the header is written after a seek (back to 0), and the final fsync writes it.
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.sequential = false;
        self.file.seek(pos)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// A bounds-checked cursor over the mapped body.
struct Cursor {
    map: Arc<Mmap>,
    at: usize,
}

impl Cursor {
    fn take(&mut self, bytes: usize) -> Result<usize, IndexFileProblem> {
        let start = self.at;
        let end = start
            .checked_add(bytes)
            .filter(|e| *e <= self.map.len())
            .ok_or(IndexFileProblem::Truncated)?;
        self.at = end;
        Ok(start)
    }
    fn align(&mut self) -> Result<(), IndexFileProblem> {
        let next = HEADER_LEN + pad(self.at - HEADER_LEN);
        if next > self.map.len() {
            return Err(IndexFileProblem::Truncated);
        }
        self.at = next;
        Ok(())
    }
    fn region<T: bytemuck::Pod>(&mut self, len: usize) -> Result<Region<T>, IndexFileProblem> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or(IndexFileProblem::Invalid("size overflow"))?;
        let offset = self.take(bytes)?;
        bytemuck::try_cast_slice::<u8, T>(&self.map[offset..offset + bytes])
            .map_err(|_| IndexFileProblem::Invalid("misaligned section"))?;
        Ok(Region::Mapped {
            map: self.map.clone(),
            offset,
            len,
            file: true,
        })
    }
    fn owned<T: bytemuck::Pod>(&mut self, len: usize) -> Result<Vec<T>, IndexFileProblem> {
        let r = self.region::<T>(len)?;
        Ok(r.as_slice().to_vec())
    }
}

/// Opens and validates an index file. Never panics on a damaged file.
pub(crate) fn read(path: &Path) -> std::result::Result<IndexFile, IndexFileProblem> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IndexFileProblem::Missing)
        }
        Err(e) => return Err(IndexFileProblem::Io(e)),
    };
    // SAFETY: the file is private to this data directory and only ever replaced by rename,
    // never modified in place, so the mapping does not change under us.
    let map = unsafe { Mmap::map(&file) }.map_err(IndexFileProblem::Io)?;
    if map.len() < HEADER_LEN {
        return Err(IndexFileProblem::Truncated);
    }
    let h = &map[..HEADER_LEN];
    if &h[0..8] != MAGIC {
        return Err(IndexFileProblem::BadMagic);
    }
    if crc32fast::hash(&h[0..72]) != u32_at(h, 72) {
        return Err(IndexFileProblem::Checksum);
    }
    let version = u32_at(h, 8);
    if version != FORMAT_VERSION {
        return Err(IndexFileProblem::Version(version));
    }
    let dim = u32_at(h, 12) as usize;
    let n = usize::try_from(u64_at(h, 16)).map_err(|_| IndexFileProblem::Invalid("count"))?;
    let epoch = u64_at(h, 24);
    let mut store_id = [0u8; 16];
    store_id.copy_from_slice(&h[32..48]);
    let n_graphs = u32_at(h, 48) as usize;
    let body_crc = u32_at(h, 60);
    let body_len = u64_at(h, 64);
    if body_len != (map.len() - HEADER_LEN) as u64 {
        return Err(IndexFileProblem::Truncated);
    }
    if crc32fast::hash(&map[HEADER_LEN..]) != body_crc {
        return Err(IndexFileProblem::Checksum);
    }
    if dim == 0 || dim > super::MAX_DIMENSION || n > u32::MAX as usize / 2 || n_graphs > 16 {
        return Err(IndexFileProblem::Invalid("header values out of range"));
    }
    let map = Arc::new(map);
    let mut c = Cursor {
        map: map.clone(),
        at: HEADER_LEN,
    };
    let entities: Vec<u64> = c.owned(n)?;
    c.align()?;
    let slots: Vec<u64> = c.owned(n)?;
    c.align()?;
    // Written in position order, which is slot order (slots only grow), one position per
    // entity: the loader relies on both (the smallest slot is the first; an entity's live
    // position is unique).
    if slots.windows(2).any(|w| w[0] >= w[1]) {
        return Err(IndexFileProblem::Invalid("slots not ascending"));
    }
    let mut sorted = entities.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(IndexFileProblem::Invalid("an entity appears twice"));
    }
    drop(sorted);
    let mut graphs = Vec::with_capacity(n_graphs);
    for _ in 0..n_graphs {
        let gh = c.take(16)?;
        let entry = u32_at(&map, gh);
        let n_upper = u32_at(&map, gh + 4) as usize;
        let m0 = u32_at(&map, gh + 8) as usize;
        let m = u32_at(&map, gh + 12) as usize;
        c.align()?;
        if n_upper > 64 || (n > 0 && entry as usize >= n) || m0 > 1024 || m > 1024 {
            return Err(IndexFileProblem::Invalid("graph header"));
        }
        if m0 == 0 && n_upper > 0 {
            return Err(IndexFileProblem::Invalid("upper layers without a level 0"));
        }
        let vectors = c.region::<f32>(n.checked_mul(dim).ok_or(IndexFileProblem::Truncated)?)?;
        c.align()?;
        let level0 = c.region::<u32>(n.checked_mul(m0 + 1).ok_or(IndexFileProblem::Truncated)?)?;
        c.align()?;
        check_adjacency(level0.as_slice(), m0, n)?;
        let mut upper = Vec::with_capacity(n_upper);
        for _ in 0..n_upper {
            let at = c.take(8)?;
            let count = usize::try_from(u64_at(&map, at))
                .ok()
                .filter(|c| *c <= n)
                .ok_or(IndexFileProblem::Invalid("layer size"))?;
            let nodes: Vec<u32> = c.owned(count)?;
            let adj: Vec<u32> = c.owned(count * (m + 1))?;
            c.align()?;
            if nodes.windows(2).any(|w| w[0] >= w[1]) || nodes.iter().any(|p| *p as usize >= n) {
                return Err(IndexFileProblem::Invalid("layer nodes"));
            }
            check_adjacency(&adj, m, n)?;
            upper.push(UpperLayer { nodes, adj });
        }
        graphs.push(Graph {
            dim,
            n,
            m0,
            m,
            entry,
            vectors,
            level0,
            upper,
            codes: None,
        });
    }
    if c.at != map.len() {
        return Err(IndexFileProblem::Invalid("trailing bytes"));
    }
    // The checks read every page of the file into the process's page tables; most are never
    // read again (the vectors only exact searches scan, the regions moved to huge pages), so
    // let them go: a later read faults the same bytes back in from the page cache.
    // SAFETY: a read-only shared mapping of a file only ever replaced by rename: dropping its
    // page-table entries loses nothing.
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    Ok(IndexFile {
        store_id,
        epoch,
        dim,
        entities,
        slots,
        graphs,
    })
}

fn check_adjacency(adj: &[u32], width: usize, n: usize) -> Result<(), IndexFileProblem> {
    for row in adj.chunks_exact(width + 1) {
        let c = row[0] as usize;
        if c > width || row[1..1 + c].iter().any(|p| *p as usize >= n) {
            return Err(IndexFileProblem::Invalid("neighbour out of range"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes of every size, across many writeback chunks, then a seek back and a rewrite of
    /// the start (as the header is written): the file holds exactly the bytes written.
    #[test]
    fn a_paced_file_holds_exactly_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paced");
        let mut expected = Vec::new();
        let mut w = BufWriter::with_capacity(1000, Paced::new(File::create(&path).unwrap(), 4096));
        let mut x = 7u32;
        for i in 0..600usize {
            let len = (i * 37) % 5000;
            let chunk: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            w.write_all(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
        }
        assert!(expected.len() > 100 * 4096);
        w.seek(SeekFrom::Start(0)).unwrap();
        w.write_all(b"HEADER").unwrap();
        expected[..6].copy_from_slice(b"HEADER");
        let paced = w.into_inner().map_err(|e| e.into_error()).unwrap();
        assert!(
            paced.started > 90 * 4096,
            "writeback started as the file grew"
        );
        assert!(!paced.sequential);
        paced.file.sync_all().unwrap();
        drop(paced);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
