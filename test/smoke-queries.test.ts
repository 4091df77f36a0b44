/**
 * The runbook's smoke queries (src/providers/database/restore.ts, smokeTest) on the local PostgreSQL:
 * each runs read-only and under a statement timeout, so a query that would write, or that hangs (stuck
 * behind a lock on the live database), is a problem naming the query, not a change or a stuck step.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConnection } from '../src/providers/database/pg-tools.ts';
import { smokeTest } from '../src/providers/database/restore.ts';
import { POSTGRES } from './harness.ts';

const conn = parseConnection(`${POSTGRES}/postgres`);

describe('smoke queries', () => {
  test('a passing query, a wrong answer, a write and a query past its timeout: one problem each, named', async () => {
    const start = performance.now();
    const { problems } = await smokeTest(
      conn,
      'postgres',
      [
        { name: 'answers', sql: 'SELECT 1 AS one', expect: { one: 1 } },
        { name: 'wrong', sql: 'SELECT 2 AS one', expect: { one: 1 } },
        { name: 'writes', sql: 'CREATE TABLE smoke_must_not_exist (id int)' },
        { name: 'hangs', sql: 'SELECT pg_sleep(30)' },
      ],
      300,
    );
    assert.deepEqual(problems, [
      'smoke query wrong: expected {"one":"1"}, got {"one":"2"}',
      'smoke query writes failed: cannot execute CREATE TABLE in a read-only transaction',
      'smoke query hangs failed: canceling statement due to statement timeout',
    ]);
    assert.ok(performance.now() - start < 10_000, 'the hanging query was cut off at its timeout, not waited for');
  });
});
