//! The clinical record's rules: concerns, consents, devices and areas with their depth ranges,
//! quiet hours, and the pre-treatment screening. Numbers are defaults from DOMAIN.md; depths
//! outside an area's usual range warn, outside the device range they are refused.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a course treats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Concern {
    AcneScars,
    SurgicalScars,
    Wrinkles,
    Pores,
    Texture,
    Pigmentation,
    StretchMarks,
    Other,
}

/// What a patient can consent to; each is granted or withdrawn, append-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    Treatment,
    Photos,
    /// Reminders by email (one-click unsubscribe withdraws this one only).
    EmailReminders,
    /// Reminders by push notification to the app's registered devices.
    PushReminders,
    MarketingPhotos,
}

impl ConsentKind {
    pub const ALL: [ConsentKind; 5] = [
        ConsentKind::Treatment,
        ConsentKind::Photos,
        ConsentKind::EmailReminders,
        ConsentKind::PushReminders,
        ConsentKind::MarketingPhotos,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CourseStatus {
    Active,
    Completed,
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Completed,
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Motorised cartridge pen (SkinPen, Dermapen).
    Pen,
    /// Dermaroller.
    Roller,
    /// Radio-frequency microneedling pen.
    RfPen,
}

/// A treated area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    FullFace,
    Forehead,
    UnderEye,
    Nose,
    Cheeks,
    Chin,
    PerioralLines,
    Jawline,
    Neck,
    Chest,
    Scalp,
    Hands,
    Scar,
    StretchMarks,
    Body,
}

/// Devices go from 0.25 mm to 3.0 mm; outside this a depth is refused.
pub const DEVICE_DEPTH_MM: (f64, f64) = (0.25, 3.0);

impl Area {
    /// The usual needle depth for the area, in mm (DOMAIN.md); outside it a session warns.
    pub fn usual_depth_mm(self) -> (f64, f64) {
        match self {
            Area::Forehead | Area::UnderEye | Area::Nose => (0.25, 0.5),
            Area::PerioralLines => (0.5, 1.0),
            Area::FullFace | Area::Cheeks | Area::Chin | Area::Jawline | Area::Scalp => (0.5, 1.5),
            Area::Hands => (0.5, 1.0),
            Area::Neck | Area::Chest | Area::StretchMarks | Area::Body => (1.5, 2.5),
            Area::Scar => (1.5, 2.0),
        }
    }
}

/// A needle depth within the device range (parse, don't validate).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct NeedleDepthMm(f64);

impl NeedleDepthMm {
    pub fn parse(mm: f64) -> Result<Self, String> {
        let (lo, hi) = DEVICE_DEPTH_MM;
        if mm.is_finite() && (lo..=hi).contains(&mm) {
            Ok(Self((mm * 100.0).round() / 100.0))
        } else {
            Err(format!("must be between {lo} and {hi} mm (the device range)"))
        }
    }

    pub fn mm(self) -> f64 {
        self.0
    }

    /// A warning when the depth is outside the usual range for `area`.
    pub fn warning_for(self, area: Area) -> Option<String> {
        let (lo, hi) = area.usual_depth_mm();
        (self.0 < lo || self.0 > hi).then(|| format!("{} mm is outside the usual {lo}–{hi} mm for this area", self.0))
    }
}

/// An IANA time zone name, checked against the embedded tz database.
pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| format!("`{name}` is not an IANA time zone (e.g. Europe/London)"))
}

/// A patient's time zone: an IANA zone of the embedded tz database, never a fallback. Stored as
/// its name (`db::types` maps it); a stored name that is not one fails the read loudly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub Tz);

impl TimeZone {
    pub fn tz(self) -> Tz {
        self.0
    }

    /// The IANA name, as stored and shown.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl std::str::FromStr for TimeZone {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        parse_time_zone(name).map(TimeZone)
    }
}

impl std::fmt::Display for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Quiet hours in the patient's local time; the window may cross midnight (21:00–08:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for QuietHours {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
        }
    }
}

impl QuietHours {
    /// Parses `HH:MM` pairs.
    pub fn parse(start: &str, end: &str) -> Result<Self, (&'static str, String)> {
        let p = |s: &str| NaiveTime::parse_from_str(s, "%H:%M");
        let start = p(start).map_err(|_| ("quiet_hours.start", "must be HH:MM".to_owned()))?;
        let end = p(end).map_err(|_| ("quiet_hours.end", "must be HH:MM".to_owned()))?;
        Ok(Self { start, end })
    }

    /// Whether a local time falls inside the quiet window (start inclusive, end exclusive).
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start == self.end {
            false
        } else if self.start < self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    pub fn format(t: NaiveTime) -> String {
        t.format("%H:%M").to_string()
    }
}

