-- ZITADEL setup step 01_tables: the schemas of the admin and auth API views and the
-- bookkeeping tables of their (old-style) spoolers and of the projections: locks,
-- current_sequences, failed_events; plus the auth views of that time.

-- adminapi --------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS adminapi;

CREATE TABLE IF NOT EXISTS adminapi.locks (
    locker_id    TEXT,
    locked_until TIMESTAMPTZ(3),
    view_name    TEXT,
    instance_id  TEXT NOT NULL,

    PRIMARY KEY (view_name, instance_id)
);

CREATE TABLE IF NOT EXISTS adminapi.current_sequences (
    view_name                   TEXT,
    current_sequence            BIGINT,
    event_date                  TIMESTAMPTZ,
    last_successful_spooler_run TIMESTAMPTZ,
    instance_id                 TEXT NOT NULL,

    PRIMARY KEY (view_name, instance_id)
);

CREATE TABLE IF NOT EXISTS adminapi.failed_events (
    view_name       TEXT,
    failed_sequence BIGINT,
    failure_count   SMALLINT,
    err_msg         TEXT,
    instance_id     TEXT NOT NULL,

    PRIMARY KEY (view_name, failed_sequence, instance_id)
);

CREATE TABLE IF NOT EXISTS adminapi.styling (
    aggregate_id           TEXT     NOT NULL,
    creation_date          TIMESTAMPTZ,
    change_date            TIMESTAMPTZ,
    label_policy_state     SMALLINT NOT NULL DEFAULT 0,
    "sequence"             BIGINT,
    primary_color          TEXT,
    background_color       TEXT,
    warn_color             TEXT,
    font_color             TEXT,
    primary_color_dark     TEXT,
    background_color_dark  TEXT,
    warn_color_dark        TEXT,
    font_color_dark        TEXT,
    logo_url               TEXT,
    icon_url               TEXT,
    logo_dark_url          TEXT,
    icon_dark_url          TEXT,
    font_url               TEXT,
    err_msg_popup          BOOLEAN,
    disable_watermark      BOOLEAN,
    hide_login_name_suffix BOOLEAN,
    instance_id            TEXT     NOT NULL,

    PRIMARY KEY (aggregate_id, label_policy_state, instance_id)
);

-- auth ------------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.locks (
    locker_id    TEXT,
    locked_until TIMESTAMPTZ(3),
    view_name    TEXT,
    instance_id  TEXT NOT NULL,

    PRIMARY KEY (view_name, instance_id)
);

CREATE TABLE IF NOT EXISTS auth.current_sequences (
    view_name                   TEXT,
    current_sequence            BIGINT,
    event_date                  TIMESTAMPTZ,
    last_successful_spooler_run TIMESTAMPTZ,
    instance_id                 TEXT NOT NULL,

    PRIMARY KEY (view_name, instance_id)
);

CREATE TABLE IF NOT EXISTS auth.failed_events (
    view_name       TEXT,
    failed_sequence BIGINT,
    failure_count   SMALLINT,
    err_msg         TEXT,
    instance_id     TEXT NOT NULL,

    PRIMARY KEY (view_name, failed_sequence, instance_id)
);

CREATE TABLE IF NOT EXISTS auth.users (
    id                         TEXT,
    creation_date              TIMESTAMPTZ,
    change_date                TIMESTAMPTZ,
    resource_owner             TEXT,
    user_state                 SMALLINT,
    password_set               BOOLEAN,
    password_change_required   BOOLEAN,
    password_change            TIMESTAMPTZ,
    last_login                 TIMESTAMPTZ,
    user_name                  TEXT,
    login_names                TEXT[],
    preferred_login_name       TEXT,
    first_name                 TEXT,
    last_name                  TEXT,
    nick_name                  TEXT,
    display_name               TEXT,
    preferred_language         TEXT,
    gender                     SMALLINT,
    email                      TEXT,
    is_email_verified          BOOLEAN,
    phone                      TEXT,
    is_phone_verified          BOOLEAN,
    country                    TEXT,
    locality                   TEXT,
    postal_code                TEXT,
    region                     TEXT,
    street_address             TEXT,
    otp_state                  SMALLINT,
    mfa_max_set_up             SMALLINT,
    mfa_init_skipped           TIMESTAMPTZ,
    "sequence"                 BIGINT,
    init_required              BOOLEAN,
    username_change_required   BOOLEAN,
    machine_name               TEXT,
    machine_description        TEXT,
    user_type                  TEXT,
    u2f_tokens                 BYTEA,
    passwordless_tokens        BYTEA,
    avatar_key                 TEXT,
    passwordless_init_required BOOLEAN,
    password_init_required     BOOLEAN,
    instance_id                TEXT NOT NULL,

    PRIMARY KEY (id, instance_id)
);

CREATE TABLE IF NOT EXISTS auth.user_sessions (
    creation_date                   TIMESTAMPTZ,
    change_date                     TIMESTAMPTZ,
    resource_owner                  TEXT,
    state                           SMALLINT,
    user_agent_id                   TEXT,
    user_id                         TEXT,
    user_name                       TEXT,
    password_verification           TIMESTAMPTZ,
    second_factor_verification      TIMESTAMPTZ,
    multi_factor_verification       TIMESTAMPTZ,
    "sequence"                      BIGINT,
    second_factor_verification_type SMALLINT,
    multi_factor_verification_type  SMALLINT,
    user_display_name               TEXT,
    login_name                      TEXT,
    external_login_verification     TIMESTAMPTZ,
    selected_idp_config_id          TEXT,
    passwordless_verification       TIMESTAMPTZ,
    avatar_key                      TEXT,
    instance_id                     TEXT NOT NULL,

    PRIMARY KEY (user_agent_id, user_id, instance_id)
);

