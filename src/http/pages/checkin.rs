//! `/app/checkin`: the check-in a reminder email links to, for a patient without the app. The
//! link (`?reminder=…&token=…`) opens the app when it is installed; otherwise this page shows a
//! form for today's check-in (redness 0–4 described in words, swelling, itching, pain, the red
//! flags), records it exactly as the app does, and says what to do now: an answer that raised an
//! urgent alert tells the patient to call the clinic, with its number. The signed, expiring
//! token is the page's only authority (see `pages` on forgery); without one, the page says to
//! open the app. `/app/log_serum` does the same for a serum reminder: one button logs it.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::{Deserialize, Serialize};

use super::{Button, Flow, Link, Message, browser_lang, error_page, links, message, query_token, render, text};
use crate::{
    domain::escalation::RedFlag,
    i18n::Lang,
    services::{
        checkin_link::{self, Linked},
        checkins::CreateCheckin,
    },
    state::AppState,
};

/// The red flags, in the order the form asks about them, with their field names.
const FLAGS: [(RedFlag, &str); 6] = [
    (RedFlag::Warmth, "warmth"),
    (RedFlag::Pus, "pus"),
    (RedFlag::Fever, "fever"),
    (RedFlag::Blisters, "blisters"),
    (RedFlag::NewBumps, "new_bumps"),
    (RedFlag::DarkPatches, "dark_patches"),
];

/// What the form sends (checkboxes are present only when ticked).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Answers {
    token: String,
    redness: Option<String>,
    swelling: Option<String>,
    itch: Option<String>,
    pain: Option<String>,
    warmth: Option<String>,
    pus: Option<String>,
    fever: Option<String>,
    blisters: Option<String>,
    new_bumps: Option<String>,
    dark_patches: Option<String>,
}

impl Answers {
    fn level(value: Option<&String>, max: u8) -> Option<u8> {
        value.and_then(|v| v.parse::<u8>().ok()).filter(|v| *v <= max)
    }

    fn ticked(&self, name: &str) -> bool {
        let field = match name {
            "warmth" => &self.warmth,
            "pus" => &self.pus,
            "fever" => &self.fever,
            "blisters" => &self.blisters,
            "new_bumps" => &self.new_bumps,
            _ => &self.dark_patches,
        };
        field.is_some()
    }

    /// The check-in, when every question has an answer in its range.
    fn checkin(&self) -> Option<CreateCheckin> {
        Some(CreateCheckin {
            redness: Self::level(self.redness.as_ref(), 4)?,
            swelling: Self::level(self.swelling.as_ref(), 3)?,
            itch: Self::level(self.itch.as_ref(), 3)?,
            pain: Self::level(self.pain.as_ref(), 10)?,
            red_flags: FLAGS.iter().filter(|(_, name)| self.ticked(name)).map(|(flag, _)| *flag).collect(),
            note: None,
            reported_at: None,
        })
    }
}

#[derive(Serialize)]
struct Choice {
    value: u8,
    label: String,
    checked: bool,
}

#[derive(Serialize)]
struct Question {
    name: &'static str,
    legend: String,
    options: Vec<Choice>,
}

#[derive(Serialize)]
struct Flag {
    name: &'static str,
    label: String,
    checked: bool,
}

#[derive(Serialize)]
struct Form<'a> {
    token: &'a str,
    clinic_name: &'a str,
    error: Option<String>,
    questions: Vec<Question>,
    flags: Vec<Flag>,
}

fn form(lang: Lang, status: StatusCode, linked: &Linked, answers: &Answers, error: Option<String>) -> HttpResponse {
    let t = |key: &str| text(lang, key, &[]);
    let question = |name: &'static str, legend: &str, given: Option<&String>, labels: Vec<String>| Question {
        name,
        legend: t(legend),
        options: labels
            .into_iter()
            .enumerate()
            .map(|(i, label)| {
                let value = u8::try_from(i).unwrap_or(0);
                Choice { value, label, checked: given.is_some_and(|g| *g == value.to_string()) }
            })
            .collect(),
    };
    let levels = || (0..=3).map(|i| t(&format!("page-checkin-level-{i}"))).collect::<Vec<_>>();
    let pain = (0..=10)
        .map(|i| match i {
            0 => t("page-checkin-pain-none"),
            10 => t("page-checkin-pain-worst"),
            i => i.to_string(),
        })
        .collect();
    let questions = vec![
        question(
            "redness",
            "page-checkin-redness",
            answers.redness.as_ref(),
            (0..=4).map(|i| t(&format!("page-checkin-redness-{i}"))).collect(),
        ),
        question("swelling", "page-checkin-swelling", answers.swelling.as_ref(), levels()),
        question("itch", "page-checkin-itch", answers.itch.as_ref(), levels()),
        question("pain", "page-checkin-pain", answers.pain.as_ref(), pain),
    ];
    let flags = FLAGS
        .iter()
        .map(|(_, name)| Flag { name, label: t(&format!("page-checkin-flag-{name}")), checked: answers.ticked(name) })
        .collect();
    let page = Form { token: &answers.token, clinic_name: &linked.clinic_name, error, questions, flags };
    render(lang, status, "checkin.html", "page-checkin-title", page)
}