/// Fitzpatrick skin type I–VI, stored as 1–6; IV–VI carry more risk of hyperpigmentation.
pub fn check_fitzpatrick(n: u8) -> Result<i32, String> {
    if (1..=6).contains(&n) { Ok(i32::from(n)) } else { Err("must be 1 to 6 (Fitzpatrick I–VI)".to_owned()) }
}

/// The pre-treatment checklist (DOMAIN.md). `true` means the condition applies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreeningAnswers {
    pub active_acne_or_infection: bool,
    pub cold_sore_history: bool,
    pub keloid_tendency: bool,
    pub isotretinoin_last_6_months: bool,
    pub pregnant_or_breastfeeding: bool,
    pub blood_thinners_or_bleeding_disorder: bool,
    pub uncontrolled_diabetes: bool,
    pub immunosuppressed: bool,
    pub eczema_psoriasis_rosacea_in_area: bool,
    pub metal_or_lidocaine_allergy: bool,
    pub peel_last_30_days: bool,
    pub neuromodulator_last_3_months: bool,
    pub filler_last_12_months: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScreeningOutcome {
    /// Nothing found: treatment may go ahead.
    Clear,
    /// Treatment needs a clinician's override with a reason.
    NeedsOverride,
    /// A hard stop: no treatment.
    Contraindicated,
}

/// One answer that matters, and what it means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScreeningFinding {
    pub item: String,
    pub severity: ScreeningOutcome,
    pub note: String,
}

impl ScreeningAnswers {
    /// Hard stops and override-needed items, with the clinical note for each.
    pub fn evaluate(&self) -> (ScreeningOutcome, Vec<ScreeningFinding>) {
        use ScreeningOutcome::{Contraindicated as Stop, NeedsOverride as Ask};
        let items: [(bool, &str, ScreeningOutcome, &str); 13] = [
            (self.active_acne_or_infection, "active_acne_or_infection", Stop, "active acne or infection in the area"),
            (self.pregnant_or_breastfeeding, "pregnant_or_breastfeeding", Stop, "pregnancy or breastfeeding"),
            (self.isotretinoin_last_6_months, "isotretinoin_last_6_months", Stop, "isotretinoin in the last 6 months"),
            (self.uncontrolled_diabetes, "uncontrolled_diabetes", Stop, "uncontrolled diabetes impairs healing"),
            (
                self.eczema_psoriasis_rosacea_in_area,
                "eczema_psoriasis_rosacea_in_area",
                Stop,
                "eczema, psoriasis or rosacea in the area",
            ),
            (self.cold_sore_history, "cold_sore_history", Ask, "cold sores: consider antiviral cover"),
            (self.keloid_tendency, "keloid_tendency", Ask, "keloid tendency"),
            (
                self.blood_thinners_or_bleeding_disorder,
                "blood_thinners_or_bleeding_disorder",
                Ask,
                "blood thinners or a bleeding disorder",
            ),
            (self.immunosuppressed, "immunosuppressed", Ask, "immunosuppression"),
            (self.metal_or_lidocaine_allergy, "metal_or_lidocaine_allergy", Ask, "metal or lidocaine allergy"),
            (self.peel_last_30_days, "peel_last_30_days", Ask, "chemical peel in the last 30 days"),
            (
                self.neuromodulator_last_3_months,
                "neuromodulator_last_3_months",
                Ask,
                "neuromodulator in the last 3 months",
            ),
            (self.filler_last_12_months, "filler_last_12_months", Ask, "filler in the last 12 months"),
        ];
        let findings: Vec<ScreeningFinding> = items
            .into_iter()
            .filter(|(applies, ..)| *applies)
            .map(|(_, item, severity, note)| ScreeningFinding { item: item.into(), severity, note: note.into() })
            .collect();
        let outcome = if findings.iter().any(|f| f.severity == Stop) {
            Stop
        } else if findings.is_empty() {
            ScreeningOutcome::Clear
        } else {
            Ask
        };
        (outcome, findings)
    }
}

/// Why a screening does not allow a session at `at`, if it does not.
#[derive(Debug, PartialEq, Eq)]
pub enum ScreeningGate {
    /// None recent enough, or one that needs an override nobody gave.
    Required(String),
    Contraindicated,
}

/// Whether the latest screening (`outcome`, taken at `screened_at`, overridden or not) allows
/// a session performed at `at`, given screenings stay valid for `valid_days`.
pub fn screening_allows(
    latest: Option<(ScreeningOutcome, DateTime<Utc>, bool)>,
    at: DateTime<Utc>,
    valid_days: i64,
) -> Result<(), ScreeningGate> {
    let Some((outcome, screened_at, overridden)) = latest else {
        return Err(ScreeningGate::Required("no screening on record".into()));
    };
    if at - screened_at > chrono::Duration::days(valid_days) {
        return Err(ScreeningGate::Required(format!("the latest screening is older than {valid_days} days")));
    }
    match (outcome, overridden) {
        (ScreeningOutcome::Contraindicated, _) => Err(ScreeningGate::Contraindicated),
        (ScreeningOutcome::NeedsOverride, false) => {
            Err(ScreeningGate::Required("the latest screening needs a clinician override with a reason".into()))
        }
        _ => Ok(()),
    }
}

