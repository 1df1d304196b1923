//! The disk under the store: disk-full mode (writes refused, reads served, a probe for space
//! returning) and the reserve file that gives a reopen room to recover a failed commit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

use super::error::{Result, StoreError};
use super::outbox::now_ms;

/// Name of the space reserve in the data dir.
const RESERVE_FILE: &str = "space.reserve";
const PROBE_FILE: &str = "space.probe";
/// How often, at most, a store refusing writes checks whether space returned.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// Free space a probe asks for beyond the reserve, at least.
const MIN_PROBE_BYTES: u64 = 256 << 10;

/// The state of the disk under the store, for `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct StorageStatus {
    /// `up`; `disk_full` (writes refused until space returns, reads served); `unavailable`
    /// (the store could not be reopened after an I/O error).
    pub status: &'static str,
    /// Since when writes have been refused (Unix ms), while not `up`.
    pub since_ms: Option<i64>,
    /// Writes refused for lack of space since start.
    pub refused_writes: u64,
    /// Times the disk was found full since start.
    pub disk_full_events: u64,
    /// Times the store was reopened after an I/O error since start.
    pub reopens: u64,
    /// Bytes kept in reserve in the data dir (deleted while the disk is full).
    pub reserve_bytes: u64,
    /// The last storage failure, while not `up`.
    pub last_error: Option<String>,
}

/// Disk-full mode and the reserve file.
pub(crate) struct Space {
    pub(super) reserve: PathBuf,
    probe: PathBuf,
    reserve_bytes: u64,
    state: Mutex<SpaceState>,
}

#[derive(Default)]
pub(super) struct SpaceState {
    /// While writes are refused for lack of space: since when (and as Unix ms).
    full_since: Option<(Instant, i64)>,
    last_probe: Option<Instant>,
    refused: u64,
    episodes: u64,
    reopens: u64,
    last_error: Option<String>,
    /// The last reopen failed (the store has no database until one succeeds).
    unavailable: bool,
    last_reopen: Option<Instant>,
}

/// Writes `bytes` zeros to `path` (really allocated, unlike `set_len`); removes the file when
/// that fails.
fn write_zeros(path: &Path, bytes: u64) -> std::io::Result<()> {
    let result = (|| {
        let mut f = std::fs::File::create(path)?;
        let chunk = vec![0u8; 64 << 10];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        // Delayed allocation reports ENOSPC at fsync on some filesystems.
        f.sync_data()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

impl Space {
    pub(super) fn new(dir: &Path, reserve_bytes: u64) -> Space {
        Space {
            reserve: dir.join(RESERVE_FILE),
            probe: dir.join(PROBE_FILE),
            reserve_bytes,
            state: Mutex::new(SpaceState::default()),
        }
    }

    /// Writes the reserve unless it is there, fully allocated.
    pub(super) fn ensure_reserve(&self) -> std::io::Result<()> {
        if self.reserve_bytes == 0 {
            return Ok(());
        }
        if let Ok(m) = std::fs::metadata(&self.reserve) {
            #[cfg(unix)]
            let allocated = {
                use std::os::unix::fs::MetadataExt;
                m.blocks().saturating_mul(512) >= m.len()
            };
            #[cfg(not(unix))]
            let allocated = true;
            if m.len() == self.reserve_bytes && allocated {
                return Ok(());
            }
        }
        write_zeros(&self.reserve, self.reserve_bytes)
    }

    /// Whether there is room to write again: the reserve, and as much again free.
    pub(super) fn has_room(&self) -> bool {
        if self.ensure_reserve().is_err() {
            return false;
        }
        let room = write_zeros(&self.probe, self.reserve_bytes.max(MIN_PROBE_BYTES));
        let _ = std::fs::remove_file(&self.probe);
        room.is_ok()
    }

    /// The disk is full: refuse writes from now on, and free the reserve so the store can be
    /// reopened and recover the failed commit.
    pub(super) fn enter_full(&self, error: &str) {
        let mut st = self.state.lock();
        self.mark_full(&mut st, error);
    }

    /// After an I/O error that does not say why (`PreviousIo` after another call's ENOSPC, an
    /// EIO): whether the disk is full, probing it when not known to be.
    pub(super) fn found_full(&self, error: &str) -> bool {
        let mut st = self.state.lock();
        if st.full_since.is_some() {
            return true;
        }
        if self.has_room() {
            return false;
        }
        self.mark_full(&mut st, error);
        true
    }

    pub(super) fn mark_full(&self, st: &mut SpaceState, error: &str) {
        if st.full_since.is_none() {
            st.full_since = Some((Instant::now(), now_ms()));
            st.episodes += 1;
            tracing::error!(
                error,
                "disk full: writes are refused until space returns; reads go on"
            );
        }
        st.last_error = Some(error.to_string());
        st.last_probe = Some(Instant::now());
        if self.reserve_bytes > 0 {
            let _ = std::fs::remove_file(&self.reserve);
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.state.lock().full_since.is_some()
    }

    /// Refuses a write while the disk is full, unless a probe (at most every
    /// [`PROBE_EVERY`]) finds room again.
    pub(super) fn admit_write(&self) -> Result<()> {
        let mut st = self.state.lock();
        if self.recovered(&mut st) {
            return Ok(());
        }
        st.refused += 1;
        Err(StoreError::DiskFull)
    }

    /// Whether writes may go (probing when due).
    pub(super) fn recovered(&self, st: &mut SpaceState) -> bool {
        let Some((since, _)) = st.full_since else {
            return true;
        };
        if st.last_probe.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
            return false;
        }
        st.last_probe = Some(Instant::now());
        if !self.has_room() {
            return false;
        }
        tracing::warn!(
            full_ms = since.elapsed().as_millis() as u64,
            refused = st.refused,
            "space returned: writes accepted again"
        );
        st.full_since = None;
        st.last_error = None;
        true
    }

    /// Whether a reopen that failed may be tried again (at most once a second).
    pub(super) fn retry_reopen_due(&self) -> bool {
        let st = self.state.lock();
        st.last_reopen
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
    }

    pub(super) fn note_reopen(&self, error: Option<String>) {
        let mut st = self.state.lock();
        st.last_reopen = Some(Instant::now());
        st.reopens += 1;
        st.unavailable = error.is_some();
        if error.is_some() {
            st.last_error = error;
        }
    }

    pub(super) fn status(&self) -> StorageStatus {
        let mut st = self.state.lock();
        self.recovered(&mut st);
        let reserve_bytes = if st.full_since.is_some() {
            0
        } else {
            self.reserve_bytes
        };
        StorageStatus {
            status: if st.full_since.is_some() {
                "disk_full"
            } else if st.unavailable {
                "unavailable"
            } else {
                "up"
            },
            since_ms: st.full_since.map(|(_, ms)| ms),
            refused_writes: st.refused,
            disk_full_events: st.episodes,
            reopens: st.reopens,
            reserve_bytes,
            last_error: if st.full_since.is_some() || st.unavailable {
                st.last_error.clone()
            } else {
                None
            },
        }
    }
}
