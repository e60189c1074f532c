-- Calendar subscriptions: one secret URL per patient; only its hash is kept. Rotating revokes
-- the previous one.
CREATE TABLE calendar_feeds (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX calendar_feeds_patient_idx ON calendar_feeds (patient_id, revoked_at);

-- Webhook endpoints of a clinic. The signing secret is needed to sign, so it is stored; after
-- a rotation the previous one keeps signing beside the new one until previous_expires_at.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    url TEXT NOT NULL,
    description TEXT,
    events TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_expires_at TIMESTAMP,
    created_by TEXT REFERENCES accounts(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_clinic_idx ON webhook_endpoints (clinic_id, id);

-- One row per (event, endpoint): claimed with a lease like reminders (status 'sending', due_at
-- moved to the lease's end), retried with backoff, kept as the delivery log.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    patient_id TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, due_at);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at);
CREATE INDEX webhook_deliveries_patient_idx ON webhook_deliveries (patient_id);

-- Each attempt of a delivery: when, how long, what the receiver answered.
CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempted_at);
