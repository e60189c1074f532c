//! Screenings: the pre-treatment checklist and its outcome; a clinician may override a
//! "needs override" outcome with a reason, kept with the screening.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{from_db, new_id, to_db},
    domain::{
        Role,
        clinical::{ScreeningAnswers, ScreeningFinding, ScreeningOutcome},
    },
    error::{ApiError, ApiResult, ErrorCode},
    repo::{
        audit as audit_repo,
        patients::Patient,
        screenings::{self, Screening},
    },
    security::caller::AuthUser,
    services::validation::{Checks, text},
    services::{
        access,
        audit::{self, Action},
    },
    state::AppState,
    wire::pagination::{Page, PageParams, fetch_limit},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScreening {
    pub answers: ScreeningAnswers,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideScreening {
    /// Why treatment may go ahead (e.g. "antiviral cover prescribed").
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScreeningOverrideView {
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScreeningView {
    pub id: String,
    pub patient_id: String,
    pub answers: ScreeningAnswers,
    pub outcome: ScreeningOutcome,
    pub findings: Vec<ScreeningFinding>,
    pub screened_by: String,
    pub screened_at: DateTime<Utc>,
    /// Sessions may rely on it until then.
    pub valid_until: DateTime<Utc>,
    #[serde(rename = "override")]
    pub override_: Option<ScreeningOverrideView>,
    /// Whether a session may be recorded on the strength of this screening.
    pub allows_treatment: bool,
}

pub fn view(s: Screening, valid_days: i64) -> ApiResult<ScreeningView> {
    let answers = serde_json::from_str(&s.answers).map_err(ApiError::internal)?;
    let findings = serde_json::from_str(&s.findings).map_err(ApiError::internal)?;
    let outcome: ScreeningOutcome =
        crate::domain::from_wire(&s.outcome).ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown outcome")))?;
    let override_ = match (s.override_by, s.override_reason, s.overridden_at) {
        (Some(by), Some(reason), Some(at)) => Some(ScreeningOverrideView { by, reason, at: from_db(at) }),
        _ => None,
    };
    let allows_treatment = match outcome {
        ScreeningOutcome::Clear => true,
        ScreeningOutcome::NeedsOverride => override_.is_some(),
        ScreeningOutcome::Contraindicated => false,
    };
    Ok(ScreeningView {
        id: s.id,
        patient_id: s.patient_id,
        answers,
        outcome,
        findings,
        screened_by: s.screened_by,
        screened_at: from_db(s.created_at),
        valid_until: from_db(s.created_at) + Duration::days(valid_days),
        override_,
        allows_treatment,
    })
}

pub async fn create(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    body: CreateScreening,
) -> ApiResult<ScreeningView> {
    user.require_staff()?;
    if patient.archived_at.is_some() {
        return Err(ApiError::code(ErrorCode::PatientArchived));
    }
    let now = state.now();
    let (outcome, findings) = body.answers.evaluate();
    let row = Screening {
        id: new_id(),
        clinic_id: patient.clinic_id.clone(),
        patient_id: patient.id.clone(),
        answers: serde_json::to_string(&body.answers).map_err(ApiError::internal)?,
        outcome: crate::domain::wire_name(outcome),
        findings: serde_json::to_string(&findings).map_err(ApiError::internal)?,
        screened_by: user.account_id.clone(),
        override_by: None,
        override_reason: None,
        overridden_at: None,
        created_at: to_db(now),
    };
    let stored = row.clone();
    let event = audit::event(user, Action::Create, "screening", Some(&row.id), Some(&patient.id), now);
    state
        .db
        .write(move |c| -> ApiResult<()> {
            screenings::insert_screening(c, &stored)?;
            audit_repo::insert_events(c, &[event])?;
            Ok(())
        })
        .await?;
    view(row, state.settings.clinical.screening_valid_days)
}

pub async fn list(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    q: &PageParams,
) -> ApiResult<Page<ScreeningView>> {
    user.require_staff()?;
    let (limit, after) = q.resolve_keyed()?;
    let id = patient.id.clone();
    let rows = state.db.run(move |c| screenings::page(c, &id, after.as_ref(), fetch_limit(limit))).await?;
    state.audit.record(audit::event(user, Action::List, "screening", None, Some(&patient.id), state.now())).await;
    let valid_days = state.settings.clinical.screening_valid_days;
    let page = Page::from_keyed_rows(rows, limit, |s| (s.created_at, s.id.as_str()), |s| view(s, valid_days));
    Ok(Page { items: page.items.into_iter().collect::<ApiResult<_>>()?, next_cursor: page.next_cursor })
}

/// A clinician overrides a "needs override" outcome with a reason.
pub async fn override_screening(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    body: OverrideScreening,
) -> ApiResult<ScreeningView> {
    let mut c = Checks::default();
    let reason = c.check("reason", text(&body.reason, 2_000));
    c.finish()?;
    let reason = reason.unwrap_or_default();
    let now = state.now();
    let (u, id) = (user.clone(), id.to_owned());
    let row = state
        .db
        .write(move |c| -> ApiResult<Screening> {
            // Scope first (404 outside it), then role (403).
            let s = access::screening(c, &u, &id)?.ok_or_else(ApiError::not_found)?;
            if u.role != Role::Clinician {
                return Err(ApiError::new(ErrorCode::Forbidden, "Only a clinician may override a screening"));
            }
            match s.outcome.as_str() {
                "needs_override" => {}
                "contraindicated" => return Err(ApiError::code(ErrorCode::ScreeningContraindicated)),
                _ => return Err(ApiError::new(ErrorCode::Conflict, "A clear screening needs no override")),
            }
            if !screenings::set_override(c, &s.id, &u.account_id, &reason, to_db(now))? {
                return Err(ApiError::new(ErrorCode::Conflict, "The screening is already overridden"));
            }
            let event = audit::event(&u, Action::Override, "screening", Some(&s.id), Some(&s.patient_id), now);
            audit_repo::insert_events(c, &[event])?;
            screenings::find_screening(c, &s.id)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    view(row, state.settings.clinical.screening_valid_days)
}
