-- ZITADEL 66_session_recovery_code_checked_at: column mfa_recovery_code_checked_at (TIMESTAMPTZ) on projections.sessions8
-- Source: zitadel/zitadel cmd/setup/66.go @ b1285351 (embeds 66.sql); the statement is the one first shipped as 57.sql (57_session_recovery_code_checked_at, index text). The 66.sql files the index stores (@ 21eab478, a046e009) are an unrelated service-ping step of another branch.
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables.
ALTER TABLE IF EXISTS projections.sessions8
ADD COLUMN IF NOT EXISTS mfa_recovery_code_checked_at TIMESTAMPTZ;
