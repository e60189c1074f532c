//! The message catalogue: every sentence the service says to people (emails, push texts and
//! the web pages behind emailed links), per language, as Fluent files compiled in from `locales/<lang>/*.ftl`.
//!
//! A reader's language is their BCP 47 tag (`es-MX`) reduced to its primary subtag (`es`); a
//! language the catalogue lacks is read in English, and so is, message by message, anything a
//! translation lacks (a test keeps every language complete, so that is only a safety net).
//! Unicode isolation marks are off: every language here is left-to-right, and the marks would
//! show as stray characters in subjects and plain-text mail.
//!
//! The built-in protocol's reminder texts are here too, by step key: a step that still has the
//! built-in English text is sent in the reader's language; a clinic's own text goes as written.

use std::{
    collections::{BTreeSet, HashMap},
    sync::OnceLock,
};

use chrono::{DateTime, Datelike, TimeZone, Timelike};
pub use fluent_bundle::{FluentArgs, FluentValue};
use fluent_bundle::{FluentResource, concurrent::FluentBundle};
use unic_langid::LanguageIdentifier;

use crate::domain::protocol::Step;

/// A language the catalogue has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    En,
    Es,
}

impl Lang {
    /// Every language of the catalogue; the first is the fallback.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Es];

    /// The primary language subtag, also what `<html lang>` says.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// The catalogue language for a stored BCP 47 tag: by primary subtag (`es-MX` → `es`),
    /// English for anything else (`pt`, `fr`, an empty or malformed tag).
    pub fn from_tag(tag: &str) -> Lang {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.code() == primary).unwrap_or(Lang::En)
    }
}

/// Who reads a message: the language and the time zone its dates are given in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reader {
    pub lang: Lang,
    pub zone: chrono_tz::Tz,
}

impl Reader {
    /// Staff: English and UTC (clinics have no language setting yet).
    pub fn staff() -> Self {
        Self { lang: Lang::En, zone: chrono_tz::Tz::UTC }
    }

    /// A patient, from their stored BCP 47 tag and their time zone.
    pub fn patient(language: &str, zone: chrono_tz::Tz) -> Self {
        Self { lang: Lang::from_tag(language), zone }
    }

    /// An instant as this reader would write it, with the year and the zone's name:
    /// "4 de diciembre de 2026, 18:00 (Europe/Madrid)".
    pub fn datetime_long(&self, t: DateTime<chrono::Utc>) -> String {
        format!("{} ({})", datetime_long(self.lang, &t.with_timezone(&self.zone)), self.zone.name())
    }
}

/// `(language, file, source)` of every catalogue file. A new file is added for every language.
macro_rules! ftl {
    ($lang:literal, $file:literal) => {
        ($lang, $file, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/locales/", $lang, "/", $file, ".ftl")))
    };
}

const SOURCES: &[(&str, &str, &str)] = &[
    ftl!("en", "common"),
    ftl!("en", "emails"),
    ftl!("en", "pages"),
    ftl!("en", "reminders"),
    ftl!("es", "common"),
    ftl!("es", "emails"),
    ftl!("es", "pages"),
    ftl!("es", "reminders"),
];

type Bundle = FluentBundle<FluentResource>;

fn bundles() -> &'static HashMap<Lang, Bundle> {
    static BUNDLES: OnceLock<HashMap<Lang, Bundle>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        Lang::ALL
            .into_iter()
            .map(|lang| {
                let id: LanguageIdentifier = lang.code().parse().unwrap_or_default();
                let mut bundle = Bundle::new_concurrent(vec![id]);
                bundle.set_use_isolating(false);
                for (_, file, source) in SOURCES.iter().filter(|(l, _, _)| *l == lang.code()) {
                    // Sources are compiled in and checked by the tests below; a broken entry is
                    // left out (and read in English) rather than taking the catalogue down.
                    let resource = FluentResource::try_new((*source).to_owned()).unwrap_or_else(|(partial, errors)| {
                        tracing::error!(
                            lang = lang.code(),
                            file,
                            errors = errors.len(),
                            "catalogue file does not parse"
                        );
                        partial
                    });
                    if let Err(errors) = bundle.add_resource(resource) {
                        tracing::error!(lang = lang.code(), file, errors = errors.len(), "catalogue file clashes");
                    }
                }
                (lang, bundle)
            })
            .collect()
    })
}