/// `GET /app/checkin`: with a check-in link's token, today's check-in form in the patient's
/// language; without one, the page that says to open the app.
pub async fn checkin_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(token) = query_token(&req) else {
        return links::app_link(req).await;
    };
    match checkin_link::open(&state, &token).await {
        Ok(linked) => form(linked.lang, StatusCode::OK, &linked, &Answers { token, ..Default::default() }, None),
        Err(e) => error_page(browser_lang(&req), Flow::Checkin, &e),
    }
}

/// `POST /app/checkin`: records the check-in and says what to do now.
pub async fn submit_checkin(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let answers: Answers = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(checkin) = answers.checkin() else {
        return match checkin_link::open(&state, &answers.token).await {
            Ok(linked) => {
                let error = Some(text(linked.lang, "page-checkin-missing", &[]));
                form(linked.lang, StatusCode::UNPROCESSABLE_ENTITY, &linked, &answers, error)
            }
            Err(e) => error_page(browser_lang(&req), Flow::Checkin, &e),
        };
    };
    let (linked, urgent) = match checkin_link::submit(&state, &answers.token, checkin).await {
        Ok(done) => done,
        Err(e) => return error_page(browser_lang(&req), Flow::Checkin, &e),
    };
    let lang = linked.lang;
    let clinic = linked.clinic_name.as_str();
    if urgent {
        let call = match linked.clinic_phone.as_deref() {
            Some(phone) => text(lang, "page-checkin-urgent-call", &[("clinic", clinic), ("phone", phone)]),
            None => text(lang, "page-checkin-urgent-nophone", &[("clinic", clinic)]),
        };
        let paragraphs =
            vec![call, text(lang, "page-checkin-urgent-told", &[]), text(lang, "page-checkin-emergency", &[])];
        // On a phone, one tap calls the clinic.
        let link = linked.clinic_phone.as_deref().map(|phone| Link {
            href: format!("tel:{}", phone.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect::<String>()),
            label: text(lang, "page-checkin-call-button", &[("phone", phone)]),
        });
        return message(lang, StatusCode::OK, "page-checkin-urgent-title", Message { paragraphs, link, button: None });
    }
    let paragraphs = vec![text(lang, "page-checkin-done-body", &[("clinic", clinic)])];
    message(lang, StatusCode::OK, "page-checkin-done-title", Message { paragraphs, ..Default::default() })
}

/// `GET /app/log_serum`: with a serum reminder link's token, one button that logs the application
/// now; without one, the page that says to open the app.
pub async fn serum_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(token) = query_token(&req) else {
        return links::app_link(req).await;
    };
    match checkin_link::open_for(&state, "log_serum", &token).await {
        Ok(linked) => {
            let lang = linked.lang;
            let paragraphs = vec![text(lang, "page-serum-intro", &[("clinic", &linked.clinic_name)])];
            let button = Some(Button {
                action: "/app/log_serum".into(),
                fields: vec![("token".into(), token)],
                label: text(lang, "page-serum-submit", &[]),
            });
            message(lang, StatusCode::OK, "page-serum-title", Message { paragraphs, button, link: None })
        }
        Err(e) => error_page(browser_lang(&req), Flow::Checkin, &e),
    }
}

/// `POST /app/log_serum` (`token`): logs the serum application as the app does.
pub async fn log_serum(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let answers: Answers = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    match checkin_link::log_serum(&state, &answers.token).await {
        Ok(linked) => {
            let paragraphs = vec![text(linked.lang, "page-serum-done-body", &[])];
            message(linked.lang, StatusCode::OK, "page-serum-done-title", Message { paragraphs, ..Default::default() })
        }
        Err(e) => error_page(browser_lang(&req), Flow::Checkin, &e),
    }
}
