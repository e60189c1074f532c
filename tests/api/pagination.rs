//! Every list answers `{items, next_cursor}` and pages with `?limit=&cursor=`; the app's lists
//! also take `updated_since`. Keyset pages: nothing repeated or skipped when rows arrive between
//! two pages.

use aftercare::clock::Clock;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, ok, treated_patient};

/// Follows `next_cursor` from `path` (which already has a `?`) until the last page; every page
/// holds at most `limit` items and only the last has no cursor.
async fn every_page(app: &TestApp, path: &str, token: &str, limit: usize) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&limit={limit}&cursor={c}"),
            None => format!("{path}&limit={limit}"),
        };
        let page = ok(app.get(&url, Some(token)).await, 200).await;
        let items = page["items"].as_array().unwrap_or_else(|| panic!("{url}: no items in {page}")).clone();
        assert!(items.len() <= limit, "{url}: {} items on a page of {limit}", items.len());
        pages.push(items);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages.len() < 50, "{path}: the cursor never ends");
    }
    pages
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

fn checkin(reported_at: Option<&str>) -> Value {
    let mut body = json!({"redness": 1, "swelling": 0, "pain": 1, "itch": 0});
    if let Some(at) = reported_at {
        body["reported_at"] = json!(at);
    }
    body
}

#[tokio::test]
async fn a_log_pages_newest_first_with_nothing_repeated_or_skipped() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    let mut made = Vec::new();
    for _ in 0..5 {
        app.clock.advance(chrono::Duration::minutes(1));
        let c = ok(app.post("/api/v1/me/checkins", &checkin(None), Some(&fx.patient)).await, 201).await;
        made.push(c["id"].as_str().unwrap().to_owned());
    }
    made.reverse(); // newest first

    let pages = every_page(&app, "/api/v1/me/checkins?", &fx.patient, 2).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat().iter().map(|i| i["id"].as_str().unwrap()).collect::<Vec<_>>(), made);
    let staff_view = every_page(&app, &format!("/api/v1/patients/{}/checkins?", fx.pid), &fx.staff, 3).await;
    assert_eq!(ids(&staff_view.concat()), made, "staff page the same log");

    // A check-in arriving between two pages lands before the first page, not in the next one.
    let first = ok(app.get("/api/v1/me/checkins?limit=2", Some(&fx.patient)).await, 200).await;
    app.clock.advance(chrono::Duration::minutes(1));
    ok(app.post("/api/v1/me/checkins", &checkin(None), Some(&fx.patient)).await, 201).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest =
        ok(app.get(&format!("/api/v1/me/checkins?limit=10&cursor={cursor}"), Some(&fx.patient)).await, 200).await;
    let mut seen = ids(first["items"].as_array().unwrap());
    seen.extend(ids(rest["items"].as_array().unwrap()));
    assert_eq!(seen, made, "the old rows, each once, in order");
    assert!(rest["next_cursor"].is_null());

    // The serum log the same way.
    for hour in 0..3 {
        let at = format!("2026-03-16T09:0{}:00Z", hour + 1);
        ok(
            app.post(
                "/api/v1/me/serum-applications",
                &json!({"product": "HA serum", "applied_at": at}),
                Some(&fx.patient),
            )
            .await,
            201,
        )
        .await;
    }
    let serum = every_page(&app, "/api/v1/me/serum-applications?", &fx.patient, 2).await.concat();
    let times: Vec<&str> = serum.iter().map(|s| s["applied_at"].as_str().unwrap()).collect();
    assert_eq!(times, ["2026-03-16T09:03:00Z", "2026-03-16T09:02:00Z", "2026-03-16T09:01:00Z"]);
}

