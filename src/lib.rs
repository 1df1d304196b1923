//! jobfirst-ai: the AI service of the JobFirst recruiting platform.
//!
//! Modules in data-flow order: [`vector`] (the embedded vector engine), [`eval`] (ANN
//! evaluation over TEXMEX files).

pub mod eval;
pub mod vector;

pub mod ai;
pub mod analysis;
pub mod config;
pub mod db;
pub mod entity;
pub mod http;
pub mod hybrid;
pub mod import;
pub mod lexical;
pub mod memory;
pub mod recommend;
mod rng;
pub mod service;
pub mod store;
