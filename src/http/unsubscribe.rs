//! One-click unsubscribe (RFC 8058) from a reminder email, without a login: the signed link
//! withdraws the patient's `email_reminders` consent (recorded like any other withdrawal). It
//! stops reminder emails only: the reminders stay in the app's list and go on by push when the
//! patient consents to that.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    db::{new_id, to_db},
    error::{ApiError, ApiResult},
    repo::{
        audit::{self as audit_repo, AuditEvent},
        consents::{self, Consent},
        patients,
    },
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeParams {
    /// The signed token from the email's link.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unsubscribed {
    /// Always `unsubscribed`.
    pub status: String,
}

/// Withdraws `email_reminders` consent for the patient the token names (RFC 8058 one-click).
#[utoipa::path(post, path = "/api/v1/unsubscribe", tag = "email", params(UnsubscribeParams),
    responses((status = 200, body = Unsubscribed),
    (status = 404, description = "Unknown or forged token", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    q: web::Query<UnsubscribeParams>,
) -> ApiResult<web::Json<Unsubscribed>> {
    let patient_id = state.links.verify(&q.token).ok_or_else(ApiError::not_found)?;
    let now = state.now();
    state
        .db
        .write(move |c| -> ApiResult<()> {
            let patient = patients::find_by_id(c, &patient_id)?.ok_or_else(ApiError::not_found)?;
            if consents::is_granted(c, &patient.id, "email_reminders")? {
                let row = Consent {
                    id: new_id(),
                    clinic_id: patient.clinic_id.clone(),
                    patient_id: patient.id.clone(),
                    kind: "email_reminders".into(),
                    granted: false,
                    actor_account_id: None,
                    actor_role: "patient".into(),
                    note: Some("one-click unsubscribe from a reminder email".into()),
                    created_at: to_db(now),
                };
                consents::insert_consent(c, &row)?;
                audit_repo::insert_events(
                    c,
                    &[AuditEvent {
                        id: new_id(),
                        clinic_id: patient.clinic_id.clone(),
                        actor_account_id: None,
                        actor_role: Some("patient".into()),
                        action: "update".into(),
                        resource_type: "consent".into(),
                        resource_id: Some(row.id.clone()),
                        patient_id: Some(patient.id.clone()),
                        request_id: None,
                        created_at: to_db(now),
                    }],
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(web::Json(Unsubscribed { status: "unsubscribed".into() }))
}

/// A page with one button that unsubscribes (links opened in a browser use GET).
#[utoipa::path(get, path = "/api/v1/unsubscribe", tag = "email", params(UnsubscribeParams),
    responses((status = 200, description = "A confirmation page", content_type = "text/html"),
    (status = 404, description = "Unknown or forged token", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn unsubscribe_page(state: web::Data<AppState>, q: web::Query<UnsubscribeParams>) -> ApiResult<HttpResponse> {
    state.links.verify(&q.token).ok_or_else(ApiError::not_found)?;
    let token: String = q.token.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head>\
         <body style=\"font-family: sans-serif; max-width: 480px; margin: 40px auto;\">\
         <h1>Stop aftercare reminder emails?</h1>\
         <p>You will no longer get reminder emails about your treatment. Your reminders stay in the app, and you can turn the emails back on there.</p>\
         <form method=\"post\" action=\"/api/v1/unsubscribe?token={token}\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form></body></html>"
    );
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}
