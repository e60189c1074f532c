//! Patients: created and edited by staff; a patient edits only their own profile (time zone,
//! quiet hours, language, phone), never clinical fields. Creating a patient with an email sends
//! an app invitation.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    deserialize::{self, FromSql, FromSqlRow},
    pg::Pg,
    row::Row,
    sql_types::{Bool, Date, Integer, Nullable},
    sqlite::Sqlite,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{
        DbConnection, from_db, new_id,
        raw::{self, LendValues},
        to_db,
    },
    domain::{
        Role,
        clinical::{QuietHours, TimeZone, check_fitzpatrick, parse_time_zone},
    },
    error::{ApiError, ApiResult, ErrorCode},
    i18n::Reader,
    repo::{
        clinics, invitations as repo_invitations,
        patients::{self, Patient, PatientChanges},
    },
    security::caller::AuthUser,
    security::normalize_email,
    services::validation::{Checks, double_option, text},
    services::{
        access,
        audit::{self, Action},
        invitations,
    },
    state::AppState,
    wire::json::{JsonWriter, WriteJson, Written},
};

/// Local quiet hours (no reminders inside), `HH:MM` in the patient's time zone.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursDto {
    #[schema(example = "21:00")]
    pub start: String,
    #[schema(example = "08:00")]
    pub end: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePatient {
    #[schema(example = "Jane Doe", min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// With an email, the patient is invited to the app.
    pub email: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    /// IANA time zone, e.g. `Europe/London`.
    #[schema(example = "Europe/London")]
    pub time_zone: String,
    /// Fitzpatrick skin type 1–6 (I–VI).
    #[schema(minimum = 1, maximum = 6)]
    pub fitzpatrick: Option<u8>,
    /// Default 21:00–08:00.
    pub quiet_hours: Option<QuietHoursDto>,
    /// BCP 47 tag, default `en`.
    pub language: Option<String>,
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub clinical_notes: Option<String>,
    /// Send the app invitation when there is an email (default true).
    pub invite: Option<bool>,
}

/// Changes to a patient; `null` clears an optional field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePatient {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub date_of_birth: Option<Option<NaiveDate>>,
    pub time_zone: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u8>, minimum = 1, maximum = 6)]
    pub fitzpatrick: Option<Option<u8>>,
    pub quiet_hours: Option<QuietHoursDto>,
    pub language: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 10000, pattern = r"\S")]
    pub clinical_notes: Option<Option<String>>,
}

/// What a patient may change about themselves.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfile {
    pub time_zone: Option<String>,
    pub quiet_hours: Option<QuietHoursDto>,
    pub language: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
}

/// A patient as staff see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientView {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub time_zone: String,
    pub fitzpatrick: Option<i32>,
    pub quiet_hours: QuietHoursDto,
    pub language: String,
    pub clinical_notes: Option<String>,
    /// Whether the patient has accepted the app invitation.
    pub has_app_account: bool,
    pub archived: bool,
    #[serde(serialize_with = "crate::wire::json::instant_opt")]
    pub archived_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::wire::json::instant")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::wire::json::instant")]
    pub updated_at: DateTime<Utc>,
    /// On create and re-invite: `sent`, `not_requested` (no email or `invite: false`), or
    /// `mail_failed` (the record is kept; re-send with `POST /patients/{id}/invitation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_invitation: Option<String>,
}

/// A patient of the staff page: their [`PatientView`]'s JSON, written straight from the database
/// row (`patients::find_page`). Texts are escaped from the driver's own buffer instead of each
/// being copied into a `String`, moved into a view and written from there (a page of 50 holds
/// ~600 of them); `has_app_account` is read as the column's `IS NOT NULL`, not as the account id.
/// The bytes are those serde_json writes for the patient's `PatientView` (checked by the API
/// test `the_staff_page_shows_each_patient_as_their_own_record_does`).
pub struct ListedPatientJson {
    pub id: String,
    json: Written,
}

impl WriteJson for ListedPatientJson {
    fn write_json(&self, out: &mut JsonWriter) {
        out.written(&self.json);
    }

    fn size_hint(&self) -> usize {
        self.json.len()
    }
}

