//! Server-Sent Events of one run: its stored history first, then live events, `: keep-alive` comments
//! while idle, and the end of the stream after the run's final state.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use modelrunner::Event;
use tokio_stream::wrappers::ReceiverStream;

use crate::errors::{ApiError, Front};
use crate::state::AppState;

/// How an API writes one core event as an SSE event (`None`: not part of its stream).
pub type Render = fn(&Event) -> Option<SseEvent>;

/// The event id a reconnecting client saw last (`Last-Event-ID`): events up to it are not resent.
pub fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers.get("last-event-id")?.to_str().ok()?.trim().parse().ok()
}

/// Streams run `run_id`'s events, written by `render`. An unknown run is an error answer, not a stream.
pub async fn run_stream<F: Front>(state: &AppState, run_id: String, after: Option<u64>, render: Render) -> Result<Response, ApiError<F>> {
    let mut subscription = state.call::<F, _, _>(move |r| r.subscribe(&run_id)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<SseEvent, Infallible>>(256);
    // The subscription blocks while it waits; it lives on the blocking pool until the run ends or the
    // client goes away (noticed within a poll interval).
    tokio::task::spawn_blocking(move || {
        loop {
            if tx.is_closed() {
                return;
            }
            match subscription.next_timeout(Duration::from_millis(500)) {
                Ok(Some(event)) => {
                    if after.is_some_and(|seen| event.id <= seen) {
                        continue;
                    }
                    if let Some(sse) = render(&event) {
                        let sse = sse.id(event.id.to_string());
                        if tx.blocking_send(Ok(sse)).is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => return,
                Err(()) => {}
            }
        }
    });
    let keep_alive = KeepAlive::new().interval(state.settings.keep_alive).text("keep-alive");
    let mut response = Sse::new(ReceiverStream::new(rx)).keep_alive(keep_alive).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    Ok(response)
}
