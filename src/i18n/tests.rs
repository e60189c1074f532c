use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use fluent_syntax::ast;

use super::*;
use crate::domain::protocol::default_steps;

/// The variables (`$name`) a message uses, by key, for one language.
fn variables(lang: Lang) -> BTreeMap<String, BTreeSet<String>> {
    fn pattern(p: &ast::Pattern<&str>, out: &mut BTreeSet<String>) {
        for element in &p.elements {
            if let ast::PatternElement::Placeable { expression } = element {
                expr(expression, out);
            }
        }
    }
    fn expr(e: &ast::Expression<&str>, out: &mut BTreeSet<String>) {
        match e {
            ast::Expression::Inline(i) => inline(i, out),
            ast::Expression::Select { selector, variants } => {
                inline(selector, out);
                for v in variants {
                    pattern(&v.value, out);
                }
            }
        }
    }
    fn inline(i: &ast::InlineExpression<&str>, out: &mut BTreeSet<String>) {
        match i {
            ast::InlineExpression::VariableReference { id } => {
                out.insert(id.name.to_owned());
            }
            ast::InlineExpression::Placeable { expression } => expr(expression, out),
            _ => {}
        }
    }
    let mut all = BTreeMap::new();
    for (_, _, source) in SOURCES.iter().filter(|(l, _, _)| *l == lang.code()) {
        let resource = FluentResource::try_new((*source).to_owned()).unwrap();
        for entry in resource.entries() {
            if let ast::Entry::Message(m) = entry {
                let mut used = BTreeSet::new();
                if let Some(value) = &m.value {
                    pattern(value, &mut used);
                }
                all.insert(m.id.name.to_owned(), used);
            }
        }
    }
    all
}

/// A value for each argument a message may take (numbers where a message selects on them).
fn sample(name: &str) -> FluentValue<'static> {
    match name {
        "day" => FluentValue::from(3),
        "role" => FluentValue::from("admin"),
        other => FluentValue::from(format!("<{other}>")),
    }
}

#[test]
fn every_language_has_the_same_files_and_each_parses_and_loads_without_clashes() {
    let files = |lang: Lang| -> Vec<&str> {
        SOURCES.iter().filter(|(l, _, _)| *l == lang.code()).map(|(_, f, _)| *f).collect()
    };
    for lang in Lang::ALL {
        assert_eq!(files(lang), files(Lang::En), "{lang:?} has the same files as English");
        let id: LanguageIdentifier = lang.code().parse().unwrap();
        let mut bundle = Bundle::new_concurrent(vec![id]);
        for (_, file, source) in SOURCES.iter().filter(|(l, _, _)| *l == lang.code()) {
            let resource = FluentResource::try_new((*source).to_owned())
                .unwrap_or_else(|(_, e)| panic!("{}/{file}.ftl does not parse: {e:?}", lang.code()));
            assert!(resource.entries().all(|e| !matches!(e, ast::Entry::Junk { .. })), "{file}: junk");
            bundle.add_resource(resource).unwrap_or_else(|e| panic!("{}/{file}.ftl clashes: {e:?}", lang.code()));
        }
    }
}

#[test]
fn every_key_exists_in_every_language_and_no_language_has_extra_keys() {
    let english = keys(Lang::En);
    assert!(english.len() > 80, "the catalogue is loaded: {} keys", english.len());
    for lang in Lang::ALL {
        let other = keys(lang);
        let missing: Vec<_> = english.difference(&other).collect();
        let extra: Vec<_> = other.difference(&english).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{lang:?}: missing {missing:?}, extra {extra:?}");
    }
}

#[test]
fn every_message_takes_the_same_arguments_in_every_language_and_renders_with_them_without_errors() {
    let english = variables(Lang::En);
    for lang in Lang::ALL {
        let own = variables(lang);
        for (key, used) in &english {
            assert_eq!(own.get(key), Some(used), "{lang:?} `{key}` takes the same arguments as English");
            let mut args = FluentArgs::new();
            for name in used {
                args.set(name.clone(), sample(name));
            }
            let text = try_text(lang, key, Some(&args)).unwrap_or_else(|e| panic!("{lang:?}: {e}"));
            assert!(!text.trim().is_empty(), "{lang:?} `{key}` says something");
            assert!(!text.contains(['\u{2068}', '\u{2069}']), "{lang:?} `{key}` has no isolation marks");
            for name in used.iter().filter(|n| !["day", "role", "by_reset"].contains(&n.as_str())) {
                assert!(text.contains(&format!("<{name}>")), "{lang:?} `{key}` shows ${name}: {text}");
            }
        }
    }
}