impl FromSqlRow<patients::ListedSql, Pg> for ListedPatientJson {
    fn build_from_row<'a>(row: &impl Row<'a, Pg>) -> deserialize::Result<Self> {
        listed_json(row)
    }
}

impl FromSqlRow<patients::ListedSql, Sqlite> for ListedPatientJson {
    fn build_from_row<'a>(row: &impl Row<'a, Sqlite>) -> deserialize::Result<Self> {
        listed_json(row)
    }
}

/// One row of `patients::ListedSql` as `PatientView`'s JSON, column by column in its key order.
fn listed_json<'a, DB>(row: &impl Row<'a, DB>) -> deserialize::Result<ListedPatientJson>
where
    DB: LendValues,
    Option<NaiveDate>: FromSql<Nullable<Date>, DB>,
    Option<i32>: FromSql<Nullable<Integer>, DB>,
    bool: FromSql<Bool, DB>,
{
    // Room for a typical patient's JSON (about 400 bytes).
    let mut out = JsonWriter::with_capacity(512);
    let text = |out: &mut JsonWriter, i: usize| raw::with_text(row, i, |t| out.opt_str(t));
    out.raw("{\"id\":");
    let id = raw::with_text(row, 0, |t| t.map(str::to_owned))?.ok_or("a patient without an id")?;
    out.str(&id);
    out.raw(",\"name\":");
    text(&mut out, 1)?;
    out.raw(",\"email\":");
    text(&mut out, 2)?;
    out.raw(",\"phone\":");
    text(&mut out, 3)?;
    out.raw(",\"date_of_birth\":");
    out.value(&raw::column::<DB, Nullable<Date>, Option<NaiveDate>>(row, 4)?);
    out.raw(",\"time_zone\":");
    text(&mut out, 5)?;
    out.raw(",\"fitzpatrick\":");
    out.value(&raw::column::<DB, Nullable<Integer>, Option<i32>>(row, 6)?);
    out.raw(",\"quiet_hours\":{\"start\":");
    text(&mut out, 7)?;
    out.raw(",\"end\":");
    text(&mut out, 8)?;
    out.raw("},\"language\":");
    text(&mut out, 9)?;
    out.raw(",\"clinical_notes\":");
    text(&mut out, 10)?;
    out.raw(",\"has_app_account\":");
    out.bool(raw::column::<DB, Bool, bool>(row, 11)?);
    let archived_at = raw::instant(row, 12)?;
    out.raw(",\"archived\":");
    out.bool(archived_at.is_some());
    out.raw(",\"archived_at\":");
    match archived_at {
        Some(at) => out.raw_instant(at),
        None => out.raw("null"),
    }
    out.raw(",\"created_at\":");
    out.raw_instant(raw::instant(row, 13)?.ok_or("a patient without a creation time")?);
    out.raw(",\"updated_at\":");
    out.raw_instant(raw::instant(row, 14)?.ok_or("a patient without an update time")?);
    out.raw("}");
    Ok(ListedPatientJson { id, json: out.finish_written()? })
}

/// A patient's own profile: no clinical fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub time_zone: String,
    pub quiet_hours: QuietHoursDto,
    pub language: String,
}

impl From<Patient> for PatientView {
    fn from(p: Patient) -> Self {
        Self {
            quiet_hours: QuietHoursDto { start: p.quiet_start, end: p.quiet_end },
            has_app_account: p.account_id.is_some(),
            archived: p.archived_at.is_some(),
            archived_at: p.archived_at.map(from_db),
            created_at: from_db(p.created_at),
            updated_at: from_db(p.updated_at),
            id: p.id,
            name: p.name,
            email: p.email,
            phone: p.phone,
            date_of_birth: p.date_of_birth,
            time_zone: p.time_zone.to_string(),
            fitzpatrick: p.fitzpatrick,
            language: p.language,
            clinical_notes: p.clinical_notes,
            app_invitation: None,
        }
    }
}

impl From<Patient> for ProfileView {
    fn from(p: Patient) -> Self {
        Self {
            quiet_hours: QuietHoursDto { start: p.quiet_start, end: p.quiet_end },
            id: p.id,
            name: p.name,
            email: p.email,
            phone: p.phone,
            time_zone: p.time_zone.to_string(),
            language: p.language,
        }
    }
}

