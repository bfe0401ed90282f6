-- ZITADEL `init`: the sequence ZITADEL draws system-wide numbers from.
CREATE SEQUENCE IF NOT EXISTS eventstore.system_seq;
