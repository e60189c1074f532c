//! `/problems/{code}`: the page every error's `type` points at, saying what the code means, and
//! `/problems`, the list of every code. For integrators: the API's English titles, framed in the
//! browser's language.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};

use super::{Link, Message, browser_lang, message, text};
use crate::error::ErrorCode;

/// Every problem code, its status and its title.
pub async fn problems(req: HttpRequest) -> HttpResponse {
    let lang = browser_lang(&req);
    let mut paragraphs = vec![text(lang, "page-problems-intro", &[])];
    paragraphs.extend(
        ErrorCode::ALL.iter().map(|code| format!("{} ({}): {}", code.as_str(), code.status().as_u16(), code.title())),
    );
    message(lang, StatusCode::OK, "page-problems-title", Message { paragraphs, ..Default::default() })
}

/// What one problem code means; a name that is no code is a 404 page.
pub async fn problem(req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let lang = browser_lang(&req);
    let all = Some(Link { href: "/problems".into(), label: text(lang, "page-problem-all", &[]) });
    let Some(found) = ErrorCode::ALL.iter().find(|c| c.as_str() == *code) else {
        let paragraphs = vec![text(lang, "page-problem-unknown-body", &[])];
        return message(
            lang,
            StatusCode::NOT_FOUND,
            "page-problem-unknown-title",
            Message { paragraphs, link: all, button: None },
        );
    };
    let status = found.status().as_u16().to_string();
    let paragraphs = vec![
        text(lang, "page-problem-intro", &[("code", &found.as_str()), ("status", &status)]),
        found.title().to_owned(),
        text(lang, "page-problem-shape", &[]),
    ];
    message(lang, StatusCode::OK, "page-problem-title", Message { paragraphs, link: all, button: None })
}