/// A BCP 47 language tag (language, optional script, region and variants), stored in its
/// canonical case (`ES-mx` → `es-MX`). Emails are written in its primary language when the
/// catalogue has it, in English otherwise.
pub(crate) fn check_language(tag: &str) -> Result<String, String> {
    let parsed = (tag.len() <= 35).then(|| tag.parse::<unic_langid::LanguageIdentifier>().ok()).flatten();
    match parsed {
        Some(id) if !tag.is_empty() && id.language.as_str() != "und" => Ok(id.to_string()),
        _ => Err("must be a BCP 47 language tag such as `en` or `pt-BR`".to_owned()),
    }
}

fn check_phone(phone: &str) -> Result<String, String> {
    let t = phone.trim();
    let ok = (3..=40).contains(&t.len()) && t.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if ok { Ok(t.to_owned()) } else { Err("must be a phone number (digits, spaces, + - ( ) .)".to_owned()) }
}

fn check_birth(d: NaiveDate, today: NaiveDate) -> Result<NaiveDate, String> {
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
    if d > today || d < earliest { Err("must be a past date after 1900".to_owned()) } else { Ok(d) }
}

fn check_quiet(checks: &mut Checks, q: &QuietHoursDto) -> Option<QuietHours> {
    match QuietHours::parse(&q.start, &q.end) {
        Ok(q) => Some(q),
        Err((field, message)) => {
            checks.fail(field, message);
            None
        }
    }
}

/// Creates a patient (staff) and, with an email, sends the app invitation.
pub async fn create(state: &AppState, user: &AuthUser, body: CreatePatient) -> ApiResult<PatientView> {
    user.require_staff()?;
    let now = state.now();
    let mut c = Checks::default();
    let name = c.check("name", text(&body.name, 200));
    let email = match body.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => c.check("email", normalize_email(e).ok_or_else(|| "is not an email address".to_owned())),
        None => None,
    };
    let phone = body.phone.as_deref().and_then(|p| c.check("phone", check_phone(p)));
    let dob = body.date_of_birth.and_then(|d| c.check("date_of_birth", check_birth(d, now.date_naive())));
    let time_zone = c.check("time_zone", parse_time_zone(&body.time_zone)).map(TimeZone);
    let fitz = body.fitzpatrick.and_then(|f| c.check("fitzpatrick", check_fitzpatrick(f)));
    let quiet = match &body.quiet_hours {
        Some(q) => check_quiet(&mut c, q),
        None => Some(QuietHours::default()),
    };
    let language = c.check("language", check_language(body.language.as_deref().unwrap_or("en")));
    let notes = body.clinical_notes.as_deref().and_then(|n| c.check("clinical_notes", text(n, 10_000)));
    c.finish()?;
    let (Some(name), Some(quiet), Some(language), Some(time_zone)) = (name, quiet, language, time_zone) else {
        return Err(ApiError::internal(anyhow::anyhow!("checked fields missing")));
    };

    let patient = Patient {
        id: new_id(),
        clinic_id: user.clinic_id.clone(),
        account_id: None,
        search_text: patients::search_text(&name, email.as_deref()),
        name,
        email: email.clone(),
        phone,
        date_of_birth: dob,
        time_zone,
        fitzpatrick: fitz,
        quiet_start: QuietHours::format(quiet.start),
        quiet_end: QuietHours::format(quiet.end),
        language,
        clinical_notes: notes,
        archived_at: None,
        created_at: to_db(now),
        updated_at: to_db(now),
    };
    let stored = patient.clone();
    let audit_event = audit::event(user, Action::Create, "patient", Some(&patient.id), Some(&patient.id), now);
    state
        .db
        .write(move |c| -> ApiResult<()> {
            if let Some(email) = &stored.email
                && patients::email_in_clinic(c, &stored.clinic_id, email, None)?
            {
                return Err(ApiError::invalid("email", "another patient of this clinic has this email"));
            }
            patients::insert_patient(c, &stored)?;
            crate::repo::audit::insert_events(c, &[audit_event])?;
            Ok(())
        })
        .await?;
    let invitation = match (&patient.email, body.invite.unwrap_or(true)) {
        (Some(_), true) => send_invitation(state, user, &patient).await,
        _ => "not_requested",
    };
    Ok(PatientView { app_invitation: Some(invitation.to_owned()), ..patient.into() })
}

