//! `GET /v1/ui/stream`: a [`UiFrame`](super::frame::UiFrame) as an SSE
//! `event: frame` at once and then every [`FRAME_INTERVAL`], until the
//! client goes away or the node stops (then `event: stopped` and the end).
//!
//! Each frame is built after the previous one was sent, so a slow client
//! or a slow member delays frames instead of queueing them: the stream
//! holds one frame at a time.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tokio::time::{Instant, MissedTickBehavior};

use crate::server::http::{SharedState, cluster_view};
use crate::server::ui::frame;
use crate::server::ui::members::MemberAsker;

/// How often a frame is sent.
pub const FRAME_INTERVAL: Duration = Duration::from_secs(1);

/// Where the stream is.
enum Phase {
    /// The next frame is due at the tick.
    Running(tokio::time::Interval, MemberAsker),
    /// The node stopped and the client was told.
    Ended,
}

pub(crate) async fn stream(State(state): State<SharedState>) -> Response {
    let mut ticks = tokio::time::interval_at(Instant::now(), FRAME_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let frames = stream::unfold(
        (
            Arc::clone(&state),
            Phase::Running(ticks, MemberAsker::new(state.cluster_ca.clone())),
        ),
        |(state, phase)| async move {
            let Phase::Running(mut ticks, mut asker) = phase else {
                return None;
            };
            ticks.tick().await;
            match next_event(&state, &mut asker).await {
                Some(event) => Some((
                    Ok::<_, Infallible>(event),
                    (state, Phase::Running(ticks, asker)),
                )),
                None => {
                    let stopped = Event::default().event("stopped").data("the node stopped");
                    Some((Ok(stopped), (state, Phase::Ended)))
                }
            }
        },
    );
    Sse::new(frames)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The next frame as an event; `None` once the node has stopped.
async fn next_event(state: &SharedState, asker: &mut MemberAsker) -> Option<Event> {
    let status = state.node.status().await.ok()?;
    let view = cluster_view(state, &status);
    let answers = asker.ask(&view).await;
    let frame = frame::build(state, &status, &view, &answers);
    // Serializing plain numbers and strings cannot fail; if it ever did,
    // an empty frame is skipped by the page rather than ending the stream.
    Some(
        Event::default()
            .event("frame")
            .json_data(&frame)
            .unwrap_or_else(|_| Event::default().event("frame").data("{}")),
    )
}
