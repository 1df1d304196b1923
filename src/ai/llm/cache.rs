//! The result cache: complete answers keyed by a SHA-256 of everything that shapes them
//! (call kind, model, system prompt, prompt or messages, schema, sampling options), kept for a
//! TTL and bounded in entries (the oldest insert is evicted first). Analyses of unchanged input
//! then cost a hash and a map lookup instead of seconds of generation.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

// tokio's clock: the real one in the service, one a test can pause and advance.
use tokio::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::LlmResponse;

/// SHA-256 of a call's content.
pub(crate) type CacheKey = [u8; 32];

/// Hashes a call: `kind` ("generate" / "chat"), the model and the serialised request. JSON
/// objects serialise with sorted keys, so equal requests always give equal keys.
pub(crate) fn cache_key(kind: &str, model: &str, request: &impl Serialize) -> CacheKey {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(model.as_bytes());
    h.update([0]);
    // Serialising plain data structs into a Vec cannot fail; an empty payload would only make
    // the key coarser, never wrong for the same input.
    h.update(serde_json::to_vec(request).unwrap_or_default());
    let mut key = [0u8; 32];
    key.copy_from_slice(h.finalize().as_slice());
    key
}

#[derive(Debug)]
struct Entry {
    response: LlmResponse,
    expires: Instant,
    generation: u64,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<CacheKey, Entry>,
    /// Insertion order; entries whose generation no longer matches the map are stale.
    order: VecDeque<(CacheKey, u64)>,
    next_generation: u64,
}

#[derive(Debug)]
pub(crate) struct ResponseCache {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ResponseCache {
    /// A cache keeping answers for `ttl` (zero disables it), at most `capacity` of them.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> ResponseCache {
        ResponseCache {
            ttl,
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    pub(crate) fn get(&self, key: &CacheKey) -> Option<LlmResponse> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.inner.lock();
        match inner.map.get(key) {
            Some(e) if e.expires > Instant::now() => Some(e.response.clone()),
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, key: CacheKey, response: LlmResponse) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if !inner.map.contains_key(&key) && inner.map.len() >= self.capacity {
            inner.map.retain(|_, e| e.expires > now);
            while inner.map.len() >= self.capacity {
                let Some((old, generation)) = inner.order.pop_front() else {
                    break;
                };
                if inner
                    .map
                    .get(&old)
                    .is_some_and(|e| e.generation == generation)
                {
                    inner.map.remove(&old);
                }
            }
        }
        let generation = inner.next_generation;
        inner.next_generation += 1;
        inner.map.insert(
            key,
            Entry {
                response,
                expires: now + self.ttl,
                generation,
            },
        );
        inner.order.push_back((key, generation));
        if inner.order.len() > 2 * self.capacity + 16 {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(k, g)| map.get(k).is_some_and(|e| e.generation == *g));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> LlmResponse {
        LlmResponse {
            text: text.into(),
            prompt_tokens: 1,
            completion_tokens: 2,
            model: "m".into(),
            duration: Duration::from_millis(5),
        }
    }

    #[test]
    fn keys_depend_on_every_part() {
        let a = cache_key("generate", "m", &("sys", "prompt"));
        assert_eq!(a, cache_key("generate", "m", &("sys", "prompt")));
        assert_ne!(a, cache_key("chat", "m", &("sys", "prompt")));
        assert_ne!(a, cache_key("generate", "m2", &("sys", "prompt")));
        assert_ne!(a, cache_key("generate", "m", &("sys", "prompt!")));
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_oldest_first_and_expires() {
        let cache = ResponseCache::new(Duration::from_secs(60), 2);
        let k = |i: u8| cache_key("generate", "m", &i);
        cache.insert(k(1), answer("1"));
        cache.insert(k(2), answer("2"));
        cache.insert(k(3), answer("3"));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&k(1)).is_none());
        assert_eq!(cache.get(&k(3)).unwrap().text, "3");

        let short = ResponseCache::new(Duration::from_millis(10), 8);
        short.insert(k(1), answer("1"));
        assert!(short.get(&k(1)).is_some());
        tokio::time::advance(Duration::from_millis(9)).await;
        assert!(short.get(&k(1)).is_some(), "kept for the whole TTL");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(short.get(&k(1)).is_none());

        let off = ResponseCache::new(Duration::ZERO, 8);
        off.insert(k(1), answer("1"));
        assert!(off.get(&k(1)).is_none());
    }
}
