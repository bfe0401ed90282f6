-- ZITADEL init_02_encryption_keys: system.encryption_keys, the keys of the database key storage
-- Source: cmd/initialise/sql/07_encryption_keys_table.sql @ 07ce3b69

CREATE TABLE IF NOT EXISTS system.encryption_keys (
	id TEXT NOT NULL
	, key TEXT NOT NULL

	, PRIMARY KEY (id)
);
