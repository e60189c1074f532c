//! `/api/v1/staff`: the clinic's admins and clinicians (deactivated and reactivated by admins),
//! and invitations for new ones.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    domain::Role,
    error::{ApiError, ApiResult},
    http::extract::{AuthUser, Json},
    security::normalize_email,
    services::{
        invitations::{self, InvitationView},
        staff::{self, StaffMember},
    },
    state::AppState,
    wire::pagination::{Page, PageParams},
};

/// Who to invite; staff roles only (patients are invited when their record is created).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    #[schema(example = "new.clinician@clinic.example")]
    pub email: String,
    /// `admin` or `clinician`.
    pub role: Role,
}

/// Invites a clinician or admin by email (admins only). The email carries a one-time token.
///
/// An address with an account in this clinic is 409 `account_exists`. One with an account in
/// another clinic is answered like any new address; its owner is told by email that the clinic
/// tried to invite them, and no token is sent.
#[utoipa::path(post, path = "/api/v1/staff/invitations", tag = "staff", security(("bearer" = [])),
    request_body = CreateInvitation, responses(
    (status = 201, body = InvitationView),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, description = "The email already has an account in this clinic", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 503, description = "The email could not be sent; nothing was stored", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn create_staff_invitation(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<CreateInvitation>,
) -> ApiResult<HttpResponse> {
    user.require_admin()?;
    let email = normalize_email(&body.email).ok_or_else(|| ApiError::invalid("email", "is not an email address"))?;
    if !body.role.is_staff() {
        return Err(ApiError::invalid("role", "must be admin or clinician"));
    }
    let view = invitations::invite(&state, &user.clinic_id, &user.account_id, email, body.role).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Lists the clinic's staff, active and deactivated (admins only).
#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", security(("bearer" = [])), params(PageParams), responses(
    (status = 200, body = Page<StaffMember>),
    (status = 400, description = "Malformed limit or cursor", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn list_staff(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageParams>,
) -> ApiResult<web::Json<Page<StaffMember>>> {
    Ok(web::Json(staff::list(&state, &user, &q).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStaffMember {
    /// `false` deactivates the account, `true` reactivates it.
    pub active: bool,
}

/// Deactivates or reactivates a staff account (admins only).
///
/// A deactivated account cannot log in (it gets the same 401 as a wrong password) or refresh,
/// and every login it had ends at once; its open reset links close and a reset does not
/// reactivate it. The clinic's last active admin cannot be deactivated: 409 `last_admin`. An id
/// that is not a staff member of your clinic is 404. Both directions are idempotent.
#[utoipa::path(patch, path = "/api/v1/staff/{id}", tag = "staff", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateStaffMember, responses(
    (status = 200, body = StaffMember),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such staff member in your clinic", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, description = "`last_admin`: the clinic's last active admin", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn update_staff_member(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<UpdateStaffMember>,
) -> ApiResult<web::Json<StaffMember>> {
    Ok(web::Json(staff::set_active(&state, &user, &id, body.active).await?))
}