/// Sends (again) the app invitation for a patient; returns `sent` or `mail_failed`.
pub async fn send_invitation(state: &AppState, user: &AuthUser, patient: &Patient) -> &'static str {
    match try_send_invitation(state, user, patient).await {
        Ok(()) => "sent",
        Err(e) => {
            tracing::warn!(patient.id = %patient.id, error = %crate::security::redact(&e.to_string()), "patient invitation not sent");
            "mail_failed"
        }
    }
}

/// Stores a patient invitation and emails it: the token, or the notice when the address already
/// has an account (in any clinic: the answer is `sent` either way, and the record's clinic sees
/// nothing it did not know).
async fn try_send_invitation(state: &AppState, user: &AuthUser, patient: &Patient) -> ApiResult<()> {
    let Some(email) = patient.email.clone() else {
        return Err(ApiError::invalid("email", "the patient has no email"));
    };
    let (row, token) = invitations::new_invitation(
        state,
        &patient.clinic_id,
        &user.account_id,
        &email,
        Role::Patient,
        Some(&patient.id),
    );
    let stored = row.clone();
    let audit_event = audit::event(user, Action::Invite, "patient", Some(&patient.id), Some(&patient.id), state.now());
    let (clinic, has_account) = state
        .db
        .write(move |c| -> ApiResult<(clinics::Clinic, bool)> {
            let has_account = crate::repo::accounts::email_taken(c, &stored.email)?;
            repo_invitations::insert_invitation(c, &stored)?;
            crate::repo::audit::insert_events(c, &[audit_event])?;
            let clinic = clinics::find_clinic(c, &stored.clinic_id)?.ok_or_else(ApiError::not_found)?;
            Ok((clinic, has_account))
        })
        .await?;
    let reader = Reader::patient(&patient.language, patient.time_zone.tz());
    let mail = invitations::invitation_mail(state, "patient_invitation", &row, &token, &clinic, has_account, reader)?;
    invitations::send_or_take_back(state, &mail, &row.id).await
}

/// A patient for a staff-only endpoint: staff of the patient's clinic get it, anyone else 404.
pub async fn load_for_staff(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Patient> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    load(state, user, id).await
}