/// Message `key` in `lang` (English when `lang` lacks it), or why it cannot be said: no such
/// message, or an argument missing. Errors name keys and arguments, never their values.
pub fn try_text(lang: Lang, key: &str, args: Option<&FluentArgs>) -> Result<String, String> {
    let all = bundles();
    let found = [lang, Lang::En]
        .into_iter()
        .filter_map(|l| all.get(&l))
        .find_map(|b| b.get_message(key).and_then(|m| m.value()).map(|p| (b, p)));
    let Some((bundle, pattern)) = found else {
        return Err(format!("no message `{key}` in the catalogue"));
    };
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors).into_owned();
    if errors.is_empty() { Ok(text) } else { Err(format!("message `{key}`: {errors:?}")) }
}

/// Message `key` in `lang`, as well as it can be said: a missing message or argument is logged
/// and the text stands with Fluent's placeholder (`{$name}`) or the key itself.
pub fn text(lang: Lang, key: &str, args: Option<&FluentArgs>) -> String {
    try_text(lang, key, args).unwrap_or_else(|e| {
        tracing::error!(lang = lang.code(), error = %e, "catalogue message not rendered");
        let all = bundles();
        let mut ignored = Vec::new();
        all.get(&Lang::En)
            .and_then(|b| b.get_message(key).and_then(|m| m.value()).map(|p| (b, p)))
            .map(|(b, p)| b.format_pattern(p, args, &mut ignored).into_owned())
            .unwrap_or_else(|| key.to_owned())
    })
}

fn date_args<Tz: TimeZone>(lang: Lang, t: &DateTime<Tz>) -> FluentArgs<'static> {
    let mut args = FluentArgs::new();
    args.set("weekday", text(lang, &format!("weekday-{}", t.weekday().number_from_monday()), None));
    args.set("month", text(lang, &format!("month-{}", t.month()), None));
    args.set("day", t.day().to_string());
    args.set("year", t.year().to_string());
    args.set("time", format!("{:02}:{:02}", t.hour(), t.minute()));
    args
}

/// A date and time in the coming days, in `t`'s zone: "Friday 4 December, 18:00",
/// "viernes 4 de diciembre, 18:00".
pub fn datetime_short<Tz: TimeZone>(lang: Lang, t: &DateTime<Tz>) -> String {
    text(lang, "datetime-short", Some(&date_args(lang, t)))
}

/// A date and time with the year, in `t`'s zone: "4 December 2026, 18:00",
/// "4 de diciembre de 2026, 18:00".
pub fn datetime_long<Tz: TimeZone>(lang: Lang, t: &DateTime<Tz>) -> String {
    text(lang, "datetime-long", Some(&date_args(lang, t)))
}

/// What a reminder says: its title, its message and the things to avoid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepText {
    pub title: String,
    pub message: String,
    pub avoid: Vec<String>,
}

/// The catalogue's text for built-in step `key` in `lang`, if the catalogue has that step.
fn builtin_step(lang: Lang, key: &str) -> Option<StepText> {
    let title_key = format!("step-{key}-title");
    try_text(Lang::En, &title_key, None).ok()?;
    // How many items the built-in step lists is the English file's; each is then read in `lang`.
    let avoid = (1..)
        .map(|i| format!("step-{key}-avoid-{i}"))
        .take_while(|k| try_text(Lang::En, k, None).is_ok())
        .map(|k| text(lang, &k, None))
        .collect();
    Some(StepText {
        title: text(lang, &title_key, None),
        message: text(lang, &format!("step-{key}-message"), None),
        avoid,
    })
}

/// What a reminder of `step` says in `lang`: the catalogue's translation while the step has the
/// built-in English text word for word, otherwise the clinic's own text as written.
pub fn step_text(lang: Lang, step: &Step) -> StepText {
    let own = || StepText { title: step.title.clone(), message: step.message.clone(), avoid: step.avoid.clone() };
    match builtin_step(Lang::En, &step.key) {
        Some(english) if english == own() => builtin_step(lang, &step.key).unwrap_or_else(own),
        _ => own(),
    }
}

/// The title and body of a reminder's push notification in `lang` (the same words as its email:
/// the step's title, and its message).
pub fn push_reminder(lang: Lang, step: &Step) -> (String, String) {
    let text = step_text(lang, step);
    (text.title, text.message)
}

/// The message keys of `lang`'s files (tests, and a check that languages match).
pub fn keys(lang: Lang) -> BTreeSet<String> {
    SOURCES
        .iter()
        .filter(|(l, _, _)| *l == lang.code())
        .filter_map(|(_, _, source)| FluentResource::try_new((*source).to_owned()).ok())
        .flat_map(|r| {
            r.entries()
                .filter_map(|e| match e {
                    fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests;
