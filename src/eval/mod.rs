//! Offline evaluation: TEXMEX file readers and the `eval-ann` recall/latency runner.

pub mod ann;
pub mod texmex;