#[tokio::test]
async fn every_list_answers_a_page_and_refuses_a_bad_cursor_or_limit() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    for minute in 1..=3 {
        ok(app.post("/api/v1/me/checkins", &checkin(None), Some(&fx.patient)).await, 201).await;
        let serum = json!({"product": "HA serum", "applied_at": format!("2026-03-16T09:0{minute}:00Z")});
        app.clock.advance(chrono::Duration::minutes(1));
        ok(app.post("/api/v1/me/serum-applications", &serum, Some(&fx.patient)).await, 201).await;
    }
    app.invite_and_accept(&fx.staff, "dr@glow.example", "clinician").await;
    let (pid, course) = (&fx.pid, &fx.course);
    let lists: Vec<(String, &str)> = vec![
        ("/api/v1/me/checkins".into(), &fx.patient),
        ("/api/v1/me/serum-applications".into(), &fx.patient),
        ("/api/v1/me/courses".into(), &fx.patient),
        ("/api/v1/me/sessions".into(), &fx.patient),
        ("/api/v1/me/photos".into(), &fx.patient),
        ("/api/v1/me/devices".into(), &fx.patient),
        ("/api/v1/scales".into(), &fx.patient),
        (format!("/api/v1/courses/{course}/sessions"), &fx.staff),
        (format!("/api/v1/patients/{pid}/checkins"), &fx.staff),
        (format!("/api/v1/patients/{pid}/serum-applications"), &fx.staff),
        (format!("/api/v1/patients/{pid}/courses"), &fx.staff),
        (format!("/api/v1/patients/{pid}/sessions"), &fx.staff),
        (format!("/api/v1/patients/{pid}/screenings"), &fx.staff),
        (format!("/api/v1/patients/{pid}/photos"), &fx.staff),
        (format!("/api/v1/patients/{pid}/scores"), &fx.staff),
        ("/api/v1/webhooks".into(), &fx.staff),
        ("/api/v1/staff".into(), &fx.staff),
    ];
    for (path, token) in &lists {
        let whole = ok(app.get(&format!("{path}?limit=200"), Some(token)).await, 200).await;
        assert!(whole.get("next_cursor").is_some_and(Value::is_null), "{path}: one page holds it all: {whole}");
        let one_by_one = every_page(&app, &format!("{path}?"), token, 1).await.concat();
        assert_eq!(&Value::from(one_by_one), &whole["items"], "{path}: page by page is the whole list, in order");
        assert_problem(app.get(&format!("{path}?limit=0"), Some(token)).await, 400, "invalid_query").await;
        assert_problem(app.get(&format!("{path}?cursor=not-a-cursor"), Some(token)).await, 400, "invalid_query").await;
    }
    // Catalogues page too: the scales, one at a time, every one once.
    let all =
        ok(app.get("/api/v1/scales?limit=200", Some(&fx.patient)).await, 200).await["items"].as_array().unwrap().len();
    assert!(all >= 2, "seeded scales: {all}");
    let scales = every_page(&app, "/api/v1/scales?", &fx.patient, 1).await.concat();
    let keys: Vec<String> = scales.iter().map(|s| format!("{}@{}", s["code"], s["version"])).collect();
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!((keys.len(), unique.len()), (all, all), "{keys:?}");
}

#[tokio::test]
async fn updated_since_returns_what_was_made_or_changed_since() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    ok(app.post("/api/v1/me/checkins", &checkin(None), Some(&fx.patient)).await, 201).await;
    app.clock.advance(chrono::Duration::minutes(2));
    let since = app.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    app.clock.advance(chrono::Duration::minutes(1));

    // Nothing new yet: every synced list is empty.
    for path in ["checkins", "serum-applications", "courses", "sessions", "photos"] {
        let page = ok(app.get(&format!("/api/v1/me/{path}?updated_since={since}"), Some(&fx.patient)).await, 200).await;
        assert_eq!(page["items"], json!([]), "{path}: {page}");
    }

    // An offline check-in sent now but filled in before `since` is new to the app.
    let late =
        ok(app.post("/api/v1/me/checkins", &checkin(Some("2026-03-16T09:00:30Z")), Some(&fx.patient)).await, 201).await;
    let page = ok(app.get(&format!("/api/v1/me/checkins?updated_since={since}"), Some(&fx.patient)).await, 200).await;
    assert_eq!(ids(page["items"].as_array().unwrap()), [late["id"].as_str().unwrap()]);
    let all = ok(app.get("/api/v1/me/checkins", Some(&fx.patient)).await, 200).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);

    // A session changed by the clinic: the session and its course come back.
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/sessions/{}", fx.session)))
        .bearer_auth(&fx.staff)
        .json(&json!({"notes": "tolerated well"}))
        .send()
        .await
        .unwrap();
    ok(res, 200).await;
    let sessions =
        ok(app.get(&format!("/api/v1/me/sessions?updated_since={since}"), Some(&fx.patient)).await, 200).await;
    assert_eq!(ids(sessions["items"].as_array().unwrap()), [fx.session.as_str()]);
    let courses = ok(app.get(&format!("/api/v1/me/courses?updated_since={since}"), Some(&fx.patient)).await, 200).await;
    assert_eq!(ids(courses["items"].as_array().unwrap()), [fx.course.as_str()]);
    let staff = format!("/api/v1/patients/{}/sessions?updated_since={since}", fx.pid);
    assert_eq!(
        ids(ok(app.get(&staff, Some(&fx.staff)).await, 200).await["items"].as_array().unwrap()),
        [fx.session.as_str()]
    );

    // A time that is not RFC 3339 is a 400 naming the parameter.
    let bad = assert_problem(
        app.get("/api/v1/me/checkins?updated_since=yesterday", Some(&fx.patient)).await,
        400,
        "invalid_query",
    )
    .await;
    assert!(bad["detail"].as_str().unwrap().contains("updated_since"), "{bad}");
}

