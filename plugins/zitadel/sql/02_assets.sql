-- ZITADEL setup step 02_assets: assets (logos, icons, fonts, avatars) stored in the
-- database; hash is computed from the data.
CREATE TABLE IF NOT EXISTS system.assets (
    instance_id    TEXT,
    asset_type     TEXT,
    resource_owner TEXT,
    name           TEXT,
    content_type   TEXT,
    hash           TEXT GENERATED ALWAYS AS (md5(data)) STORED,
    data           BYTEA,
    updated_at     TIMESTAMPTZ,

    PRIMARY KEY (instance_id, resource_owner, name)
);
