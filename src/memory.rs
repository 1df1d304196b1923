//! Handing the allocator's free memory back to the system.
//!
//! glibc's malloc keeps freed heap pages resident until something asks for them back
//! (`malloc_trim`); unlike jemalloc or mimalloc it has no time-based purge of its own. The
//! engine trims after each build (a rebuild frees hundreds of MB in small blocks), and
//! [`Trimmer`] trims on a timer: requests, analyses and delta builds free memory across ~20
//! arenas all the time, and between two builds' trims the free pages crept up ~2 MB a minute
//! under the mixed load of RELIABILITY.md. Elsewhere than glibc these are no-ops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// Returns the allocator's free pages to the system; the time it took (zero where there is
/// nothing to call). 1–30 ms at 100k jobs: it walks every arena, each under its lock, so it
/// runs on background threads at the requests' priority (a niced thread holding an arena's
/// lock would make requests wait for the CPU it gets).
pub fn release_free() -> Duration {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = Instant::now();
        // SAFETY: malloc_trim only returns unused pages of the allocator's own arenas; it
        // takes the arenas' locks and touches no memory the program holds.
        unsafe {
            libc::malloc_trim(0);
        }
        let took = started.elapsed();
        TRIMS.fetch_add(1, Ordering::Relaxed);
        TRIM_MICROS.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        took
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    Duration::ZERO
}

/// A thread that calls [`release_free`] every `interval` until dropped.
pub struct Trimmer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Trimmer {
    /// Starts the thread; `None` when `interval` is zero, on allocators without a trim, or
    /// when the thread cannot be spawned (the process then only trims after builds).
    pub fn start(interval: Duration) -> Option<Trimmer> {
        if interval.is_zero() || !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return None;
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("memory-trim".into())
            .spawn(move || {
                let (lock, cv) = &*flag;
                let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let (guard, _) = cv
                        .wait_timeout_while(stopped, interval, |s| !*s)
                        .unwrap_or_else(|e| e.into_inner());
                    stopped = guard;
                    if *stopped {
                        return;
                    }
                    let took = release_free();
                    tracing::trace!(micros = took.as_micros() as u64, "memory trimmed");
                }
            });
        match thread {
            Ok(t) => Some(Trimmer {
                stop,
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
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
