#!/usr/bin/env node
/**
 * A deterministic generator of ZITADEL's legacy event table `eventstore.events`, the layout
 * before events2 (cmd/initialise/sql/postgres/08_events_table.sql before ZITADEL #5940): what
 * step 14_events_push moves.
 *
 *   node scripts/zitadel-legacy-events.mjs --url postgres://... --events 2000000 --instances 100 --seed 1
 *
 * As a module: `await generateLegacyEvents(client, { events, instances, seed })` with a
 * connected `pg` client: creates `eventstore.events` with ZITADEL's legacy DDL (indexes and
 * constraints included) when missing and fills it; returns `{ events }`.
 *
 * The rows are the events of scripts/zitadel-events.mjs (same seed, same commands), in the
 * legacy shape: `event_sequence` counts per instance in push order (the legacy sequence was
 * global per instance), `aggregate_version` is `v<revision>`, `previous_aggregate_sequence`
 * and `previous_aggregate_type_sequence` point at the aggregate's and the aggregate type's
 * event before (NULL for the first), `editor_service` is what ZITADEL's services wrote.
 * Rows are inserted in push order over all instances (creation date, then each instance's
 * sequence), as ZITADEL appended them: the heap interleaves instances, as in production.
 */
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { generateEvents } from './zitadel-events.mjs';

/** ZITADEL's legacy events table (postgres), as its init created it before events2. */
export function legacyEventsDdl() {
  return `CREATE SCHEMA IF NOT EXISTS eventstore;
CREATE TABLE IF NOT EXISTS eventstore.events (
	id UUID DEFAULT gen_random_uuid()
	, event_type TEXT NOT NULL
	, aggregate_type TEXT NOT NULL
	, aggregate_id TEXT NOT NULL
	, aggregate_version TEXT NOT NULL
	, event_sequence BIGINT NOT NULL
	, previous_aggregate_sequence BIGINT
	, previous_aggregate_type_sequence INT8
	, creation_date TIMESTAMPTZ NOT NULL DEFAULT now()
	, event_data JSONB
	, editor_user TEXT NOT NULL
	, editor_service TEXT NOT NULL
	, resource_owner TEXT NOT NULL
	, instance_id TEXT NOT NULL
	, PRIMARY KEY (event_sequence, instance_id)
	, CONSTRAINT previous_sequence_unique UNIQUE(previous_aggregate_sequence, instance_id)
	, CONSTRAINT prev_agg_type_seq_unique UNIQUE(previous_aggregate_type_sequence, instance_id)
);
CREATE INDEX IF NOT EXISTS agg_type_agg_id ON eventstore.events (aggregate_type, aggregate_id, instance_id);
CREATE INDEX IF NOT EXISTS agg_type ON eventstore.events (aggregate_type, instance_id);
CREATE INDEX IF NOT EXISTS agg_type_seq ON eventstore.events (aggregate_type, event_sequence DESC, instance_id);
CREATE INDEX IF NOT EXISTS max_sequence ON eventstore.events (aggregate_type, aggregate_id, event_sequence DESC, instance_id);`;
}

/** Fill eventstore.events with about `events` legacy rows (deterministic for a seed). */
export async function generateLegacyEvents(client, { events, instances, seed = 1 }) {
  const tmp = `zs_legacy_gen_${process.pid}`;
  await client.query(`DROP SCHEMA IF EXISTS ${tmp} CASCADE; CREATE SCHEMA ${tmp};
    CREATE TABLE ${tmp}.events2 (instance_id TEXT NOT NULL, aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, event_type TEXT NOT NULL,
      "sequence" BIGINT NOT NULL, revision SMALLINT NOT NULL, created_at TIMESTAMPTZ NOT NULL, payload JSONB, creator TEXT NOT NULL, "owner" TEXT NOT NULL,
      "position" DECIMAL NOT NULL, in_tx_order INTEGER NOT NULL)`);
  try {
    await generateEvents(client, { events, instances, seed, schema: tmp });
    await client.query(legacyEventsDdl());
    // No indexes while filling (as a restore would): built after, like the table had them.
    const r = await client.query(`WITH ordered AS (
        SELECT e.*, row_number() OVER (PARTITION BY instance_id ORDER BY "position", in_tx_order, aggregate_type, aggregate_id, "sequence") AS seq
          FROM ${tmp}.events2 e)
      INSERT INTO eventstore.events (id, event_type, aggregate_type, aggregate_id, aggregate_version, event_sequence, previous_aggregate_sequence,
                                     previous_aggregate_type_sequence, creation_date, event_data, editor_user, editor_service, resource_owner, instance_id)
      SELECT md5(instance_id || ':' || seq)::uuid, event_type, aggregate_type, aggregate_id, 'v' || revision, seq,
             lag(seq) OVER (PARTITION BY instance_id, aggregate_type, aggregate_id ORDER BY seq),
             lag(seq) OVER (PARTITION BY instance_id, aggregate_type ORDER BY seq),
             created_at, payload, creator, CASE WHEN event_type LIKE 'user.%' THEN 'MANAGEMENT-API' ELSE 'SYSTEM' END, "owner", instance_id
        FROM ordered ORDER BY created_at, instance_id, seq`);
    return { events: r.rowCount };
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${tmp} CASCADE`);
  }
}

async function main() {
  const arg = (n, d) => {
    const i = process.argv.indexOf(n);
    return i >= 0 ? process.argv[i + 1] : d;
  };
  const url = arg('--url');
  if (!url) {
    console.error('usage: node scripts/zitadel-legacy-events.mjs --url postgres://... [--events 2000000] [--instances 100] [--seed 1]');
    process.exit(2);
  }
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const t0 = Date.now();
    const r = await generateLegacyEvents(c, { events: Number(arg('--events', 2_000_000)), instances: Number(arg('--instances', 100)), seed: Number(arg('--seed', 1)) });
    console.log(`${r.events} legacy events in eventstore.events in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await c.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
