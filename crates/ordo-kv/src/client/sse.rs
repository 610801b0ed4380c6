//! A parser of Server-Sent Events (the `text/event-stream` format of
//! `GET /v1/watch`), fed the body's chunks as they come.
//!
//! The format: lines of `field: value`; `event`, `data` and `id` matter,
//! several `data` lines join with `\n`, lines starting with `:` are
//! comments (keep-alives), and a blank line ends a message. Lines end with
//! `\n` or `\r\n` (a lone `\r`, which the standard also allows, is not
//! accepted: the server never sends it). A chunk may end anywhere, even
//! inside a line; a line longer than the limit is an error, so a node that
//! never ends a line cannot grow the buffer without bound.

/// One message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SseMessage {
    /// The `event:` field (`message` when absent, as the standard says).
    pub(crate) event: String,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
    /// The `id:` field, if any.
    pub(crate) id: Option<String>,
}

/// Why a stream is not SSE.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SseError {
    /// A line longer than the limit, in bytes.
    #[error("an event-stream line over {0} bytes")]
    LineTooLong(usize),
    /// A line that is not UTF-8.
    #[error("an event-stream line that is not UTF-8")]
    NotUtf8,
}

/// Turns chunks into messages; keeps the unfinished line and message.
#[derive(Debug)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    message: SseMessage,
    has_data: bool,
    max_line_bytes: usize,
}

impl SseParser {
    /// A parser refusing lines (so messages' data lines) over
    /// `max_line_bytes`.
    pub(crate) fn new(max_line_bytes: usize) -> Self {
        Self {
            line: Vec::new(),
            message: SseMessage::default(),
            has_data: false,
            max_line_bytes,
        }
    }

    /// The messages `chunk` completes, in order.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseMessage>, SseError> {
        let mut messages = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            self.extend_line(&rest[..end])?;
            rest = &rest[end + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
            if let Some(message) = self.take_line(&line) {
                messages.push(message);
            }
        }
        self.extend_line(rest)?;
        Ok(messages)
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.max_line_bytes {
            return Err(SseError::LineTooLong(self.max_line_bytes));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Takes one complete line; a blank one ends the message (if it has
    /// data: a message without data is dropped, as the standard says).
    fn take_line(&mut self, line: &str) -> Option<SseMessage> {
        if line.is_empty() {
            let message = std::mem::take(&mut self.message);
            let has_data = std::mem::take(&mut self.has_data);
            return has_data.then(|| SseMessage {
                event: if message.event.is_empty() {
                    "message".to_owned()
                } else {
                    message.event
                },
                ..message
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.message.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.message.data.push('\n');
                }
                self.message.data.push_str(value);
                self.has_data = true;
            }
            "id" => self.message.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(event: &str, data: &str, id: Option<&str>) -> SseMessage {
        SseMessage {
            event: event.to_owned(),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        }
    }

    const STREAM: &str = ": comment, a keep-alive\n\
        event: progress\ndata: {\"revision\": 4}\n\n\
        event: change\r\nid: 5\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n\
        data:plain\n\n";

    fn expected() -> Vec<SseMessage> {
        vec![
            message("progress", "{\"revision\": 4}", None),
            message("change", "{\"a\":\n1}", Some("5")),
            message("message", "plain", None),
        ]
    }

    #[test]
    fn a_whole_stream_parses() {
        let mut parser = SseParser::new(1024);
        assert_eq!(parser.push(STREAM.as_bytes()).unwrap(), expected());
    }

    /// Every way of cutting the stream in two gives the same messages:
    /// chunks end anywhere, inside a line, a `\r\n` or a UTF-8 character.
    #[test]
    fn chunks_split_anywhere() {
        let bytes = STREAM.as_bytes();
        for cut in 0..=bytes.len() {
            let mut parser = SseParser::new(1024);
            let mut messages = parser.push(&bytes[..cut]).unwrap();
            messages.extend(parser.push(&bytes[cut..]).unwrap());
            assert_eq!(messages, expected(), "cut at {cut}");
        }
        let mut parser = SseParser::new(1024);
        let mut messages = Vec::new();
        for byte in "data: é\n\n".as_bytes() {
            messages.extend(parser.push(&[*byte]).unwrap());
        }
        assert_eq!(messages, vec![message("message", "é", None)]);
    }

    #[test]
    fn a_message_without_data_is_dropped_and_an_unfinished_one_kept() {
        let mut parser = SseParser::new(1024);
        assert!(
            parser
                .push(b"event: progress\n\nid: 3\n")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            parser.push(b"data: x\n\n").unwrap(),
            vec![message("message", "x", Some("3"))]
        );
    }

    #[test]
    fn endless_lines_are_refused() {
        let mut parser = SseParser::new(8);
        assert_eq!(parser.push(b"data: 12"), Ok(Vec::new()));
        assert_eq!(parser.push(b"3"), Err(SseError::LineTooLong(8)));
    }
}
