-- ZITADEL setup step 06_resource_owner_columns: new versions of the admin and auth views
-- with an owner_removed flag (set when the owning organisation is removed) and the
-- instance first in the primary key. Index names are unique per schema, so each table's
-- index carries a prefix.

CREATE TABLE IF NOT EXISTS adminapi.styling2 (
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
    owner_removed          BOOLEAN  DEFAULT false,

    PRIMARY KEY (instance_id, aggregate_id, label_policy_state)
);
CREATE INDEX IF NOT EXISTS st2_owner_removed_idx ON adminapi.styling2 (owner_removed);

CREATE TABLE IF NOT EXISTS auth.users2 (
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
    instance_id                TEXT    NOT NULL,
    owner_removed              BOOLEAN DEFAULT false,

    PRIMARY KEY (instance_id, id)
);
CREATE INDEX IF NOT EXISTS u2_owner_removed_idx ON auth.users2 (owner_removed);

CREATE TABLE IF NOT EXISTS auth.user_external_idps2 (
    external_user_id  TEXT    NOT NULL,
    idp_config_id     TEXT    NOT NULL,
    user_id           TEXT,
    idp_name          TEXT,
    user_display_name TEXT,
    creation_date     TIMESTAMPTZ,
    change_date       TIMESTAMPTZ,
    "sequence"        BIGINT,
    resource_owner    TEXT,
    instance_id       TEXT    NOT NULL,
    owner_removed     BOOLEAN DEFAULT false,

    PRIMARY KEY (instance_id, external_user_id, idp_config_id)
);
CREATE INDEX IF NOT EXISTS ext_idps2_owner_removed_idx ON auth.user_external_idps2 (owner_removed);

CREATE TABLE IF NOT EXISTS auth.org_project_mapping2 (
    org_id           TEXT    NOT NULL,
    project_id       TEXT    NOT NULL,
    project_grant_id TEXT,
    instance_id      TEXT    NOT NULL,
    owner_removed    BOOLEAN DEFAULT false,

    PRIMARY KEY (instance_id, org_id, project_id)
);
CREATE INDEX IF NOT EXISTS org_proj_m2_owner_removed_idx ON auth.org_project_mapping2 (owner_removed);

CREATE TABLE IF NOT EXISTS auth.idp_providers2 (
    aggregate_id      TEXT    NOT NULL,
    idp_config_id     TEXT    NOT NULL,
    creation_date     TIMESTAMPTZ,
    change_date       TIMESTAMPTZ,
    "sequence"        BIGINT,
    name              TEXT,
    idp_config_type   SMALLINT,
    idp_provider_type SMALLINT,
    idp_state         SMALLINT,
    styling_type      SMALLINT,
    instance_id       TEXT    NOT NULL,
    owner_removed     BOOLEAN DEFAULT false,

    PRIMARY KEY (instance_id, aggregate_id, idp_config_id)
);
CREATE INDEX IF NOT EXISTS idp_prov2_owner_removed_idx ON auth.idp_providers2 (owner_removed);

CREATE TABLE IF NOT EXISTS auth.idp_configs2 (
    idp_config_id                 TEXT    NOT NULL,
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
    instance_id                   TEXT    NOT NULL,
    owner_removed                 BOOLEAN DEFAULT false,

    PRIMARY KEY (instance_id, idp_config_id)
);
CREATE INDEX IF NOT EXISTS idp_conf2_owner_removed_idx ON auth.idp_configs2 (owner_removed);