/// Loads a patient in the caller's scope, or 404.
pub async fn load(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Patient> {
    let (u, id) = (user.clone(), id.to_owned());
    state.db.run(move |c| access::patient(c, &u, &id)).await?.ok_or_else(ApiError::not_found)
}

/// Applies staff edits.
pub async fn update(state: &AppState, user: &AuthUser, id: &str, body: UpdatePatient) -> ApiResult<Patient> {
    user.require_staff()?;
    let now = state.now();
    let mut c = Checks::default();
    let mut changes = PatientChanges { updated_at: Some(to_db(now)), ..Default::default() };
    changes.name = body.name.as_deref().and_then(|n| c.check("name", text(n, 200)));
    changes.email = match &body.email {
        None => None,
        Some(None) => Some(None),
        Some(Some(e)) => {
            c.check("email", normalize_email(e).ok_or_else(|| "is not an email address".to_owned())).map(Some)
        }
    };
    changes.phone = match &body.phone {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => c.check("phone", check_phone(p)).map(Some),
    };
    changes.date_of_birth = match body.date_of_birth {
        None => None,
        Some(None) => Some(None),
        Some(Some(d)) => c.check("date_of_birth", check_birth(d, now.date_naive())).map(Some),
    };
    changes.fitzpatrick = match body.fitzpatrick {
        None => None,
        Some(None) => Some(None),
        Some(Some(f)) => c.check("fitzpatrick", check_fitzpatrick(f)).map(Some),
    };
    changes.clinical_notes = match &body.clinical_notes {
        None => None,
        Some(None) => Some(None),
        Some(Some(n)) => c.check("clinical_notes", text(n, 10_000)).map(Some),
    };
    apply_profile_fields(
        &mut c,
        &mut changes,
        body.time_zone.as_deref(),
        body.quiet_hours.as_ref(),
        body.language.as_deref(),
    );
    c.finish()?;
    write_changes(state, user, id, changes, now, Action::Update).await
}

fn apply_profile_fields(
    c: &mut Checks,
    changes: &mut PatientChanges,
    time_zone: Option<&str>,
    quiet: Option<&QuietHoursDto>,
    language: Option<&str>,
) {
    if let Some(tz) = time_zone {
        changes.time_zone = c.check("time_zone", parse_time_zone(tz)).map(TimeZone);
    }
    if let Some(q) = quiet.and_then(|q| check_quiet(c, q)) {
        changes.quiet_start = Some(QuietHours::format(q.start));
        changes.quiet_end = Some(QuietHours::format(q.end));
    }
    changes.language = language.and_then(|l| c.check("language", check_language(l)));
}

/// A patient's own profile edits.
pub async fn update_profile(state: &AppState, user: &AuthUser, body: UpdateProfile) -> ApiResult<Patient> {
    let now = state.now();
    let own = own(state, user).await?;
    let mut c = Checks::default();
    let mut changes = PatientChanges { updated_at: Some(to_db(now)), ..Default::default() };
    apply_profile_fields(
        &mut c,
        &mut changes,
        body.time_zone.as_deref(),
        body.quiet_hours.as_ref(),
        body.language.as_deref(),
    );
    changes.phone = match &body.phone {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => c.check("phone", check_phone(p)).map(Some),
    };
    c.finish()?;
    write_changes(state, user, &own.id, changes, now, Action::Update).await
}

/// Archives a patient (staff): kept for the record, hidden from default lists.
pub async fn archive(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Patient> {
    user.require_staff()?;
    let now = state.now();
    let changes =
        PatientChanges { archived_at: Some(Some(to_db(now))), updated_at: Some(to_db(now)), ..Default::default() };
    write_changes(state, user, id, changes, now, Action::Archive).await
}

async fn write_changes(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    mut changes: PatientChanges,
    now: DateTime<Utc>,
    action: Action,
) -> ApiResult<Patient> {
    let (u, id) = (user.clone(), id.to_owned());
    state
        .db
        .write(move |c| -> ApiResult<Patient> {
            let current = access::patient(c, &u, &id)?.ok_or_else(ApiError::not_found)?;
            if let Some(Some(email)) = &changes.email
                && patients::email_in_clinic(c, &current.clinic_id, email, Some(&current.id))?
            {
                return Err(ApiError::invalid("email", "another patient of this clinic has this email"));
            }
            if changes.name.is_some() || changes.email.is_some() {
                let name = changes.name.as_deref().unwrap_or(&current.name);
                let email = match &changes.email {
                    Some(e) => e.as_deref(),
                    None => current.email.as_deref(),
                };
                changes.search_text = Some(patients::search_text(name, email));
            }
            let replan = changes.time_zone.as_ref().is_some_and(|tz| *tz != current.time_zone)
                || changes.quiet_start.as_ref().is_some_and(|q| *q != current.quiet_start)
                || changes.quiet_end.as_ref().is_some_and(|q| *q != current.quiet_end);
            let updated = patients::update_patient(c, &current.id, &changes)?;
            if updated.email != current.email {
                // An invitation belongs to the address it was sent to.
                repo_invitations::revoke_patient_invitations(c, &current.id, to_db(now))?;
            }
            if replan {
                crate::services::reminders::replan_patient(c, &updated, now)?;
            }
            crate::repo::audit::insert_events(c, &[audit::event(&u, action, "patient", Some(&id), Some(&id), now)])?;
            Ok(updated)
        })
        .await
}

/// The patient record of a patient's own login, or 404.
pub async fn own(state: &AppState, user: &AuthUser) -> ApiResult<Patient> {
    let u = user.clone();
    state.db.run(move |c| access::own_patient(c, &u)).await?.ok_or_else(ApiError::not_found)
}

/// Links a patient's new account to its record (inside the accept-invitation transaction).
/// The record's email must still be `email`, the invitation's address.
pub fn link_account(conn: &mut DbConnection, patient_id: &str, account_id: &str, email: &str) -> ApiResult<()> {
    if patients::link_account(conn, patient_id, account_id, email)? == 1 {
        Ok(())
    } else {
        Err(ApiError::code(ErrorCode::InvitationAlreadyUsed))
    }
}
