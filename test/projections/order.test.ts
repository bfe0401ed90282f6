/**
 * Events are reduced in position order, compared as numbers: positions of different lengths
 * (9 < 10 < 100, 10.5 < 10.25 as text but not as numbers) and several events at one
 * position (in_tx_order), one event per batch so every batch starts from a checkpoint
 * (position, filter_offset) of the batch before. In-process, on real PostgreSQL.
 */
import * as assert from 'uvu/assert';
import pg from 'pg';
import { dbSuite, type DbCtx } from '../helpers.js';
import { Prefill, STATE_TABLES_DDL, tablesDdl } from '../../plugins/projections/prefill.js';
import type { ProjectionSpec } from '../../plugins/projections/model.js';

const t = dbSuite('projections: event order');

const log: ProjectionSpec = {
  name: 'projections.order1',
  tables: [
    {
      name: 'projections.order1',
      columns: [
        { name: 'instance_id', type: 'text' },
        { name: 'id', type: 'text' },
        { name: 'trail', type: 'text' },
        { name: 'at', type: 'timestamptz', nullable: true },
      ],
      primaryKey: ['instance_id', 'id'],
    },
  ],
  reducers: {
    thing: {
      'thing.added': (e) => ({ op: 'insert', table: 'projections.order1', row: { instance_id: e.instanceId, id: e.aggregateId, trail: String(e.sequence), at: e.createdAt } }),
      // The trail of sequences, as the events came: only the order of application decides it.
      'thing.changed': (e) => ({ op: 'update', table: 'projections.order1', key: { instance_id: e.instanceId, id: e.aggregateId }, set: { trail: `${(e.payload as { before: string }).before}`, at: e.createdAt } }),
    },
  },
};

t('events are applied by numeric position, then in_tx_order, across batches of one event', async (ctx: DbCtx) => {
  const c = new pg.Client({ connectionString: ctx.db.url });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA eventstore;
      CREATE TABLE eventstore.events2 (
        instance_id TEXT NOT NULL, aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, event_type TEXT NOT NULL,
        "sequence" BIGINT NOT NULL, revision SMALLINT NOT NULL, created_at TIMESTAMPTZ NOT NULL, payload JSONB,
        creator TEXT NOT NULL, "owner" TEXT NOT NULL, "position" DECIMAL NOT NULL, in_tx_order INTEGER NOT NULL,
        PRIMARY KEY (instance_id, aggregate_type, aggregate_id, "sequence"));
      CREATE INDEX es_projection ON eventstore.events2 (instance_id, aggregate_type, event_type, "position");`);
    // sequence -> position: 9, 10, 10, 10.25 (written 10.250), 10.5, 100. Each change writes the
    // trail it expects to extend; a wrong order leaves a different trail.
    const events: Array<[number, string, number, string]> = [
      [1, '9', 0, 'thing.added'],
      [2, '10', 0, 'thing.changed'],
      [3, '10', 1, 'thing.changed'],
      [4, '10.250', 0, 'thing.changed'],
      [5, '10.5', 0, 'thing.changed'],
      [6, '100', 0, 'thing.changed'],
    ];
    await c.query(`INSERT INTO eventstore.events2 VALUES ('i1', 'instance', 'i1', 'instance.added', 1, 1, now(), '{}', 'sys', 'i1', 1, 0)`);
    for (const [seq, pos, ord, type] of events) {
      const before = events.filter(([s]) => s <= seq).map(([s]) => s).join('>');
      // created_at to the microsecond, as Go's time.Time writes it: the rows keep every digit.
      await c.query(`INSERT INTO eventstore.events2 VALUES ('i1', 'thing', 't1', $1, $2, 1, $6::timestamptz, $3, 'sys', 'i1', $4::numeric, $5)`, [type, seq, JSON.stringify({ before }), pos, ord, `2026-12-02 10:00:0${seq}.12345${seq}+00`]);
    }
    await c.query(STATE_TABLES_DDL);
    await c.query(tablesDdl(log.tables));
    const session = {
      query: async <R>(sql: string, params?: readonly unknown[]) => (await c.query(sql, params as unknown[])).rows as R[],
      exec: async (sql: string) => void (await c.query(sql)),
    };
    const p = new Prefill(log);
    const bound = await p.bound(session);
    assert.is(bound, '100');
    assert.equal(await Prefill.instances(session, bound), ['i1']);
    let batches = 0;
    for (;;) {
      await c.query('BEGIN');
      const r = await p.batch(session, 'i1', bound, 1);
      await c.query('COMMIT');
      if (r.kind !== 'done') break;
      batches++;
      assert.ok(batches <= 6, 'one event per batch, six batches');
    }
    assert.is(batches, 6);
    const rows = (await c.query(`SELECT trail, to_char(at AT TIME ZONE 'UTC', 'SS.US') AS at FROM projections.order1`)).rows;
    assert.equal(rows, [{ trail: '1>2>3>4>5>6', at: '06.123456' }], 'applied in numeric position order, in_tx_order within one position; created_at to the microsecond');
    const cs = (await c.query(`SELECT "position"::text AS position, filter_offset, "sequence"::int AS seq, to_char(event_date AT TIME ZONE 'UTC', 'SS.US') AS at FROM projections.current_states WHERE projection_name = 'projections.order1'`)).rows;
    assert.equal(cs, [{ position: '100', filter_offset: 1, seq: 6, at: '06.123456' }]);
  } finally {
    await c.end();
  }
});

t.run();
