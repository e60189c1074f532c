//! The tables, in the common SQL types both backends share: ids as `Text`, instants as
//! `Timestamp` (UTC, microseconds), JSON documents as `Text`.

diesel::table! {
    clinics (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
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
    }
}

diesel::joinable!(accounts -> clinics (clinic_id));
diesel::joinable!(refresh_tokens -> accounts (account_id));
diesel::joinable!(invitations -> clinics (clinic_id));

diesel::allow_tables_to_appear_in_same_query!(clinics, accounts, refresh_tokens, invitations);
