-- ZITADEL 20_add_by_user_index_on_session: index user_sessions_by_user on auth.user_sessions (CONCURRENTLY)
-- Source: cmd/setup/20.go, 20.sql @ 43f1d596
-- CONCURRENTLY: the step runs with transaction: false.

CREATE INDEX CONCURRENTLY IF NOT EXISTS user_sessions_by_user ON auth.user_sessions (instance_id, user_id);
