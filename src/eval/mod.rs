//! Offline evaluation: TEXMEX file readers, the `eval-ann` recall/latency runner, the
//! `eval-recommend` ranking-quality runner and the `eval-llm` runner (what the configured LLM
//! is worth to the analyses).

pub mod ann;
pub mod llm;
pub mod recommend;
pub mod texmex;
