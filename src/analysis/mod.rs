//! Rule-based analysers (the fallback when no LLM answers): skills from a lexicon, experience
//! years and education level from text, cities normalised, salary from similar jobs, the
//! standard occupation of a title ([`occupation`]) — and ([`llm`]) what the LLM is asked, the
//! schema of its answer and how that merges with the rules.

/// Name of the rule-based analysers, reported as `model` when they answered.
pub const FALLBACK_MODEL: &str = "rules-v1";

pub mod city;
pub mod company;
pub mod extract;
pub mod grounding;
pub mod job;
pub mod lexicon;
pub mod llm;
pub mod occupation;
pub mod resume;
