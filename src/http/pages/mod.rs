//! Server-rendered pages behind the links the service emails: accepting an invitation
//! (`/invite`), resetting a password (`/reset-password`), the unsubscribe confirmation and its
//! undo (`/api/v1/unsubscribe`), the staff alert link (`/app/alerts/{id}`), the app's links
//! (`/app/...`) and the files that let those links open in the app (`/.well-known/...`).
//!
//! Pages are minijinja templates (`templates/pages/`, compiled in) sharing one layout, with
//! every sentence from the message catalogue (`locales/<lang>/pages.ftl`), like the emails.
//! A page is written in the language of the patient its link names when it names one, else in
//! the browser's (`Accept-Language`), English otherwise. No scripts, no inline styles: one
//! stylesheet served by the service (`/assets/pages.css`), so the pages' Content Security
//! Policy ([`crate::http::security_headers::PAGE_CSP`]) allows nothing from elsewhere.
//!
//! Forgery (CSRF): there is no cookie session, so a page's form carries no ambient authority
//! for another site to borrow. What a form's POST may do is granted by the link's own token
//! (the invitation's, the reset's, or the signed unsubscribe token), carried back in a hidden
//! field or the form's action: a form on another site cannot know it, and frames are refused.
//!
//! Failures are pages too: the same problem codes as the API, each mapped to a sentence and
//! its status (an unknown, expired or used link is a 404), never a stack of JSON.

pub mod account;
pub mod checkin;
pub mod links;
pub mod problems;

use std::sync::OnceLock;

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
};
use minijinja::{Environment, Value};
use serde::Serialize;

use crate::{
    error::{ApiError, ErrorCode},
    i18n::{self, FluentArgs, Lang},
};

const FILES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../../templates/pages/layout.html")),
    ("message.html", include_str!("../../../templates/pages/message.html")),
    ("invite.html", include_str!("../../../templates/pages/invite.html")),
    ("reset_request.html", include_str!("../../../templates/pages/reset_request.html")),
    ("reset.html", include_str!("../../../templates/pages/reset.html")),
    ("unsubscribe.html", include_str!("../../../templates/pages/unsubscribe.html")),
    ("checkin.html", include_str!("../../../templates/pages/checkin.html")),
];

/// The pages' one stylesheet, served at `/assets/pages.css`.
pub const STYLESHEET: &str = include_str!("../../../templates/pages/pages.css");

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_function("t", crate::email::templates::translate);
        for (name, source) in FILES {
            // Sources are compiled in and checked by the tests below.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "page template does not compile");
            }
        }
        env
    })
}

/// The language a page is written in when its link names nobody: the best of the browser's
/// `Accept-Language` that the catalogue has (by primary subtag, highest `q` first), else English.
pub fn browser_lang(req: &HttpRequest) -> Lang {
    let Some(value) = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
        return Lang::En;
    };
    let mut best: Option<(f32, Lang)> = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        let primary = tag.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        let Some(lang) = Lang::ALL.into_iter().find(|l| l.code() == primary) else { continue };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, l)| l)
}

/// Whether the caller asked for a page (a browser's form post) rather than JSON: its `Accept`
/// names `text/html`.
pub fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("text/html"))
}

/// A catalogue sentence in `lang`, with string arguments.
pub fn text(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut fluent = FluentArgs::new();
    for (name, value) in args {
        fluent.set(*name, (*value).to_owned());
    }
    i18n::text(lang, key, Some(&fluent))
}

/// Renders page `template` (titled by catalogue key `title`) in `lang` with `status`. The
/// answer is never stored by caches (pages carry tokens) and sends no `Referer` onward.
pub fn render(lang: Lang, status: StatusCode, template: &str, title: &str, ctx: impl Serialize) -> HttpResponse {
    let ctx = minijinja::context! { lang => lang.code(), title => title, ..Value::from_serialize(&ctx) };
    let html = env().get_template(template).and_then(|t| t.render(&ctx));
    match html {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .body(html),
        Err(e) => {
            tracing::error!(template, error = %e, "page not rendered");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body("Something went wrong on our side. Please try again later.")
        }
    }
}

/// A link styled as a button.
#[derive(Serialize)]
pub struct Link {
    pub href: String,
    pub label: String,
}

/// A one-button form posting hidden `fields` to `action`.
#[derive(Serialize)]
pub struct Button {
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub label: String,
}

/// A page that says something: its paragraphs, and optionally a button and a link.
#[derive(Serialize, Default)]
pub struct Message {
    pub paragraphs: Vec<String>,
    pub button: Option<Button>,
    pub link: Option<Link>,
}

/// Renders a [`Message`] page.
pub fn message(lang: Lang, status: StatusCode, title: &str, msg: Message) -> HttpResponse {
    render(lang, status, "message.html", title, msg)
}

/// Which link a failure happened behind, for what the error page suggests next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Invitation,
    Reset,
    Unsubscribe,
    Checkin,
}

