//! `/api/v1/me`: who the caller is, their password, and (for patients) deleting the account.

use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::Role,
    error::{ApiError, ApiResult, ErrorCode},
    http::extract::{AuthUser, Json},
    repo::{accounts, clinics},
    services::{
        account,
        audit::{self, Action},
        auth::TokenResponse,
        consents::{self, ConsentChange, ConsentsView},
        courses::{self, CourseView},
        export::ErasureReport,
        patients::{self, ProfileView, UpdateProfile},
        sessions::{self, SessionView},
    },
    state::AppState,
    wire::pagination::{Page, SyncParams},
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

/// The patient's own profile (no clinical fields).
#[utoipa::path(get, path = "/api/v1/me/profile", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = ProfileView),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn get_profile(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<ProfileView>> {
    let patient = patients::own(&state, &user).await?;
    state
        .audit
        .record(audit::event(&user, Action::Read, "profile", Some(&patient.id), Some(&patient.id), state.now()))
        .await;
    Ok(web::Json(patient.into()))
}

/// Edits the patient's own time zone, quiet hours, language or phone.
#[utoipa::path(patch, path = "/api/v1/me/profile", tag = "me", security(("bearer" = [])),
    request_body = UpdateProfile, responses(
    (status = 200, body = ProfileView),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn update_profile(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<UpdateProfile>,
) -> ApiResult<web::Json<ProfileView>> {
    Ok(web::Json(patients::update_profile(&state, &user, body).await?.into()))
}

/// The patient's own consents.
#[utoipa::path(get, path = "/api/v1/me/consents", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = ConsentsView),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn get_my_consents(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<ConsentsView>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(consents::read(&state, &user, &patient).await?))
}

/// The patient grants or withdraws a consent.
#[utoipa::path(post, path = "/api/v1/me/consents", tag = "me", security(("bearer" = [])),
    request_body = ConsentChange, responses(
    (status = 201, body = ConsentsView),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, description = "The record is archived", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn change_my_consent(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<ConsentChange>,
) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    Ok(HttpResponse::Created().json(consents::change(&state, &user, &patient, body).await?))
}

/// The patient's own courses.
#[utoipa::path(get, path = "/api/v1/me/courses", tag = "me", security(("bearer" = [])), params(SyncParams), responses(
    (status = 200, body = Page<CourseView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn list_my_courses(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<CourseView>>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(courses::list(&state, &user, &patient, &q).await?))
}

/// The patient's own sessions, without clinician notes.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me", security(("bearer" = [])), params(SyncParams), responses(
    (status = 200, body = Page<SessionView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn list_my_sessions(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<SessionView>>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(sessions::list_for_patient(&state, &user, &patient, &q).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password in use now.
    #[schema(value_type = String, format = Password)]
    pub current: SecretString,
    /// 10 to 256 characters, hard to guess (zxcvbn strength 3 or 4 of 4), not the current one.
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 256)]
    pub new: SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// The account's password: deleting cannot be undone.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Changes the caller's password.
///
/// Every login of the account ends, this one included: refresh tokens are revoked and access
/// tokens refused at once, on every device. The answer holds the tokens of a new login, so the
/// app that asked stays signed in by switching to them. Open reset links close; the owner is told
/// by email. A wrong `current` is 403 `wrong_password`; a `new` that breaks the rule is 422.
/// Rate-limited per account (429).
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", security(("bearer" = [])),
    request_body = ChangePassword, responses(
    (status = 200, description = "Changed; use these tokens from now on", body = TokenResponse),
    (status = 403, description = "`wrong_password`: the current password is wrong", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, description = "The password was changed by another request meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 429, description = "Too many attempts", body = crate::error::Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
))]
pub async fn change_my_password(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<ChangePassword>,
) -> ApiResult<web::Json<TokenResponse>> {
    Ok(web::Json(account::change_password(&state, &user, body.current, body.new).await?))
}

/// A patient deletes their own account and everything it holds.
///
/// With the account's password, runs the same erasure as an admin's `DELETE /patients/{id}`
/// (the record, check-ins, photos and their files, scores, reminders, consents, the login and its
/// tokens; audit events stay, de-identified), emails a confirmation to the account's address and
/// answers with the counts. Cannot be undone. A wrong password is 403 `wrong_password`; staff get
/// 403 `forbidden` (an admin deactivates them). Rate-limited per account (429).
#[utoipa::path(delete, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    request_body = DeleteAccount, responses(
    (status = 200, body = ErasureReport),
    (status = 403, description = "`wrong_password`, or `forbidden` for a staff account", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 429, description = "Too many attempts", body = crate::error::Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
    (status = 503, description = "Photo storage unavailable; nothing was erased", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn delete_me(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<DeleteAccount>,
) -> ApiResult<web::Json<ErasureReport>> {
    Ok(web::Json(account::delete_own_account(&state, &user, body.password).await?))
}