CREATE TABLE IF NOT EXISTS auth.user_external_idps (
    external_user_id  TEXT NOT NULL,
    idp_config_id     TEXT NOT NULL,
    user_id           TEXT,
    idp_name          TEXT,
    user_display_name TEXT,
    creation_date     TIMESTAMPTZ,
    change_date       TIMESTAMPTZ,
    "sequence"        BIGINT,
    resource_owner    TEXT,
    instance_id       TEXT NOT NULL,

    PRIMARY KEY (external_user_id, idp_config_id, instance_id)
);

CREATE TABLE IF NOT EXISTS auth.tokens (
    id                 TEXT    NOT NULL,
    creation_date      TIMESTAMPTZ,
    change_date        TIMESTAMPTZ,
    resource_owner     TEXT,
    application_id     TEXT,
    user_agent_id      TEXT,
    user_id            TEXT,
    expiration         TIMESTAMPTZ,
    "sequence"         BIGINT,
    scopes             TEXT[],
    audience           TEXT[],
    preferred_language TEXT,
    refresh_token_id   TEXT,
    is_pat             BOOLEAN NOT NULL DEFAULT false,
    instance_id        TEXT    NOT NULL,

    PRIMARY KEY (id, instance_id)
);
-- Replaced by inst_usr_agnt_tkn_idx in 08_auth_token_indexes.
CREATE INDEX IF NOT EXISTS user_user_agent_idx ON auth.tokens (user_id, user_agent_id);

CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
    id              TEXT NOT NULL,
    creation_date   TIMESTAMPTZ,
    change_date     TIMESTAMPTZ,
    resource_owner  TEXT,
    token           TEXT,
    client_id       TEXT NOT NULL,
    user_agent_id   TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    auth_time       TIMESTAMPTZ,
    idle_expiration TIMESTAMPTZ,
    expiration      TIMESTAMPTZ,
    "sequence"      BIGINT,
    scopes          TEXT[],
    audience        TEXT[],
    amr             TEXT[],
    instance_id     TEXT NOT NULL,

    PRIMARY KEY (id, instance_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS unique_client_user_index ON auth.refresh_tokens (client_id, user_agent_id, user_id);

CREATE TABLE IF NOT EXISTS auth.org_project_mapping (
    org_id           TEXT NOT NULL,
    project_id       TEXT NOT NULL,
    project_grant_id TEXT,
    instance_id      TEXT NOT NULL,

    PRIMARY KEY (org_id, project_id, instance_id)
);

CREATE TABLE IF NOT EXISTS auth.idp_providers (
    aggregate_id      TEXT NOT NULL,
    idp_config_id     TEXT NOT NULL,
    creation_date     TIMESTAMPTZ,
    change_date       TIMESTAMPTZ,
    "sequence"        BIGINT,
    name              TEXT,
    idp_config_type   SMALLINT,
    idp_provider_type SMALLINT,
    idp_state         SMALLINT,
    styling_type      SMALLINT,
    instance_id       TEXT NOT NULL,

    PRIMARY KEY (aggregate_id, idp_config_id, instance_id)
);

CREATE TABLE IF NOT EXISTS auth.idp_configs (
    idp_config_id                 TEXT NOT NULL,
    creation_date                 TIMESTAMPTZ,
    change_date                   TIMESTAMPTZ,
    "sequence"                    BIGINT,
    aggregate_id                  TEXT,
    name                          TEXT,
    idp_state                     SMALLINT,
    idp_provider_type             SMALLINT,
    is_oidc                       BOOLEAN,
    oidc_client_id                TEXT,
    oidc_client_secret            JSONB,
    oidc_issuer                   TEXT,
    oidc_scopes                   TEXT[],
    oidc_idp_display_name_mapping SMALLINT,
    oidc_idp_username_mapping     SMALLINT,
    styling_type                  SMALLINT,
    oauth_authorization_endpoint  TEXT,
    oauth_token_endpoint          TEXT,
    auto_register                 BOOLEAN,
    jwt_endpoint                  TEXT,
    jwt_keys_endpoint             TEXT,
    jwt_header_name               TEXT,
    instance_id                   TEXT NOT NULL,

    PRIMARY KEY (idp_config_id, instance_id)
);

CREATE TABLE IF NOT EXISTS auth.auth_requests (
    id            TEXT NOT NULL,
    request       JSONB,
    code          TEXT,
    request_type  SMALLINT,
    creation_date TIMESTAMPTZ,
    change_date   TIMESTAMPTZ,
    instance_id   TEXT NOT NULL,

    PRIMARY KEY (id, instance_id)
);
CREATE INDEX IF NOT EXISTS auth_code_idx ON auth.auth_requests (code);

-- projections (the schema comes from init) -----------------------------------------
CREATE TABLE IF NOT EXISTS projections.locks (
    locker_id       TEXT,
    locked_until    TIMESTAMPTZ(3),
    projection_name TEXT,
    instance_id     TEXT NOT NULL,

    PRIMARY KEY (projection_name, instance_id)
);

CREATE TABLE IF NOT EXISTS projections.current_sequences (
    projection_name  TEXT,
    aggregate_type   TEXT,
    current_sequence BIGINT,
    instance_id      TEXT NOT NULL,
    "timestamp"      TIMESTAMPTZ,

    PRIMARY KEY (projection_name, aggregate_type, instance_id)
);

CREATE TABLE IF NOT EXISTS projections.failed_events (
    projection_name TEXT,
    failed_sequence BIGINT,
    failure_count   SMALLINT,
    error           TEXT,
    instance_id     TEXT NOT NULL,

    PRIMARY KEY (projection_name, failed_sequence, instance_id)
);
