//! `/api/v1/alerts`: what clinicians must look at, and resolving it.

use actix_web::web;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    db::to_db,
    domain::escalation::Severity,
    error::{ApiError, ApiResult, ErrorCode},
    http::extract::{AuthUser, Checks, Json, text},
    repo::alerts,
    services::{
        alerts::{AlertView, ResolveAlert, views_with_notices},
        audit::{self, Action},
    },
    state::AppState,
    wire::pagination::{Page, PageParams, fetch_limit},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// `open` (default) or `resolved`.
    pub status: Option<String>,
    pub severity: Option<Severity>,
    pub patient_id: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; absent or empty for the first.
    pub cursor: Option<String>,
}

/// The clinic's alerts, newest first (staff).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", security(("bearer" = [])), params(AlertParams),
    responses((status = 200, body = Page<AlertView>),
    (status = 403, description = "Patients cannot", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list_alerts(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<AlertParams>,
) -> ApiResult<web::Json<Page<AlertView>>> {
    user.require_staff()?;
    let (limit, cursor) = PageParams { limit: q.limit, cursor: q.cursor.clone() }.resolve()?;
    let status = q.status.clone().unwrap_or_else(|| "open".into());
    if !matches!(status.as_str(), "open" | "resolved") {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "status must be open or resolved"));
    }
    let severity = q.severity.map(crate::domain::wire_name);
    let (clinic, patient) = (user.clinic_id.clone(), q.patient_id.clone());
    let page = state
        .db
        .run(move |c| {
            let rows = alerts::find_page(
                c,
                &clinic,
                Some(&status),
                severity.as_deref(),
                patient.as_deref(),
                cursor.as_deref(),
                fetch_limit(limit),
            )?;
            let page = Page::from_rows(rows, limit, |a| &a.id, |a| a);
            Ok(Page { items: views_with_notices(c, page.items)?, next_cursor: page.next_cursor })
        })
        .await?;
    state.audit.record(audit::event(&user, Action::List, "alert", None, q.patient_id.as_deref(), state.now())).await;
    Ok(web::Json(page))
}

/// Resolves an open alert with a note (staff).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ResolveAlert, responses((status = 200, body = AlertView),
    (status = 404, description = "Not in your clinic", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, description = "Already resolved", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn resolve_alert(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<ResolveAlert>,
) -> ApiResult<web::Json<AlertView>> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    let mut c = Checks::default();
    let note = c.check("note", text(&body.note, 2_000)).unwrap_or_default();
    c.finish()?;
    let now = state.now();
    let (u, id) = (user.clone(), id.into_inner());
    let alert = state
        .db
        .write(move |c| -> ApiResult<Option<AlertView>> {
            let a =
                alerts::find_alert(c, &id)?.filter(|a| a.clinic_id == u.clinic_id).ok_or_else(ApiError::not_found)?;
            if !alerts::resolve(c, &a.id, &u.account_id, &note, to_db(now))? {
                return Err(ApiError::code(ErrorCode::AlertAlreadyResolved));
            }
            crate::repo::audit::insert_events(
                c,
                &[audit::event(&u, Action::Update, "alert", Some(&a.id), Some(&a.patient_id), now)],
            )?;
            let resolved = alerts::find_alert(c, &a.id)?.ok_or_else(ApiError::not_found)?;
            Ok(views_with_notices(c, vec![resolved])?.pop())
        })
        .await?;
    alert.map(web::Json).ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored alert unreadable")))
}
