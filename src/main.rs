//! The `jobfirst-ai` command.
fn main() {}
