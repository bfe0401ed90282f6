-- ZITADEL 62_http_provider_add_signing_key: signing_key on the HTTP SMS and SMTP provider tables (no-op until those projections exist)
-- Source: cmd/setup/62.go (HTTPProviderAddSigningKey), cmd/setup/62.sql @ 89ad958
ALTER TABLE IF EXISTS projections.sms_configs3_http ADD COLUMN IF NOT EXISTS signing_key TEXT NULL;
ALTER TABLE IF EXISTS projections.smtp_configs5_http ADD COLUMN IF NOT EXISTS signing_key TEXT NULL;
