-- ZITADEL 24_add_actor_col_to_auth_tokens: column actor on auth.tokens and auth.refresh_tokens
-- Source: cmd/setup/24.go, 24.sql @ 6398349c
-- IF NOT EXISTS added.

ALTER TABLE auth.tokens ADD COLUMN IF NOT EXISTS actor jsonb;
ALTER TABLE auth.refresh_tokens ADD COLUMN IF NOT EXISTS actor jsonb;
