//! Incremental decoding of streamed answers: splits a response body into lines as bytes
//! arrive (Ollama's NDJSON, OpenAI's SSE `data:` lines) and turns them into a [`ChatStream`]
//! through a per-provider line decoder. A body that ends or breaks before the decoder saw the
//! final message yields [`LlmError::StreamBroken`]; the stream never just stops.

use std::collections::VecDeque;

use futures_util::stream::{self, BoxStream, StreamExt};

use super::{ChatStream, LlmError, StreamEvent};

/// A single line longer than this is not a protocol line; refuse it instead of buffering.
const MAX_LINE: usize = 4 << 20;

/// Reads a response body line by line without waiting for the whole body.
pub(crate) struct LineReader {
    body: BoxStream<'static, Result<Vec<u8>, LlmError>>,
    buf: Vec<u8>,
    eof: bool,
}

impl LineReader {
    pub(crate) fn new(resp: reqwest::Response) -> LineReader {
        let body = resp
            .bytes_stream()
            .map(|chunk| match chunk {
                Ok(bytes) => Ok(bytes.to_vec()),
                Err(e) => Err(LlmError::StreamBroken(super::error_chain(&e))),
            })
            .boxed();
        LineReader {
            body,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// The next line without its `\n` (and `\r`), or `None` at the end of the body. A last
    /// line without a newline is still returned.
    pub(crate) async fn next_line(&mut self) -> Result<Option<String>, LlmError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return to_string(line).map(Some);
            }
            if self.eof {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return to_string(std::mem::take(&mut self.buf)).map(Some);
            }
            if self.buf.len() > MAX_LINE {
                return Err(LlmError::BadResponse(format!(
                    "a streamed line is longer than {MAX_LINE} bytes"
                )));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(e),
                None => self.eof = true,
            }
        }
    }
}

fn to_string(line: Vec<u8>) -> Result<String, LlmError> {
    String::from_utf8(line)
        .map_err(|_| LlmError::BadResponse("a streamed line is not UTF-8".into()))
}

struct State<D> {
    lines: LineReader,
    decode: D,
    pending: VecDeque<StreamEvent>,
    finished: bool,
}

/// Turns a streamed body into a [`ChatStream`]. `decode` sees every non-blank line and returns
/// the events it carries (deltas, and a final [`StreamEvent::Done`] that ends the stream) or an
/// error that ends it.
pub(crate) fn event_stream<D>(resp: reqwest::Response, decode: D) -> ChatStream
where
    D: FnMut(&str) -> Result<Vec<StreamEvent>, LlmError> + Send + 'static,
{
    let state = State {
        lines: LineReader::new(resp),
        decode,
        pending: VecDeque::new(),
        finished: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.pending.pop_front() {
                if matches!(ev, StreamEvent::Done(_)) {
                    st.finished = true;
                    st.pending.clear();
                }
                return Some((Ok(ev), st));
            }
            if st.finished {
                return None;
            }
            let outcome = match st.lines.next_line().await {
                Ok(Some(line)) if line.trim().is_empty() => continue,
                Ok(Some(line)) => (st.decode)(&line),
                Ok(None) => Err(LlmError::StreamBroken(
                    "the body ended before the final message".into(),
                )),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(events) => st.pending.extend(events),
                Err(e) => {
                    st.finished = true;
                    return Some((Err(e), st));
                }
            }
        }
    })
    .boxed()
}
