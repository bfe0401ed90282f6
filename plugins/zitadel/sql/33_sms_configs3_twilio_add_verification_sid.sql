-- ZITADEL 33_sms_configs3_twilio_add_verification_sid: column verify_service_sid (TEXT) on projections.sms_configs3_twilio
-- Source: zitadel/zitadel cmd/setup/33.go (SMSConfigs3TwilioAddVerifyServiceSid), cmd/setup/33.sql as in Tualua/zitadel-ldapfix @ 5bf0840e (copy of main, 2025-08-28); the zitadel/zitadel index holds only an older 33.sql (sms_configs2_twilio, TEXT NOT NULL)
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables.
ALTER TABLE IF EXISTS projections.sms_configs3_twilio ADD COLUMN IF NOT EXISTS verify_service_sid TEXT;
