//! The integration tests: one binary (each test binary links the whole crate, which is slow
//! on two cores), one module per area. Every test starts what it needs — the service on port 0
//! with a temp data dir, a fresh PostgreSQL/MariaDB database, a fake Ollama — on its own.

mod fake_ollama;
mod support;

mod access_matrix;
mod api;
mod api_llm;
mod chat;
mod cli;
mod crash_outbox;
mod crash_rounds;
mod db_rows;
mod db_service;
mod disk_full;
mod embed_openai;
mod engine;
mod eval_recommend;
mod faults;
mod hostile_files;
mod http_edge;
mod import;
mod llm;
mod platform;
mod prompt_injection;
mod proxy;
mod rebuild_seeded;
mod recommend;
mod schemathesis_regressions;
mod serve_starting;
mod tasks;
