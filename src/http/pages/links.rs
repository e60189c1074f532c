//! The other emailed links: an urgent alert's (`/app/alerts/{id}`, for staff), a reminder's
//! (`/app/{action}?reminder=…`, for the patient app), the files that let those links open in
//! the app (universal links on iOS, app links on Android), and the pages' stylesheet.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, http::header, web};
use serde_json::json;

use super::{Message, STYLESHEET, browser_lang, message, text};
use crate::{config::AppSettings, error::ApiError, state::AppState};

/// `GET /assets/pages.css`: the pages' one stylesheet (the only style their policy allows).
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

/// `GET /app/alerts/{id}`: the link of an urgent alert email. With a staff app configured
/// (`server.staff_app_url`), a 303 to its `/alerts/{id}`, where staff sign in; otherwise a page
/// saying to sign in to the staff app. Nothing about the alert is shown without a login, not
/// even whether it exists.
pub async fn staff_alert(state: web::Data<AppState>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let id = id.into_inner();
    let plain = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if let (Some(base), true) = (&state.settings.server.staff_app_url, plain) {
        let location = format!("{}/alerts/{id}", base.trim_end_matches('/'));
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    }
    let lang = browser_lang(&req);
    let paragraphs = vec![text(lang, "page-alert-body", &[])];
    let link = state
        .settings
        .server
        .staff_app_url
        .as_ref()
        .map(|url| super::Link { href: url.clone(), label: text(lang, "page-open-staff-app", &[]) });
    message(lang, StatusCode::OK, "page-alert-title", Message { paragraphs, link, button: None })
}

/// `GET /app/{action}`: a reminder's link, opened where the app does not take it (no app on
/// this device, or a desktop mail client): a page saying to open the app. It reads nothing.
pub async fn app_link(req: HttpRequest) -> HttpResponse {
    let lang = browser_lang(&req);
    let paragraphs = vec![text(lang, "page-app-body", &[])];
    message(lang, StatusCode::OK, "page-app-title", Message { paragraphs, ..Default::default() })
}

/// The paths the app opens: reminders' links, invitations and password resets.
pub const APP_PATHS: [&str; 3] = ["/app/*", "/invite", "/reset-password"];

/// `GET /.well-known/apple-app-site-association`: the iOS app ids (`app.ios_app_ids`) that open
/// [`APP_PATHS`]; 404 while unset.
pub async fn apple_app_site_association(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ids = AppSettings::list(&state.settings.app.ios_app_ids);
    if ids.is_empty() {
        return Err(ApiError::not_found());
    }
    let components: Vec<_> = APP_PATHS.iter().map(|p| json!({ "/": p })).collect();
    let body = json!({
        "applinks": {
            "apps": [],
            "details": [{ "appIDs": ids, "components": components, "paths": APP_PATHS }]
        }
    });
    Ok(HttpResponse::Ok().content_type("application/json").json(body))
}

/// `GET /.well-known/assetlinks.json`: the Android app (`app.android_package`, signed with
/// `app.android_sha256_fingerprints`) that may open this site's links (which ones is said by
/// the app's own intent filters: [`APP_PATHS`]); 404 while unset.
pub async fn asset_links(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let app = &state.settings.app;
    let fingerprints = AppSettings::list(&app.android_sha256_fingerprints);
    let Some(package) = app.android_package.as_deref().map(str::trim).filter(|p| !p.is_empty()) else {
        return Err(ApiError::not_found());
    };
    if fingerprints.is_empty() {
        return Err(ApiError::not_found());
    }
    let body = json!([{
        "relation": ["delegate_permission/common.handle_all_urls"],
        "target": { "namespace": "android_app", "package_name": package, "sha256_cert_fingerprints": fingerprints }
    }]);
    Ok(HttpResponse::Ok().content_type("application/json").json(body))
}
