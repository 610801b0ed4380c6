//! The client protocol: over one TCP connection, the client sends a
//! [`Request`] frame and waits for its [`Response`] frame, one at a time.
//!
//! A frame is a 4-byte big-endian length, then that many bytes of postcard
//! (the same framing as Ordo's TCP transport between peers, and as the
//! seed's protocol). A frame over [`MAX_FRAME_BYTES`] closes the
//! connection before anything is read or allocated for it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::command::{ClaimedTask, QueueStats, Refusal};
use crate::state::{ClaimToken, TaskId};

/// Largest frame either side accepts, in bytes (a payload's limit plus room).
pub const MAX_FRAME_BYTES: usize = 128 * 1024;

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// [`TaskQueue::enqueue`](crate::TaskQueue::enqueue).
    Enqueue {
        /// The queue.
        queue: String,
        /// The task's bytes.
        payload: Vec<u8>,
    },
    /// [`TaskQueue::claim`](crate::TaskQueue::claim).
    Claim {
        /// The queue.
        queue: String,
        /// Who claims.
        worker: String,
        /// How long the claim lasts, in milliseconds.
        visibility_timeout_ms: u64,
    },
    /// [`TaskQueue::ack`](crate::TaskQueue::ack).
    Ack {
        /// The task.
        task_id: TaskId,
        /// Its claim's token.
        token: ClaimToken,
    },
    /// [`TaskQueue::nack`](crate::TaskQueue::nack).
    Nack {
        /// The task.
        task_id: TaskId,
        /// Its claim's token.
        token: ClaimToken,
    },
    /// [`TaskQueue::stats`](crate::TaskQueue::stats).
    Stats {
        /// One queue, or all.
        queue: Option<String>,
    },
}

/// What the node answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The task was enqueued.
    Enqueued {
        /// The new task.
        task_id: TaskId,
    },
    /// The claim was committed; `task` is `None` if the queue was empty.
    Claimed {
        /// The task claimed.
        task: Option<ClaimedTask>,
    },
    /// The ack or nack was done.
    Done,
    /// The ack or nack was applied and refused.
    Refused(Refusal),
    /// Counts.
    Stats(QueueStats),
    /// Ask the leader (at `leader_address`, a client address) instead.
    /// Nothing was done.
    NotLeader {
        /// Its id, if known.
        leader_id: Option<u64>,
        /// Its client address, if known.
        leader_address: Option<String>,
    },
    /// The request breaks a limit. Nothing was done.
    Invalid(String),
    /// The node could not do it now (an election, a timeout, stopping).
    /// The outcome may be unknown: acks and nacks are safe to retry, a
    /// retried claim may leave a claim to expire, a retried enqueue may
    /// enqueue twice.
    Unavailable(String),
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// A frame announced more than [`MAX_FRAME_BYTES`].
    #[error("a frame of {0} bytes is over the limit")]
    Oversized(usize),
    /// The bytes are not a valid message.
    #[error("undecodable frame: {0}")]
    Decode(#[from] postcard::Error),
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes `message` as one frame.
///
/// # Errors
/// [`FrameError::Oversized`] (nothing written) or [`FrameError::Io`].
pub async fn write_frame<W, M>(writer: &mut W, message: &M) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    M: Serialize,
{
    let body = postcard::to_stdvec(message)?;
    let length = u32::try_from(body.len()).map_err(|_| FrameError::Oversized(body.len()))?;
    if body.len() > MAX_FRAME_BYTES {
        return Err(FrameError::Oversized(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    writer.write_all(&frame).await?;
    Ok(writer.flush().await?)
}

/// Reads one frame and decodes it.
///
/// # Errors
/// [`FrameError::Closed`] at a clean end between frames, else as the variants say.
pub async fn read_frame<R, M>(reader: &mut R) -> Result<M, FrameError>
where
    R: AsyncRead + Unpin,
    M: DeserializeOwned,
{
    let mut header = [0u8; 4];
    match reader.read_exact(&mut header).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(FrameError::Closed);
        }
        Err(error) => return Err(error.into()),
    }
    let length = u32::from_be_bytes(header) as usize;
    if length > MAX_FRAME_BYTES {
        return Err(FrameError::Oversized(length));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(postcard::from_bytes(&body)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_is_a_big_endian_length_then_postcard() {
        let request = Request::Stats { queue: None };
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &request).await.unwrap();
        let body = postcard::to_stdvec(&request).unwrap();
        assert_eq!(bytes[..4], (body.len() as u32).to_be_bytes());
        assert_eq!(bytes[4..], body);
        let read: Request = read_frame(&mut bytes.as_slice()).await.unwrap();
        assert_eq!(read, request);
    }

    #[tokio::test]
    async fn an_oversized_header_is_refused_before_reading_and_an_empty_stream_is_closed() {
        let header = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes();
        let read = read_frame::<_, Request>(&mut header.as_slice()).await;
        assert!(matches!(read, Err(FrameError::Oversized(_))));
        let read = read_frame::<_, Request>(&mut [].as_slice()).await;
        assert!(matches!(read, Err(FrameError::Closed)));
    }
}
