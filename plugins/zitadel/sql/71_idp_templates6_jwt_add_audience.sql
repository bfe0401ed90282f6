-- ZITADEL 71_idp_templates6_jwt_add_audience: column audience (text) on projections.idp_templates6_jwt
-- Source: zitadel/zitadel cmd/setup/71.go (JWTProvideAddAudienceColumn), cmd/setup/71.sql @ 999e2bbc (the 71.go/71.sql @ 7b5f512c are another branch's lockout-policy step)
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables.
ALTER TABLE IF EXISTS projections.idp_templates6_jwt
ADD COLUMN IF NOT EXISTS audience text;
