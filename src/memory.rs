//! Handing the allocator's free memory back to the system.
//!
//! glibc's malloc keeps freed heap pages resident until something asks for them back
//! (`malloc_trim`); unlike jemalloc or mimalloc it has no time-based purge of its own. The
//! engine trims after each build (a rebuild frees hundreds of MB in small blocks), and
//! [`Trimmer`] trims on a timer: requests, analyses and delta builds free memory across ~20
//! arenas all the time, and between two builds' trims the free pages crept up ~2 MB a minute
//! under the mixed load of RELIABILITY.md. Elsewhere than glibc these are no-ops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

static TRIMS: AtomicU64 = AtomicU64::new(0);
static TRIM_MICROS: AtomicU64 = AtomicU64::new(0);

/// The trims made by this process so far, and the time they took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrimStats {
    pub trims: u64,
    pub micros: u64,
}

/// Trims so far (every caller: the engine's builds and the [`Trimmer`]).
pub fn trim_stats() -> TrimStats {
    TrimStats {
        trims: TRIMS.load(Ordering::Relaxed),
        micros: TRIM_MICROS.load(Ordering::Relaxed),
    }
}

/// Returns the allocator's free pages to the system. 1–30 ms at 100k jobs: it walks every
/// arena, each under its lock, so it runs on background threads at the requests' priority (a
/// niced thread holding an arena's lock would make requests wait for the CPU it gets).
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim only returns unused pages of the allocator's own arenas; it
        // takes the arenas' locks and touches no memory the program holds.
        unsafe {
            libc::malloc_trim(0);
        }
        TRIMS.fetch_add(1, Ordering::Relaxed);
        TRIM_MICROS.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// A thread that calls [`release_free`] every `interval` until dropped.
pub struct Trimmer {
    /// Dropping it wakes the thread and ends it.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Trimmer {
    /// Starts the thread; `None` when `interval` is zero, on allocators without a trim, or
    /// when the thread cannot be spawned (the process then only trims after builds).
    pub fn start(interval: Duration) -> Option<Trimmer> {
        if interval.is_zero() || !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return None;
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("memory-trim".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    release_free();
                }
            });
        match thread {
            Ok(t) => Some(Trimmer {
                stop: Some(stop),
                thread: Some(t),
            }),
            Err(e) => {
                tracing::warn!("cannot start the memory trim thread: {e}");
                None
            }
        }
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_trimmer_trims_on_its_interval_and_stops_when_dropped() {
        if !cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(Trimmer::start(Duration::from_millis(5)).is_none());
            return;
        }
        assert!(Trimmer::start(Duration::ZERO).is_none());
        let before = trim_stats().trims;
        let t = Trimmer::start(Duration::from_millis(5)).expect("a trimmer");
        let deadline = Instant::now() + Duration::from_secs(10);
        while trim_stats().trims < before + 3 {
            assert!(Instant::now() < deadline, "no trims within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(t);
        // Dropping wakes the thread at once, not at its next interval.
        let t = Trimmer::start(Duration::from_secs(3600)).expect("a trimmer");
        let started = Instant::now();
        drop(t);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
