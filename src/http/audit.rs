//! `/api/v1/audit-events`: who read or changed patient data (admins).

use actix_web::web;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    db::from_db,
    error::ApiResult,
    http::extract::AuthUser,
    repo::audit::{self, AuditEvent},
    state::AppState,
    wire::pagination::{Page, PageParams, fetch_limit},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only events about this patient.
    pub patient_id: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; absent or empty for the first.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    pub actor_account_id: Option<String>,
    pub actor_role: Option<String>,
    /// `read`, `list`, `create`, `update`, `archive`, `cancel`, `override`, `invite`, …
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            actor_account_id: e.actor_account_id,
            actor_role: e.actor_role,
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            patient_id: e.patient_id,
            request_id: e.request_id,
            at: from_db(e.created_at),
        }
    }
}

/// The clinic's audit trail, newest first (admins only).
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", security(("bearer" = [])),
    params(AuditParams), responses(
    (status = 200, body = Page<AuditEventView>),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<AuditParams>,
) -> ApiResult<web::Json<Page<AuditEventView>>> {
    user.require_admin()?;
    let (limit, cursor) = PageParams { limit: query.limit, cursor: query.cursor.clone() }.resolve()?;
    state.audit.flush().await;
    let (clinic, patient) = (user.clinic_id.clone(), query.patient_id.clone());
    let rows = state
        .db
        .run(move |c| audit::find_page(c, &clinic, patient.as_deref(), cursor.as_deref(), fetch_limit(limit)))
        .await?;
    Ok(web::Json(Page::from_rows(rows, limit, |e| &e.id, AuditEventView::from)))
}
