//! `/api/v1/me`: who the caller is.

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    domain::Role,
    error::{ApiError, ApiResult, ErrorCode},
    http::extract::AuthUser,
    repo::{accounts, clinics},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct ClinicRef {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub clinic: ClinicRef,
}

/// The authenticated account and its clinic.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])), responses((status = 200, body = Me)))]
pub async fn get_me(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Me>> {
    let id = user.account_id.clone();
    let found = state
        .db
        .run(move |c| {
            let Some(account) = accounts::find_account(c, &id)? else { return Ok(None) };
            let clinic = clinics::find_clinic(c, &account.clinic_id)?;
            Ok(clinic.map(|clinic| (account, clinic)))
        })
        .await?;
    let (account, clinic) = found.ok_or_else(|| ApiError::code(ErrorCode::InvalidToken))?;
    Ok(web::Json(Me {
        id: account.id,
        email: account.email,
        role: user.role,
        clinic: ClinicRef { id: clinic.id, name: clinic.name },
    }))
}
