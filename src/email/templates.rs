//! Email templates, compiled in. Each template is a folder with `subject.txt`, `body.txt` and
//! `body.html`; HTML is auto-escaped, text is not. Rendering is a pure function of its context,
//! so one patient's text can never leak into another's email.
//!
//! Templates hold layout only: every sentence comes from the message catalogue (`crate::i18n`)
//! through `t("key", arg=value, …)`, in the language the email is rendered in, which the
//! templates also see as `lang` (for `<html lang>`). A key the catalogue lacks, or a missing
//! argument, fails the render (the tests render every template in every language).

use std::sync::OnceLock;

use minijinja::{Environment, Error, ErrorKind, State, Value, value::Kwargs};
use serde::Serialize;

use super::Email;
use crate::i18n::{self, FluentArgs, FluentValue, Lang};

macro_rules! template_files {
    ($($name:literal),+ $(,)?) => {
        &[$(
            (concat!($name, "/subject.txt"), include_str!(concat!("../../templates/", $name, "/subject.txt"))),
            (concat!($name, "/body.txt"), include_str!(concat!("../../templates/", $name, "/body.txt"))),
            (concat!($name, "/body.html"), include_str!(concat!("../../templates/", $name, "/body.html"))),
        )+]
    };
}

const FILES: &[(&str, &str)] = template_files![
    "invitation",
    "patient_invitation",
    "existing_account",
    "reminder",
    "urgent_alert",
    "checkin_nudge",
    "password_reset",
    "password_changed",
    "account_deleted"
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_function("t", translate);
        for (name, source) in FILES {
            // Sources are compiled in and checked by the tests below.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

/// `t("key", name=value, …)`: catalogue message `key` in the template's `lang`, with the keyword
/// arguments (strings, or integers for messages that select on a number).
pub(crate) fn translate(state: &State, key: &str, kwargs: Kwargs) -> Result<String, Error> {
    let lang = state.lookup("lang").and_then(|l| l.as_str().map(Lang::from_tag)).unwrap_or(Lang::En);
    let mut args = FluentArgs::new();
    for name in kwargs.args() {
        let value: Value = kwargs.get(name)?;
        let value = match i64::try_from(value.clone()) {
            Ok(n) if value.is_integer() => FluentValue::from(n),
            _ => FluentValue::from(value.to_string()),
        };
        args.set(name.to_owned(), value);
    }
    kwargs.assert_all_used()?;
    i18n::try_text(lang, key, Some(&args)).map_err(|e| Error::new(ErrorKind::InvalidOperation, e))
}

/// Renders `<name>/{subject.txt, body.txt, body.html}` in `lang` with `ctx` into an email to `to`.
pub fn render(name: &str, lang: Lang, to: &str, ctx: impl Serialize) -> anyhow::Result<Email> {
    let ctx = minijinja::context! { lang => lang.code(), ..Value::from_serialize(&ctx) };
    let get = |part: &str| -> anyhow::Result<String> {
        let t = env().get_template(&format!("{name}/{part}"))?;
        Ok(t.render(&ctx)?)
    };
    Ok(Email {
        to: to.to_owned(),
        subject: get("subject.txt")?.trim().replace(['\r', '\n'], " "),
        text: get("body.txt")?,
        html: get("body.html")?,
        message_id: None,
        reply_to: None,
        headers: Vec::new(),
    })
}

/// What an invitation email says.
#[derive(Serialize)]
pub struct InvitationContext<'a> {
    pub clinic_name: &'a str,
    pub role: &'a str,
    pub accept_url: &'a str,
    pub token: &'a str,
    pub expires_at: &'a str,
}

/// What the notice says that goes, instead of an invitation, to an address that already has an
/// account: who tried, and no token (so that invitation can never be accepted).
#[derive(Serialize)]
pub struct ExistingAccountContext<'a> {
    pub clinic_name: &'a str,
}

/// What a password reset email says: the single-use link (and its token for an app) and when it
/// expires.
#[derive(Serialize)]
pub struct PasswordResetContext<'a> {
    pub clinic_name: &'a str,
    pub reset_url: &'a str,
    pub token: &'a str,
    pub expires_at: &'a str,
}

