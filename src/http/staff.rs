//! `/api/v1/staff`: the clinic's admins and clinicians, and invitations for new ones.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::from_db,
    domain::Role,
    error::{ApiError, ApiResult},
    http::extract::{AuthUser, Json},
    repo::accounts,
    security::normalize_email,
    services::invitations::{self, InvitationView},
    state::AppState,
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

#[derive(Serialize, ToSchema)]
pub struct StaffMember {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct StaffList {
    pub items: Vec<StaffMember>,
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

/// Lists the clinic's staff (admins only).
#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", security(("bearer" = [])), responses(
    (status = 200, body = StaffList),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn list_staff(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<StaffList>> {
    user.require_admin()?;
    let clinic = user.clinic_id.clone();
    let rows = state.db.run(move |c| accounts::find_staff(c, &clinic)).await?;
    let items = rows
        .into_iter()
        .filter_map(|a| {
            Some(StaffMember {
                role: Role::parse(&a.role)?,
                id: a.id,
                email: a.email,
                created_at: from_db(a.created_at),
            })
        })
        .collect();
    Ok(web::Json(StaffList { items }))
}
