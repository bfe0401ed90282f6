-- ZITADEL 02_assets: system.assets, assets stored in the database (hash generated from md5(data))
-- Source: cmd/setup/02.go (const createAssets) @ 17953e90
-- IF NOT EXISTS added.

CREATE TABLE IF NOT EXISTS system.assets (
    instance_id TEXT,
    asset_type TEXT,
    resource_owner TEXT,
    name TEXT,
    content_type TEXT,
    hash TEXT GENERATED ALWAYS AS (md5(data)) STORED,
    data BYTEA,
    updated_at TIMESTAMPTZ,

    PRIMARY KEY (instance_id, resource_owner, name)
);
