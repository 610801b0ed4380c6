//! The client port: accepts connections, answers each [`Request`] frame
//! with one [`Response`] frame, in order. At most [`MAX_CONNECTIONS`] at
//! once (more are closed at accept); each connection is a task in the
//! accept loop's [`JoinSet`], so aborting the loop closes them all.

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::protocol::{FrameError, Request, Response, read_frame, write_frame};
use crate::queue::{QueueError, TaskQueue};

/// Most client connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 1024;

/// Serves `listener` until aborted.
pub(crate) async fn serve(listener: TcpListener, queue: TaskQueue) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: let connections finish, then retry.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        if connections.len() >= MAX_CONNECTIONS {
            continue; // dropping the stream closes it
        }
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(stream, queue.clone()));
    }
}

async fn serve_connection(mut stream: TcpStream, queue: TaskQueue) {
    loop {
        let request: Request = match read_frame(&mut stream).await {
            Ok(request) => request,
            Err(FrameError::Closed) => return,
            Err(error) => {
                let answer = Response::Invalid(error.to_string());
                let _ = write_frame(&mut stream, &answer).await;
                return;
            }
        };
        let response = answer(&queue, request).await;
        if write_frame(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

/// Does `request` on this node.
async fn answer(queue: &TaskQueue, request: Request) -> Response {
    let result = match request {
        Request::Enqueue {
            queue: name,
            payload,
        } => queue
            .enqueue(&name, payload)
            .await
            .map(|task_id| Response::Enqueued { task_id }),
        Request::Claim {
            queue: name,
            worker,
            visibility_timeout_ms,
        } => {
            let timeout = std::time::Duration::from_millis(visibility_timeout_ms);
            let claimed = queue.claim(&name, &worker, timeout).await;
            claimed.map(|task| Response::Claimed { task })
        }
        Request::Ack { task_id, token } => queue.ack(task_id, token).await.map(|()| Response::Done),
        Request::Nack { task_id, token } => {
            queue.nack(task_id, token).await.map(|()| Response::Done)
        }
        Request::Stats { queue: name } => queue.stats(name.as_deref()).await.map(Response::Stats),
    };
    result.unwrap_or_else(error_response)
}

fn error_response(error: QueueError) -> Response {
    match error {
        QueueError::NotLeader {
            leader_id,
            leader_address,
        } => Response::NotLeader {
            leader_id,
            leader_address,
        },
        QueueError::Invalid(why) => Response::Invalid(why),
        QueueError::Refused(refusal) => Response::Refused(refusal),
        QueueError::Raft(error) => Response::Unavailable(error.to_string()),
    }
}