#[tokio::test]
async fn past_reminders_page_on_and_updated_since_lists_what_moved() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    let first = ok(app.get("/api/v1/me/reminders?limit=200", Some(&fx.patient)).await, 200).await;
    let planned = first["upcoming"].as_array().unwrap().len();
    assert!(planned >= 10, "the session planned its reminders: {first}");
    assert!(first["next_cursor"].is_null());

    // One is done: only it has changed since.
    app.clock.advance(chrono::Duration::minutes(1));
    let since = app.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    app.clock.advance(chrono::Duration::minutes(1));
    let unchanged =
        ok(app.get(&format!("/api/v1/me/reminders?updated_since={since}"), Some(&fx.patient)).await, 200).await;
    assert_eq!((unchanged["upcoming"].clone(), unchanged["past"].clone()), (json!([]), json!([])));
    let done_id = first["upcoming"][0]["id"].as_str().unwrap().to_owned();
    ok(app.post(&format!("/api/v1/me/reminders/{done_id}/done"), &json!({}), Some(&fx.patient)).await, 200).await;
    let moved = ok(app.get(&format!("/api/v1/me/reminders?updated_since={since}"), Some(&fx.patient)).await, 200).await;
    let mut moved_ids = ids(moved["upcoming"].as_array().unwrap());
    moved_ids.extend(ids(moved["past"].as_array().unwrap()));
    assert_eq!(moved_ids, [done_id.as_str()], "{moved}");

    // The clinic cancels the session: every reminder is past, and pages on, latest plan first.
    let cancel = json!({"reason": "patient unwell"});
    ok(app.post(&format!("/api/v1/sessions/{}/cancel", fx.session), &cancel, Some(&fx.staff)).await, 200).await;
    let mut past = Vec::new();
    let mut url = "/api/v1/me/reminders?limit=7".to_owned();
    loop {
        let page = ok(app.get(&url, Some(&fx.patient)).await, 200).await;
        if !past.is_empty() {
            assert_eq!(page["upcoming"], json!([]), "a cursor continues the past half only");
        }
        let items = page["past"].as_array().unwrap().clone();
        assert!(items.len() <= 7);
        past.extend(items);
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/me/reminders?limit=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(past.len(), planned, "every reminder once");
    let keys: Vec<(String, String)> = past
        .iter()
        .map(|r| (r["planned_at"].as_str().unwrap().to_owned(), r["id"].as_str().unwrap().to_owned()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted, "latest plan first, each once");
    let staff =
        ok(app.get(&format!("/api/v1/patients/{}/reminders?limit=200", fx.pid), Some(&fx.staff)).await, 200).await;
    assert_eq!(staff["past"].as_array().unwrap().len(), planned);
    assert_problem(app.get("/api/v1/me/reminders?cursor=nope", Some(&fx.patient)).await, 400, "invalid_query").await;
}