/// The page for a failure of `flow`, from the API's problem code: an unknown, forged, expired or
/// used link is a 404 (the token is the page's address); the others keep the API's status.
pub fn error_page(lang: Lang, flow: Flow, err: &ApiError) -> HttpResponse {
    let t = |key: &str| text(lang, key, &[]);
    let reset_link = || Some(Link { href: "/reset-password".into(), label: t("page-reset-ask-again") });
    let (status, title, msg) = match err.code {
        ErrorCode::NotFound
        | ErrorCode::RouteNotFound
        | ErrorCode::InvitationNotFound
        | ErrorCode::InvalidResetToken
        | ErrorCode::InvalidQuery => {
            let mut paragraphs = vec![t("page-link-invalid-body")];
            let mut link = None;
            match flow {
                Flow::Invitation => paragraphs.push(t("page-invitation-invalid-body")),
                Flow::Reset => {
                    paragraphs.push(t("page-reset-invalid-body"));
                    link = reset_link();
                }
                Flow::Unsubscribe | Flow::Checkin => {}
            }
            (StatusCode::NOT_FOUND, "page-link-invalid-title", Message { paragraphs, link, button: None })
        }
        ErrorCode::InvitationExpired => (
            err.code.status(),
            "page-invitation-expired-title",
            Message { paragraphs: vec![t("page-invitation-expired-body")], ..Default::default() },
        ),
        ErrorCode::InvitationAlreadyUsed => (
            err.code.status(),
            "page-invitation-used-title",
            Message { paragraphs: vec![t("page-invitation-used-body")], link: reset_link(), button: None },
        ),
        ErrorCode::AccountExists => (
            err.code.status(),
            "page-account-exists-title",
            Message { paragraphs: vec![t("page-account-exists-body")], link: reset_link(), button: None },
        ),
        ErrorCode::TooManyRequests => (
            err.code.status(),
            "page-too-many-title",
            Message { paragraphs: vec![t("page-too-many-body")], ..Default::default() },
        ),
        code if code.status().is_server_error() => {
            tracing::error!(error.code = %code.as_str(), "page failed");
            (
                code.status(),
                "page-server-error-title",
                Message { paragraphs: vec![t("page-server-error-body")], ..Default::default() },
            )
        }
        code => (
            code.status(),
            "page-bad-request-title",
            Message { paragraphs: vec![t("page-bad-request-body")], ..Default::default() },
        ),
    };
    let mut res = message(lang, status, title, msg);
    if let Some(v) = err.retry_after_secs.and_then(|s| header::HeaderValue::from_str(&s.to_string()).ok()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// The `token` of a page's query string, if any (a malformed query is no token).
pub fn query_token(req: &HttpRequest) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Q {
        token: Option<String>,
    }
    serde_urlencoded::from_str::<Q>(req.query_string()).ok().and_then(|q| q.token).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    async fn body(res: HttpResponse) -> String {
        String::from_utf8(actix_web::body::to_bytes(res.into_body()).await.unwrap_or_default().to_vec()).unwrap()
    }

    #[actix_web::test]
    async fn every_page_renders_in_every_language_with_its_lang() {
        let ctx = serde_json::json!({
            "clinic_name": "Glow & Co", "email": "a@x.example", "token": "tok", "error": "E",
            "paragraphs": ["P1"], "button": {"action": "/a", "fields": [["token", "tok"]], "label": "B"},
            "link": {"href": "/l", "label": "L"},
        });
        // The check-in form has a context of its own (`checkin::tests`).
        for (name, _) in FILES.iter().filter(|(n, _)| !["layout.html", "checkin.html"].contains(n)) {
            for lang in Lang::ALL {
                let res = render(lang, StatusCode::OK, name, "page-invite-title", &ctx);
                assert_eq!(res.status(), StatusCode::OK, "{name} {lang:?}");
                let html = body(res).await;
                assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())), "{name}: {html}");
                assert!(html.contains("/assets/pages.css") && !html.contains("style="), "{name}");
                assert!(!html.contains("<script"), "{name}");
            }
        }
        let html = body(render(Lang::Es, StatusCode::OK, "invite.html", "page-invite-title", &ctx)).await;
        assert!(html.contains("Elija su contraseña") && html.contains("Glow &amp; Co"), "{html}");
    }

    #[test]
    fn the_browser_language_is_the_best_one_the_catalogue_has() {
        let lang =
            |v: &str| browser_lang(&TestRequest::default().insert_header(("accept-language", v)).to_http_request());
        assert_eq!(lang("es-ES,es;q=0.9,en;q=0.8"), Lang::Es);
        assert_eq!(lang("fr-FR, es;q=0.5, en;q=0.7"), Lang::En);
        assert_eq!(lang("fr, es-MX;q=0.2"), Lang::Es);
        assert_eq!(lang("fr, pt"), Lang::En);
        assert_eq!(lang("es;q=0, en;q=0.1"), Lang::En);
        assert_eq!(browser_lang(&TestRequest::default().to_http_request()), Lang::En);
    }

    #[actix_web::test]
    async fn every_failure_is_a_page_with_the_right_status() {
        for (code, status) in [
            (ErrorCode::InvitationNotFound, 404),
            (ErrorCode::InvalidResetToken, 404),
            (ErrorCode::NotFound, 404),
            (ErrorCode::InvitationExpired, 409),
            (ErrorCode::TooManyRequests, 429),
            (ErrorCode::ValidationFailed, 422),
            (ErrorCode::DatabaseUnavailable, 503),
        ] {
            for flow in [Flow::Invitation, Flow::Reset, Flow::Unsubscribe, Flow::Checkin] {
                let res = error_page(Lang::Es, flow, &ApiError::code(code));
                assert_eq!(res.status().as_u16(), status, "{code:?}");
                let html = body(res).await;
                assert!(html.contains("<html lang=\"es\">"), "{html}");
            }
        }
    }
}
