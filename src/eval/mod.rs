//! Evaluation of the vector engine.
