//! One-click unsubscribe (RFC 8058) from a reminder email, without a login: the signed link
//! withdraws the patient's `email_reminders` consent (`services::unsubscribe`). A browser
//! opening the link gets a confirmation page in the patient's language; its form posts back and
//! gets a page saying it is done, with a button that turns the emails back on (the same token).
//! Mail clients' one-click POSTs and API callers get JSON, as before: HTML goes only to a POST
//! whose `Accept` names `text/html` (a browser's form).

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ErrorCode},
    http::pages::{self, Button, Flow, Message},
    services::unsubscribe,
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeParams {
    /// The signed token from the email's link.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unsubscribed {
    /// `unsubscribed`, or `subscribed` after a resubscribe.
    pub status: String,
}

/// The token of the query, or the API's 400 `invalid_query` (the same as the extractor's).
fn token(req: &HttpRequest) -> Result<String, ApiError> {
    web::Query::<UnsubscribeParams>::from_query(req.query_string())
        .map(|q| q.into_inner().token)
        .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.to_string()))
}

/// Withdraws `email_reminders` consent for the patient the token names (RFC 8058 one-click).
///
/// JSON, unless the request's `Accept` names `text/html` (the confirmation page's form): then
/// a page saying it is done, with a button that turns the emails back on; an unknown token is
/// then a 404 page.
#[utoipa::path(post, path = "/api/v1/unsubscribe", tag = "email", params(UnsubscribeParams),
    responses((status = 200, description = "Unsubscribed (also when already unsubscribed)", content(
        (Unsubscribed = "application/json"),
        (String = "text/html", example = "<!doctype html>…"))),
    (status = 404, description = "Unknown or forged token", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn unsubscribe(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if pages::wants_html(&req) {
        return Ok(done_page(&state, &req, false).await);
    }
    unsubscribe::withdraw(&state, &token(&req)?).await?;
    Ok(HttpResponse::Ok().json(Unsubscribed { status: "unsubscribed".into() }))
}

/// Grants `email_reminders` consent again for the patient the token names (the unsubscribe
/// page's undo), recorded and audited like the withdrawal.
///
/// JSON, unless the request's `Accept` names `text/html` (the page's button): then a page.
#[utoipa::path(post, path = "/api/v1/unsubscribe/resubscribe", tag = "email", params(UnsubscribeParams),
    responses((status = 200, description = "Subscribed again (also when already subscribed)", content(
        (Unsubscribed = "application/json"),
        (String = "text/html", example = "<!doctype html>…"))),
    (status = 404, description = "Unknown or forged token", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn resubscribe(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if pages::wants_html(&req) {
        return Ok(done_page(&state, &req, true).await);
    }
    unsubscribe::regrant(&state, &token(&req)?).await?;
    Ok(HttpResponse::Ok().json(Unsubscribed { status: "subscribed".into() }))
}

/// The page after the form's POST: unsubscribed (with the undo button) or subscribed again.
async fn done_page(state: &AppState, req: &HttpRequest, resubscribe: bool) -> HttpResponse {
    let fallback = pages::browser_lang(req);
    let Some(token) = pages::query_token(req) else {
        return pages::error_page(fallback, Flow::Unsubscribe, &ApiError::not_found());
    };
    let done = if resubscribe {
        unsubscribe::regrant(state, &token).await
    } else {
        unsubscribe::withdraw(state, &token).await
    };
    let lang = match done {
        Ok(lang) => lang,
        Err(e) => return pages::error_page(fallback, Flow::Unsubscribe, &e),
    };
    let t = |key: &str| pages::text(lang, key, &[]);
    let (title, msg) = if resubscribe {
        ("page-resubscribed-title", Message { paragraphs: vec![t("page-resubscribed-body")], ..Default::default() })
    } else {
        let button = Button {
            action: format!("/api/v1/unsubscribe/resubscribe?token={token}"),
            fields: Vec::new(),
            label: t("page-resubscribe-submit"),
        };
        let paragraphs = vec![t("page-unsubscribed-body"), t("page-unsubscribed-undo")];
        ("page-unsubscribed-title", Message { paragraphs, button: Some(button), link: None })
    };
    pages::message(lang, StatusCode::OK, title, msg)
}

#[derive(Serialize)]
struct ConfirmPage<'a> {
    token: &'a str,
}

/// A page with one button that unsubscribes (links opened in a browser use GET), in the
/// patient's language; an unknown token is a 404 page.
#[utoipa::path(get, path = "/api/v1/unsubscribe", tag = "email", params(UnsubscribeParams),
    responses((status = 200, description = "A confirmation page", content_type = "text/html"),
    (status = 404, description = "Unknown or forged token: a page saying the link does not work", content_type = "text/html")))]
pub async fn unsubscribe_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let fallback = pages::browser_lang(&req);
    let Some(token) = pages::query_token(&req) else {
        return pages::error_page(fallback, Flow::Unsubscribe, &ApiError::not_found());
    };
    match unsubscribe::language(&state, &token).await {
        Ok(lang) => pages::render(
            lang,
            StatusCode::OK,
            "unsubscribe.html",
            "page-unsubscribe-title",
            ConfirmPage { token: &token },
        ),
        Err(e) => pages::error_page(fallback, Flow::Unsubscribe, &e),
    }
}
