//! The circuit breaker: after `failure_threshold` consecutive outage errors it opens and every
//! call is refused at once (a mutex and a clock read, no I/O); after `cooldown` one probe call
//! is let through (half-open) — its success closes the circuit, its failure re-opens it for
//! another cool-down. [`super::ResilientLlm`] makes that probe a tiny generation of its own
//! before the call it admitted.

use std::sync::Arc;
use std::time::Duration;

// tokio's clock: the real one in the service, one a test can pause and advance.
use tokio::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;

use super::LlmError;

/// When the breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive outage errors that open the circuit; 0 disables the breaker.
    pub failure_threshold: u32,
    /// Time the circuit stays open before a probe call is allowed.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// State of the circuit, for health reports and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// One probe call decides whether to close or re-open.
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
pub(crate) struct Breaker {
    cfg: BreakerConfig,
    state: Mutex<State>,
}

/// Permission for one call; report its outcome with [`Ticket::settle`]. Dropping it unsettled
/// (the call was cancelled) frees the probe slot without judging the server.
#[derive(Debug)]
pub(crate) struct Ticket {
    breaker: Arc<Breaker>,
    probe: bool,
    settled: bool,
}

impl Breaker {
    pub(crate) fn new(cfg: BreakerConfig) -> Breaker {
        Breaker {
            cfg,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Admits a call or refuses it with [`LlmError::CircuitOpen`].
    pub(crate) fn admit(self: &Arc<Self>) -> Result<Ticket, LlmError> {
        let mut state = self.state.lock();
        let probe = match &*state {
            State::Closed { .. } => false,
            State::Open { until } if Instant::now() < *until => return Err(LlmError::CircuitOpen),
            State::HalfOpen { probing: true } => return Err(LlmError::CircuitOpen),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                true
            }
        };
        Ok(Ticket {
            breaker: Arc::clone(self),
            probe,
            settled: false,
        })
    }

    pub(crate) fn state(&self) -> CircuitState {
        match &*self.state.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if Instant::now() < *until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    fn on_success(&self) {
        *self.state.lock() = State::Closed { failures: 0 };
    }

    fn on_failure(&self, probe: bool) {
        if self.cfg.failure_threshold == 0 {
            return;
        }
        let mut state = self.state.lock();
        let open = State::Open {
            until: Instant::now() + self.cfg.cooldown,
        };
        match &mut *state {
            State::Closed { failures } => {
                *failures += 1;
                if *failures >= self.cfg.failure_threshold {
                    *state = open;
                }
            }
            State::HalfOpen { .. } => *state = open,
            // A call admitted before the circuit opened failed late: it is already open.
            State::Open { .. } if probe => *state = open,
            State::Open { .. } => {}
        }
    }

    fn on_abandon(&self, probe: bool) {
        if probe {
            let mut state = self.state.lock();
            if matches!(*state, State::HalfOpen { probing: true }) {
                *state = State::HalfOpen { probing: false };
            }
        }
    }
}

impl Ticket {
    /// Whether this call is the half-open circuit's probe.
    pub(crate) fn is_probe(&self) -> bool {
        self.probe
    }

    /// Records the call's outcome: outage errors count as failures, anything else (including a
    /// 4xx answer — the server is alive) as success.
    pub(crate) fn settle<T>(self, result: &Result<T, LlmError>) {
        self.settle_outage(matches!(result, Err(e) if e.is_outage()));
    }

    /// Records the call's outcome for callers whose errors are not [`LlmError`]s (the
    /// embedders): `outage` says the server failed.
    pub(crate) fn settle_outage(mut self, outage: bool) {
        self.settled = true;
        if outage {
            self.breaker.on_failure(self.probe);
        } else {
            self.breaker.on_success();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.on_abandon(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail() -> Result<(), LlmError> {
        Err(LlmError::Unavailable("down".into()))
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_and_probes_after_cooldown() {
        let b = Arc::new(Breaker::new(BreakerConfig {
            failure_threshold: 2,
            cooldown: Duration::from_millis(30),
        }));
        b.admit().unwrap().settle(&fail());
        assert_eq!(b.state(), CircuitState::Closed);
        b.admit().unwrap().settle(&fail());
        assert_eq!(b.admit().unwrap_err(), LlmError::CircuitOpen);
        tokio::time::advance(Duration::from_millis(29)).await;
        assert_eq!(
            b.admit().unwrap_err(),
            LlmError::CircuitOpen,
            "still cooling down"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        let probe = b.admit().unwrap();
        // Only one probe at a time.
        assert_eq!(b.admit().unwrap_err(), LlmError::CircuitOpen);
        probe.settle(&fail());
        assert_eq!(b.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_millis(30)).await;
        b.admit().unwrap().settle(&Ok::<(), LlmError>(()));
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn cancelled_probe_frees_the_slot_and_client_errors_do_not_count() {
        let b = Arc::new(Breaker::new(BreakerConfig {
            failure_threshold: 1,
            cooldown: Duration::ZERO,
        }));
        let not_outage: Result<(), LlmError> = Err(LlmError::Http {
            status: 404,
            message: "model not found".into(),
        });
        b.admit().unwrap().settle(&not_outage);
        assert_eq!(b.state(), CircuitState::Closed);
        b.admit().unwrap().settle(&fail());
        drop(b.admit().unwrap());
        assert!(b.admit().is_ok());
    }
}
