//! The account pages: accepting an invitation (`/invite`) and resetting a password
//! (`/reset-password`). Each POST calls the same service as its API operation
//! (`/api/v1/auth/accept-invitation`, `/api/v1/auth/password-reset[/confirm]`), so the rules,
//! limits, audit and emails are the API's; a form that breaks the password rule comes back with
//! the rule said again (422).

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{Flow, Link, Message, browser_lang, error_page, message, query_token, render, text};
use crate::{
    error::{ApiError, ErrorCode},
    http::extract::client_ip,
    i18n::Lang,
    services::{auth, invitations, password_reset},
    state::AppState,
};

/// A posted form (`application/x-www-form-urlencoded`). Fields the form lacks are empty, which
/// the services refuse like any wrong value; a body that is no form at all is an empty one.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Form {
    token: String,
    password: String,
    email: String,
}

fn form(body: &[u8]) -> Form {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

#[derive(Serialize)]
struct PasswordPage<'a> {
    token: &'a str,
    clinic_name: &'a str,
    email: &'a str,
    error: Option<String>,
}

fn invite_form(
    lang: Lang,
    status: StatusCode,
    token: &str,
    p: &invitations::InvitationPreview,
    error: Option<String>,
) -> HttpResponse {
    let ctx = PasswordPage { token, clinic_name: &p.clinic_name, email: &p.email, error };
    render(lang, status, "invite.html", "page-invite-title", ctx)
}

fn is_invalid_password(e: &ApiError) -> bool {
    e.code == ErrorCode::ValidationFailed && e.errors.iter().any(|f| f.field == "password")
}

/// `GET /invite?token=…`: the form that sets the invitee's password, with the rule.
pub async fn invite_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let fallback = browser_lang(&req);
    let Some(token) = query_token(&req) else {
        return error_page(fallback, Flow::Invitation, &ApiError::code(ErrorCode::InvitationNotFound));
    };
    match invitations::preview(&state, &token).await {
        Ok(p) => invite_form(p.language.unwrap_or(fallback), StatusCode::OK, &token, &p, None),
        Err(e) => error_page(fallback, Flow::Invitation, &e),
    }
}

/// `POST /invite` (`token`, `password`): accepts the invitation like
/// `POST /api/v1/auth/accept-invitation`, then says where to sign in. The login the service
/// opens is closed at once: the page keeps no session, the app signs in on its own.
pub async fn accept_invitation(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let fallback = browser_lang(&req);
    let f = form(&body);
    let preview = match invitations::preview(&state, &f.token).await {
        Ok(p) => p,
        Err(e) => return error_page(fallback, Flow::Invitation, &e),
    };
    let lang = preview.language.unwrap_or(fallback);
    match invitations::accept(&state, &f.token, SecretString::from(f.password)).await {
        Ok(tokens) => {
            if let Err(e) = auth::logout(&state, SecretString::from(tokens.refresh_token)).await {
                tracing::warn!(error.code = %e.code.as_str(), "the invitation page's login was not closed");
            }
            let email = preview.email.as_str();
            let (paragraph, link) = if preview.for_patient {
                (text(lang, "page-invite-done-patient", &[("email", email)]), None)
            } else {
                let link = state
                    .settings
                    .server
                    .staff_app_url
                    .as_ref()
                    .map(|url| Link { href: url.clone(), label: text(lang, "page-open-staff-app", &[]) });
                (text(lang, "page-invite-done-staff", &[("email", email)]), link)
            };
            message(
                lang,
                StatusCode::OK,
                "page-invite-done-title",
                Message { paragraphs: vec![paragraph], link, button: None },
            )
        }
        Err(e) if is_invalid_password(&e) => invite_form(
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            &f.token,
            &preview,
            Some(text(lang, "page-password-weak", &[])),
        ),
        Err(e) => error_page(lang, Flow::Invitation, &e),
    }
}

#[derive(Serialize)]
struct RequestPage<'a> {
    email: &'a str,
    error: Option<String>,
}

#[derive(Serialize)]
struct ResetPage<'a> {
    token: &'a str,
    error: Option<String>,
}

/// `GET /reset-password`: the form that asks for a reset link; with `?token=…` (the emailed
/// link), the form that sets the new password, in the account owner's language.
pub async fn reset_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let fallback = browser_lang(&req);
    let Some(token) = query_token(&req) else {
        let ctx = RequestPage { email: "", error: None };
        return render(fallback, StatusCode::OK, "reset_request.html", "page-reset-request-title", ctx);
    };
    match password_reset::language(&state, &token).await {
        Ok(lang) => {
            render(lang, StatusCode::OK, "reset.html", "page-reset-title", ResetPage { token: &token, error: None })
        }
        Err(e) => error_page(fallback, Flow::Reset, &e),
    }
}

/// `POST /reset-password`: with `email`, asks for a link like `POST /api/v1/auth/password-reset`
/// (the same answer whether or not the address has an account); with `token` and `password`,
/// sets the password like `POST /api/v1/auth/password-reset/confirm`.
pub async fn reset_password(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let fallback = browser_lang(&req);
    let f = form(&body);
    if f.token.is_empty() {
        return match password_reset::request(&state, &f.email, &client_ip(&req)).await {
            Ok(()) => {
                let paragraphs =
                    vec![text(fallback, "page-reset-sent-body", &[]), text(fallback, "page-reset-sent-spam", &[])];
                message(fallback, StatusCode::OK, "page-reset-sent-title", Message { paragraphs, ..Default::default() })
            }
            Err(e) if e.code == ErrorCode::ValidationFailed => {
                let ctx = RequestPage { email: &f.email, error: Some(text(fallback, "page-email-invalid", &[])) };
                render(
                    fallback,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "reset_request.html",
                    "page-reset-request-title",
                    ctx,
                )
            }
            Err(e) => error_page(fallback, Flow::Reset, &e),
        };
    }
    let lang = match password_reset::language(&state, &f.token).await {
        Ok(lang) => lang,
        Err(e) => return error_page(fallback, Flow::Reset, &e),
    };
    match password_reset::confirm(&state, &f.token, SecretString::from(f.password)).await {
        Ok(()) => message(
            lang,
            StatusCode::OK,
            "page-reset-done-title",
            Message { paragraphs: vec![text(lang, "page-reset-done-body", &[])], ..Default::default() },
        ),
        Err(e) if is_invalid_password(&e) => {
            let ctx = ResetPage { token: &f.token, error: Some(text(lang, "page-password-weak", &[])) };
            render(lang, StatusCode::UNPROCESSABLE_ENTITY, "reset.html", "page-reset-title", ctx)
        }
        Err(e) => error_page(lang, Flow::Reset, &e),
    }
}
