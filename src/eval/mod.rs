//! Offline evaluation: TEXMEX file readers, the `eval-ann` recall/latency runner and the
//! `eval-recommend` ranking-quality runner.

pub mod ann;
pub mod recommend;
pub mod texmex;
