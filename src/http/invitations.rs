//! `/api/v1/invitations`: the clinic's open invitations, and revoking one. Admins see staff and
//! patient invitations; clinicians, who invite patients, see and revoke patient invitations only.

use actix_web::{HttpResponse, web};

use crate::{
    domain::Role,
    error::{ApiError, ApiResult},
    http::extract::AuthUser,
    services::invitations::{self, InvitationView},
    state::AppState,
    wire::pagination::{Page, PageParams, fetch_limit},
};

type Problem = crate::error::Problem;

/// Whether the caller only deals with patient invitations (clinicians); 403 for patients.
fn patients_only(user: &AuthUser) -> ApiResult<bool> {
    user.require_staff()?;
    Ok(user.role != Role::Admin)
}

/// The clinic's open invitations (not accepted, revoked or expired), newest first. Staff only;
/// clinicians see patient invitations only.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "staff", security(("bearer" = [])),
    params(PageParams), responses((status = 200, body = Page<InvitationView>),
    (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json")))]
pub async fn list_invitations(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageParams>,
) -> ApiResult<web::Json<Page<InvitationView>>> {
    let patients_only = patients_only(&user)?;
    let (limit, cursor) = q.resolve()?;
    let rows = invitations::list_open(&state, &user.clinic_id, patients_only, cursor, fetch_limit(limit)).await?;
    Ok(web::Json(Page::from_rows(rows, limit, |v| &v.id, |v| v)))
}

/// Revokes an invitation: its token stops working. Revoking a revoked invitation again is a
/// no-op; an accepted one is 409. Clinicians may revoke patient invitations only.
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "staff", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Revoked"),
    (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such invitation in your clinic", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The invitation was already accepted", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_invitation(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let patients_only = patients_only(&user).map_err(|_| ApiError::not_found())?;
    invitations::revoke(&state, &user.clinic_id, patients_only, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
