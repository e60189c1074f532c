//! The tables, in the common SQL types both backends share: ids as `Text`, instants as
//! `Timestamp` (UTC, microseconds), JSON documents as `Text`.

diesel::table! {
    clinics (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        reply_to -> Nullable<Text>,
        phone -> Nullable<Text>,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        clinic_id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deactivated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Text,
        account_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        account_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        clinic_id -> Text,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        invited_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        patient_id -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(accounts -> clinics (clinic_id));
diesel::joinable!(refresh_tokens -> accounts (account_id));
diesel::joinable!(password_resets -> accounts (account_id));
diesel::joinable!(invitations -> clinics (clinic_id));

diesel::table! {
    patients (id) {
        id -> Text,
        clinic_id -> Text,
        account_id -> Nullable<Text>,
        name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        date_of_birth -> Nullable<Date>,
        time_zone -> Text,
        fitzpatrick -> Nullable<Integer>,
        quiet_start -> Text,
        quiet_end -> Text,
        language -> Text,
        clinical_notes -> Nullable<Text>,
        search_text -> Text,
        archived_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    consents (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        kind -> Text,
        granted -> Bool,
        actor_account_id -> Nullable<Text>,
        actor_role -> Text,
        note -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    courses (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        concerns -> Text,
        planned_sessions -> Integer,
        interval_days -> Integer,
        status -> Text,
        notes -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    screenings (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        answers -> Text,
        outcome -> Text,
        findings -> Text,
        screened_by -> Text,
        override_by -> Nullable<Text>,
        override_reason -> Nullable<Text>,
        overridden_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        course_id -> Text,
        screening_id -> Text,
        performed_at -> Timestamp,
        clinician_id -> Text,
        device_kind -> Text,
        device_model -> Text,
        cartridge_lot -> Nullable<Text>,
        numbing -> Nullable<Text>,
        products_applied -> Text,
        erythema_grade -> Nullable<Integer>,
        pinpoint_bleeding -> Nullable<Bool>,
        notes -> Nullable<Text>,
        warnings -> Text,
        status -> Text,
        cancel_reason -> Nullable<Text>,
        cancelled_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    session_areas (id) {
        id -> Text,
        session_id -> Text,
        position -> Integer,
        area -> Text,
        depth_mm -> Double,
        passes -> Integer,
    }
}

diesel::table! {
    audit_events (clinic_id, id) {
        id -> Text,
        clinic_id -> Text,
        actor_account_id -> Nullable<Text>,
        actor_role -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        patient_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        request_hash -> Text,
        status_code -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        request_path -> Text,
    }
}

diesel::table! {
    protocols (id) {
        id -> Text,
        clinic_id -> Text,
        version -> Integer,
        steps -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    reminders (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        session_id -> Text,
        protocol_id -> Text,
        step_key -> Text,
        occurrence -> Integer,
        kind -> Text,
        planned_at -> Timestamp,
        due_at -> Timestamp,
        status -> Text,
        attempts -> Integer,
        status_reason -> Nullable<Text>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        done_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    checkins (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        session_id -> Nullable<Text>,
        redness -> Integer,
        swelling -> Integer,
        pain -> Integer,
        itch -> Integer,
        red_flags -> Text,
        note -> Nullable<Text>,
        reported_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    serum_applications (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        session_id -> Nullable<Text>,
        product -> Text,
        applied_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        session_id -> Nullable<Text>,
        severity -> Text,
        reason -> Text,
        details -> Text,
        status -> Text,
        created_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<Text>,
        resolution_note -> Nullable<Text>,
    }
}

diesel::table! {
    photos (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        session_id -> Nullable<Text>,
        time_point -> Text,
        day_number -> Nullable<Integer>,
        view -> Text,
        area -> Nullable<Text>,
        taken_at -> Timestamp,
        colour_card -> Bool,
        roi -> Nullable<Text>,
        sha256 -> Text,
        width -> Integer,
        height -> Integer,
        full_bytes -> BigInt,
        full_key -> Text,
        thumb_key -> Text,
        full_etag -> Text,
        thumb_etag -> Text,
        a_star -> Double,
        algorithm_version -> Text,
        uploaded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    scales (code, version) {
        code -> Text,
        version -> Integer,
        definition -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    scores (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        scale_code -> Text,
        scale_version -> Integer,
        value -> Double,
        item_values -> Nullable<Text>,
        photo_ids -> Text,
        session_id -> Nullable<Text>,
        time_point -> Nullable<Text>,
        rater -> Text,
        rater_account_id -> Nullable<Text>,
        algorithm_version -> Nullable<Text>,
        roi -> Nullable<Text>,
        baseline_delta -> Nullable<Double>,
        recorded_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    calendar_feeds (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        clinic_id -> Text,
        url -> Text,
        description -> Nullable<Text>,
        events -> Text,
        active -> Bool,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_expires_at -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        clinic_id -> Text,
        endpoint_id -> Text,
        event_id -> Text,
        event_type -> Text,
        patient_id -> Nullable<Text>,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        due_at -> Timestamp,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> Integer,
    }
}

diesel::table! {
    alert_notifications (id) {
        id -> Text,
        alert_id -> Text,
        clinic_id -> Text,
        account_id -> Text,
        status -> Text,
        attempts -> Integer,
        due_at -> Timestamp,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        clinic_id -> Text,
        patient_id -> Text,
        account_id -> Text,
        platform -> Text,
        token -> Text,
        app_id -> Text,
        language -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    reminder_deliveries (reminder_id, channel, target) {
        reminder_id -> Text,
        channel -> Text,
        target -> Text,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(patients -> clinics (clinic_id));
diesel::joinable!(consents -> patients (patient_id));
diesel::joinable!(courses -> patients (patient_id));
diesel::joinable!(screenings -> patients (patient_id));
diesel::joinable!(sessions -> courses (course_id));
diesel::joinable!(session_areas -> sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(
    patients,
    consents,
    courses,
    screenings,
    sessions,
    session_areas,
    audit_events,
    idempotency_keys,
    accounts,
    clinics,
    invitations,
    refresh_tokens,
    password_resets,
    protocols,
    reminders,
    checkins,
    serum_applications,
    alerts,
    photos,
    scales,
    scores,
    calendar_feeds,
    webhook_endpoints,
    webhook_deliveries,
    webhook_attempts,
    alert_notifications,
    devices,
    reminder_deliveries
);
