//! A request's body has `server.body_timeout_secs` to arrive after its head. actix bounds the
//! head (`client_request_timeout`) but not the body, so a client announcing 100 bytes and sending
//! 9 held a worker's buffers and a socket for as long as it liked. Every body reader (the JSON
//! extractor, idempotency buffering, multipart uploads) reads through this deadline and answers
//! 408 `request_timeout`; the connection is then closed, since the rest of the body never came.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::{ConnectionType, StatusCode},
    middleware::Next,
    web::{self, Bytes},
};
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::{
    error::{ApiError, ErrorCode},
    state::AppState,
};

/// When the body must have arrived (in the request's extensions, for readers that also bound
/// their own work on it, such as the multipart parser).
#[derive(Clone, Copy, Debug)]
pub struct BodyDeadline(pub Instant);

/// The payload, ending in a timed-out error once the deadline passes.
struct Deadline<S> {
    inner: S,
    sleep: Pin<Box<Sleep>>,
    expired: bool,
}

impl<S: Stream<Item = Result<Bytes, PayloadError>> + Unpin> Stream for Deadline<S> {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(timed_out())));
        }
        self.inner.poll_next_unpin(cx)
    }
}

fn timed_out() -> PayloadError {
    PayloadError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body did not arrive in time"))
}

/// Whether a payload error is this module's deadline.
pub fn is_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// The API error for a body that could not be read: 408 past the deadline, else 400.
pub fn read_error(e: &PayloadError) -> ApiError {
    if is_timeout(e) { timeout_error() } else { ApiError::new(ErrorCode::BadRequest, "The body could not be read") }
}

/// 408 `request_timeout`.
pub fn timeout_error() -> ApiError {
    ApiError::new(ErrorCode::RequestTimeout, "The request body did not arrive in time; send it again")
}

/// Middleware: puts the deadline on the payload and closes the connection after a 408.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let secs = req.app_data::<web::Data<AppState>>().map_or(30, |s| s.settings.server.body_timeout_secs);
    let at = Instant::now() + Duration::from_secs(secs);
    let inner = req.take_payload();
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(Deadline { inner, sleep: Box::pin(tokio::time::sleep_until(at)), expired: false });
    req.set_payload(Payload::from(stream));
    req.extensions_mut().insert(BodyDeadline(at));
    let mut res = next.call(req).await?;
    if res.status() == StatusCode::REQUEST_TIMEOUT {
        res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}
