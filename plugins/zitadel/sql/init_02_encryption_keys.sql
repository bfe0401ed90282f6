-- ZITADEL `init`: keys of the encryption key storage kept in the database.
CREATE TABLE IF NOT EXISTS system.encryption_keys (
    id    TEXT NOT NULL,
    "key" TEXT NOT NULL,

    PRIMARY KEY (id)
);
