//! jobfirst-ai: the AI service of the JobFirst recruiting platform.
//!
//! Modules, from the request inward (ARCHITECTURE.md walks them in this order): [`http`] (the
//! edge), [`service`] (use-cases), [`analysis`] (rules, occupations, prompts), [`ai`] (embedders
//! and LLM clients), [`recommend`], [`hybrid`] and [`lexical`] (text search), [`vector`] (the
//! embedded vector engine), [`store`] (redb: entities, outbox, chat log), [`db`] (PostgreSQL
//! and MySQL); beside them [`eval`] (the evaluation commands), [`config`], [`entity`],
//! [`import`] and [`memory`].

pub mod eval;
pub mod vector;

pub mod ai;
pub mod analysis;
pub mod config;
pub mod db;
pub mod entity;
pub mod http;
pub mod hybrid;
pub mod idmap;
pub mod import;
pub mod lexical;
pub mod memory;
pub mod recommend;
mod rng;
pub mod service;
pub mod store;