/// What the notice says after a password was set: when, how (reset link or signed-in change),
/// and where to go if it was not the owner.
#[derive(Serialize)]
pub struct PasswordChangedContext<'a> {
    pub clinic_name: &'a str,
    pub changed_at: &'a str,
    pub by_reset: bool,
    /// The page where a reset can be requested.
    pub reset_url: &'a str,
}

/// What the confirmation of a patient's own account deletion says.
#[derive(Serialize)]
pub struct AccountDeletedContext<'a> {
    pub clinic_name: &'a str,
    pub deleted_at: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(clinic: &str) -> Email {
        render(
            "invitation",
            Lang::En,
            "new@example.com",
            InvitationContext {
                clinic_name: clinic,
                role: "clinician",
                accept_url: "http://127.0.0.1:8080/invite?token=abc",
                token: "abc",
                expires_at: "2026-11-25 10:00 UTC",
            },
        )
        .unwrap()
    }

    #[test]
    fn every_template_compiles() {
        for (name, _) in FILES {
            env().get_template(name).unwrap();
        }
    }

    #[test]
    fn the_invitation_names_the_clinic_and_the_link_in_both_parts() {
        let e = invitation("Glow Skin Clinic");
        assert_eq!(e.subject, "You're invited to Glow Skin Clinic on Aftercare");
        for body in [&e.text, &e.html] {
            assert!(body.contains("Glow Skin Clinic"));
            assert!(body.contains("2026-11-25 10:00 UTC"));
        }
        assert!(e.text.contains("http://127.0.0.1:8080/invite?token=abc"));
        // HTML escapes `/` in attribute values; browsers read it back as the same URL.
        assert!(e.html.contains(r#"href="http:&#x2f;&#x2f;127.0.0.1:8080&#x2f;invite?token=abc""#), "{}", e.html);
    }

    /// Every variable any template reads.
    fn full_context(first_name: &str, can_reply: bool) -> serde_json::Value {
        serde_json::json!({
            "first_name": first_name, "title": "T", "message": "M", "avoid": ["a1", "a2"],
            "action_url": "http://x/app/checkin", "local_time": "L", "time_zone": "Europe/Madrid", "day": 2,
            "clinic_name": "Glow", "unsubscribe_url": "http://x/u", "can_reply": can_reply, "role": "admin",
            "accept_url": "http://x/invite", "token": "tok", "expires_at": "E", "reason": "fever",
            "details": "D", "link": "http://x/app/alerts/1", "reset_url": "http://x/reset-password",
            "changed_at": "C", "by_reset": can_reply, "deleted_at": "D2",
        })
    }

    #[test]
    fn every_template_renders_in_every_language_with_html_lang_matching_the_text() {
        let names: Vec<&str> = FILES.iter().filter_map(|(n, _)| n.strip_suffix("/subject.txt")).collect();
        assert_eq!(names.len(), 9);
        for name in names {
            let english = render(name, Lang::En, "a@x.example", full_context("Ana", true)).unwrap();
            for lang in Lang::ALL {
                for (first_name, can_reply) in [("Ana", true), ("", false)] {
                    let e = render(name, lang, "a@x.example", full_context(first_name, can_reply))
                        .unwrap_or_else(|err| panic!("{name} in {lang:?}: {err:#}"));
                    assert!(e.html.contains(&format!("<html lang=\"{}\">", lang.code())), "{name} {lang:?}");
                    assert!(!e.subject.is_empty() && !e.text.trim().is_empty(), "{name} {lang:?}");
                }
                let e = render(name, lang, "a@x.example", full_context("Ana", true)).unwrap();
                if lang != Lang::En {
                    assert_ne!(e.text, english.text, "{name} is translated into {lang:?}");
                }
            }
        }
    }

    #[test]
    fn a_spanish_reminder_says_everything_in_spanish() {
        let e = render("reminder", Lang::Es, "a@x.example", full_context("Ana", false)).unwrap();
        for part in [&e.text, &e.html] {
            assert!(part.contains("Hola, Ana:"), "{part}");
            assert!(part.contains("Evite:"), "{part}");
            assert!(
                part.contains("Este recordatorio de Glow es para el L (Europe")
                    && part.contains("Madrid), el día 2 después de su tratamiento."),
                "{part}"
            );
            assert!(part.contains("Llame a su clínica.") && !part.contains("Responda"), "{part}");
            assert!(part.contains("ejar de recibir recordatorios de cuidados por correo"), "{part}");
            assert!(!part.contains("Hello") && !part.contains("Please avoid"), "{part}");
        }
        let e = render("reminder", Lang::Es, "a@x.example", full_context("", true)).unwrap();
        assert!(e.text.starts_with("Hola:\n") && e.text.contains("Responda a este correo"), "{}", e.text);
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let e = invitation("<script>alert(1)</script> & Co");
        assert!(e.html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co"), "{}", e.html);
        assert!(!e.html.contains("<script>"));
        assert!(e.text.contains("<script>alert(1)</script> & Co"));
    }

    #[test]
    fn the_existing_account_notice_names_the_clinic_and_carries_no_link() {
        let e = render(
            "existing_account",
            Lang::En,
            "owner@example.com",
            ExistingAccountContext { clinic_name: "Glow & Co" },
        )
        .unwrap();
        assert_eq!(e.subject, "Glow & Co tried to invite you to Aftercare");
        assert!(e.text.contains("Someone at Glow & Co tried to invite") && e.text.contains("already have"));
        assert!(e.html.contains("Glow &amp; Co") && e.html.contains("already have"));
        for body in [&e.text, &e.html] {
            assert!(!body.contains("token") && !body.contains("http"), "{body}");
        }
    }

    #[test]
    fn the_reset_email_carries_the_link_and_its_expiry_in_both_parts() {
        let ctx = PasswordResetContext {
            clinic_name: "Glow & Co",
            reset_url: "http://127.0.0.1:8080/reset-password?token=abc",
            token: "abc",
            expires_at: "2026-11-25 10:00 UTC",
        };
        let e = render("password_reset", Lang::En, "jane@example.com", ctx).unwrap();
        assert_eq!(e.subject, "Reset your Aftercare password");
        assert!(e.text.contains("http://127.0.0.1:8080/reset-password?token=abc"), "{}", e.text);
        assert!(e.html.contains("Glow &amp; Co") && e.text.contains("Glow & Co"));
        for body in [&e.text, &e.html] {
            assert!(body.contains("2026-11-25 10:00 UTC") && body.contains("ignore this email"), "{body}");
        }
    }

    #[test]
    fn the_changed_notice_says_how_and_what_to_do_if_it_was_not_you() {
        for by_reset in [true, false] {
            let ctx = PasswordChangedContext {
                clinic_name: "Glow",
                changed_at: "2026-11-25 10:00 UTC",
                by_reset,
                reset_url: "http://127.0.0.1:8080/reset-password",
            };
            let e = render("password_changed", Lang::En, "jane@example.com", ctx).unwrap();
            assert_eq!(e.subject, "Your Aftercare password was changed");
            for body in [&e.text, &e.html] {
                assert!(body.contains("If it was not you") && body.contains("signed out"), "{body}");
                assert_eq!(body.contains("reset link sent to this address"), by_reset, "{body}");
                assert!(!body.contains("token="), "{body}");
            }
        }
    }

    #[test]
    fn the_account_emails_are_written_in_the_patients_language() {
        let ctx = PasswordResetContext {
            clinic_name: "Glow",
            reset_url: "http://x/r?token=abc",
            token: "abc",
            expires_at: "E",
        };
        let e = render("password_reset", Lang::Es, "ana@example.com", ctx).unwrap();
        assert_eq!(e.subject, "Restablezca su contraseña de Aftercare");
        assert!(e.html.contains("<html lang=\"es\">") && e.text.contains("su contraseña no cambia"), "{}", e.text);
        let ctx =
            PasswordChangedContext { clinic_name: "Glow", changed_at: "C", by_reset: true, reset_url: "http://x/r" };
        let e = render("password_changed", Lang::Es, "ana@example.com", ctx).unwrap();
        assert!(e.text.contains("enlace de restablecimiento") && !e.text.contains("Hello"), "{}", e.text);
    }

    #[test]
    fn the_deletion_confirmation_names_the_clinic_and_when() {
        let ctx = AccountDeletedContext { clinic_name: "Glow", deleted_at: "2026-11-25 10:00 UTC" };
        let e = render("account_deleted", Lang::En, "jane@example.com", ctx).unwrap();
        assert_eq!(e.subject, "Your Aftercare account was deleted");
        for body in [&e.text, &e.html] {
            assert!(
                body.contains("Glow") && body.contains("2026-11-25 10:00 UTC") && body.contains("cannot be undone")
            );
        }
    }
}
