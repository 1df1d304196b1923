//! Lexical retrieval: a tokeniser for Chinese and technical text and a BM25F inverted index
//! per collection, which the engine keeps beside its vectors (see [`crate::vector::Engine`]).

mod index;
pub mod tokenize;

pub use index::{DocTerms, Field, LexHit, LexicalIndex, Query, QueryTerm, MAX_QUERY_TERMS};

/// The text of each field of `fields` in a stored document: a string as is, an array's
/// strings joined by newlines, anything else (or nothing) empty.
pub fn field_texts(fields: &[Field], document: &serde_json::Value) -> Vec<String> {
    fields
        .iter()
        .map(|f| match document.pointer(f.pointer) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        })
        .collect()
}

/// Analyses a stored document for indexing.
pub fn analyse(fields: &[Field], document: &serde_json::Value) -> DocTerms {
    DocTerms::with_stored(fields, &field_texts(fields, document))
}