/// When the next session of a course is due, given the last one and the interval.
pub fn next_due(last_session: Option<DateTime<Utc>>, interval_days: i32) -> Option<DateTime<Utc>> {
    last_session.map(|t| t + chrono::Duration::days(i64::from(interval_days)))
}

/// A session at `at` is too soon when it comes before the previous one plus the interval.
pub fn too_soon(previous: Option<DateTime<Utc>>, at: DateTime<Utc>, interval_days: i32) -> bool {
    next_due(previous, interval_days).is_some_and(|due| at < due && previous.is_some_and(|p| at >= p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn depths_outside_the_device_range_are_refused_and_unusual_ones_warn() {
        assert!(NeedleDepthMm::parse(0.2).is_err());
        assert!(NeedleDepthMm::parse(3.01).is_err());
        assert!(NeedleDepthMm::parse(f64::NAN).is_err());
        let d = NeedleDepthMm::parse(1.0).unwrap();
        assert_eq!(d.warning_for(Area::Cheeks), None);
        assert!(d.warning_for(Area::UnderEye).unwrap().contains("0.25–0.5"));
        assert!(NeedleDepthMm::parse(2.0).unwrap().warning_for(Area::Neck).is_none());
        assert!(NeedleDepthMm::parse(0.25).is_ok() && NeedleDepthMm::parse(3.0).is_ok());
    }

    #[test]
    fn quiet_hours_may_cross_midnight() {
        let q = QuietHours::default();
        assert!(q.contains(t(21, 0)) && q.contains(t(23, 59)) && q.contains(t(0, 0)) && q.contains(t(7, 59)));
        assert!(!q.contains(t(8, 0)) && !q.contains(t(12, 0)) && !q.contains(t(20, 59)));
        let day = QuietHours::parse("13:00", "14:00").unwrap();
        assert!(day.contains(t(13, 30)) && !day.contains(t(14, 0)));
        assert!(!QuietHours::parse("10:00", "10:00").unwrap().contains(t(10, 0)));
        assert_eq!(QuietHours::parse("25:00", "08:00").unwrap_err().0, "quiet_hours.start");
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert!(parse_time_zone("Europe/London").is_ok());
        assert!(parse_time_zone("America/New_York").is_ok());
        assert!(parse_time_zone("Mars/Olympus").is_err());
        assert!(parse_time_zone("").is_err());
    }

    #[test]
    fn screening_outcomes_follow_the_worst_answer() {
        assert_eq!(ScreeningAnswers::default().evaluate(), (ScreeningOutcome::Clear, vec![]));
        let soft = ScreeningAnswers { cold_sore_history: true, filler_last_12_months: true, ..Default::default() };
        let (outcome, findings) = soft.evaluate();
        assert_eq!(outcome, ScreeningOutcome::NeedsOverride);
        assert_eq!(findings.len(), 2);
        let hard = ScreeningAnswers { pregnant_or_breastfeeding: true, cold_sore_history: true, ..Default::default() };
        assert_eq!(hard.evaluate().0, ScreeningOutcome::Contraindicated);
    }

    #[test]
    fn a_session_needs_a_recent_clear_or_overridden_screening() {
        let at = Utc.with_ymd_and_hms(2026, 4, 1, 10, 0, 0).unwrap();
        let recent = at - chrono::Duration::days(3);
        assert!(screening_allows(None, at, 30).is_err());
        assert!(screening_allows(Some((ScreeningOutcome::Clear, recent, false)), at, 30).is_ok());
        assert!(screening_allows(Some((ScreeningOutcome::NeedsOverride, recent, true)), at, 30).is_ok());
        assert!(matches!(
            screening_allows(Some((ScreeningOutcome::NeedsOverride, recent, false)), at, 30),
            Err(ScreeningGate::Required(_))
        ));
        assert_eq!(
            screening_allows(Some((ScreeningOutcome::Contraindicated, recent, true)), at, 30),
            Err(ScreeningGate::Contraindicated)
        );
        let old = at - chrono::Duration::days(31);
        assert!(matches!(
            screening_allows(Some((ScreeningOutcome::Clear, old, false)), at, 30),
            Err(ScreeningGate::Required(_))
        ));
    }

    #[test]
    fn the_next_session_is_due_one_interval_after_the_last() {
        let last = Utc.with_ymd_and_hms(2026, 4, 1, 10, 0, 0).unwrap();
        assert_eq!(next_due(Some(last), 28), Some(last + chrono::Duration::days(28)));
        assert_eq!(next_due(None, 28), None);
        assert!(too_soon(Some(last), last + chrono::Duration::days(27), 28));
        assert!(!too_soon(Some(last), last + chrono::Duration::days(28), 28));
        assert!(!too_soon(None, last, 28));
    }
}
