//! Offline evaluation: TEXMEX file readers, the `eval-ann` recall/latency runner (and its
//! report against another engine's curve), the
//! `eval-recommend` ranking-quality runner, the `eval-search` retrieval-quality runner and the
//! `eval-llm` runner (what the configured LLM is worth to the analyses).

pub mod ann;
pub mod curve;
pub mod llm;
pub mod recommend;
pub mod search;
pub mod texmex;

/// A temporary working dir, removed on drop.
pub(crate) struct TempDir(std::path::PathBuf);

impl TempDir {
    /// `<tmp>/jobfirst-ai-<tag>-<pid>-<nanos>`, created.
    pub(crate) fn create(tag: &str) -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path =
            std::env::temp_dir().join(format!("jobfirst-ai-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