#[test]
fn a_missing_argument_or_key_is_an_error_for_try_text_and_a_readable_fallback_for_text() {
    assert!(try_text(Lang::Es, "hello-name", None).is_err());
    assert!(try_text(Lang::Es, "no-such-key", None).unwrap_err().contains("no-such-key"));
    assert_eq!(text(Lang::Es, "no-such-key", None), "no-such-key");
    let args = FluentArgs::from_iter([("name", "Ana")]);
    assert_eq!(text(Lang::Es, "hello-name", Some(&args)), "Hola, Ana:");
    assert_eq!(text(Lang::En, "hello-name", Some(&args)), "Hello Ana,");
}

#[test]
fn a_tag_is_read_by_its_primary_subtag_and_anything_unsupported_is_english() {
    for (tag, lang) in [
        ("es", Lang::Es),
        ("es-MX", Lang::Es),
        ("ES-419", Lang::Es),
        ("es_ES", Lang::Es),
        ("en-GB", Lang::En),
        ("pt", Lang::En),
        ("pt-BR", Lang::En),
        ("fr", Lang::En),
        ("", Lang::En),
        ("zz-??", Lang::En),
    ] {
        assert_eq!(Lang::from_tag(tag), lang, "{tag}");
    }
}

#[test]
fn dates_read_naturally_in_each_language_in_the_given_zone() {
    let tz: Tz = "Europe/Madrid".parse().unwrap();
    let t = Utc.with_ymd_and_hms(2026, 12, 4, 17, 0, 0).unwrap().with_timezone(&tz);
    assert_eq!(datetime_short(Lang::En, &t), "Friday 4 December, 18:00");
    assert_eq!(datetime_short(Lang::Es, &t), "viernes 4 de diciembre, 18:00");
    assert_eq!(datetime_long(Lang::En, &t), "4 December 2026, 18:00");
    assert_eq!(datetime_long(Lang::Es, &t), "4 de diciembre de 2026, 18:00");
    let morning = Utc.with_ymd_and_hms(2026, 3, 16, 8, 5, 0).unwrap();
    assert_eq!(datetime_short(Lang::En, &morning), "Monday 16 March, 08:05");
}

#[test]
fn the_english_catalogue_says_the_built_in_protocol_word_for_word() {
    for step in default_steps() {
        let english = step_text(Lang::En, &step);
        assert_eq!(builtin_step(Lang::En, &step.key).as_ref(), Some(&english), "{} is in the catalogue", step.key);
        assert_eq!((english.title, english.message, english.avoid), (step.title, step.message, step.avoid));
    }
}

#[test]
fn a_built_in_step_is_translated_and_a_clinic_s_own_text_goes_as_written() {
    let steps = default_steps();
    for step in &steps {
        let spanish = step_text(Lang::Es, step);
        assert_ne!(spanish.title, step.title, "{}", step.key);
        assert_ne!(spanish.message, step.message, "{}", step.key);
        assert_eq!(spanish.avoid.len(), step.avoid.len(), "{}", step.key);
    }
    let serum = steps.iter().find(|s| s.key == "ha_serum").unwrap();
    assert_eq!(
        push_reminder(Lang::Es, serum),
        (
            "Es la hora de su sérum de ácido hialurónico".to_owned(),
            "Aplique su sérum de ácido hialurónico sobre la piel limpia. Regístrelo en la app para que sepamos que lo ha hecho."
                .to_owned()
        )
    );
    assert_eq!(push_reminder(Lang::En, serum), (serum.title.clone(), serum.message.clone()));

    // Edited by the clinic (even one word), or a step of its own: its words, in every language.
    let mut edited = serum.clone();
    edited.message = "Apply the serum we gave you, twice a day.".into();
    let mut own = serum.clone();
    own.key = "clinic_special".into();
    for step in [edited, own] {
        let sent = step_text(Lang::Es, &step);
        assert_eq!((sent.title, sent.message), (step.title.clone(), step.message.clone()));
    }
}
