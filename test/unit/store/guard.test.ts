import { describe, expect, it } from 'vitest';
import { assertDataStatement, ForbiddenStatementError } from '../../../src/store/guard.js';

describe('assertDataStatement', () => {
  it.each([
    'SELECT 1',
    '  select * from teams',
    'INSERT INTO teams (slug) VALUES ($1)',
    'update teams set role = $1', // a column named role is fine
    'DELETE FROM teams',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'VALUES (1)',
    '-- why\nSELECT 1',
    '/* why */ SELECT 1',
    "SELECT current_setting('app.tenant_id')",
  ])('accepts %j', (sql) => {
    expect(() => assertDataStatement(sql)).not.toThrow();
  });

  it.each([
    'SET ROLE postgres',
    'RESET ROLE',
    'reset all',
    'SET LOCAL app.tenant_id = $1',
    'SET SESSION AUTHORIZATION postgres',
    "SELECT set_config('role', 'postgres', true)",
    "SELECT pg_catalog.SET_CONFIG('app.tenant_id', '', false)",
    "select \"set_config\"('role', 'x', true)",
    'DO $$ BEGIN RESET ROLE; END $$',
    'CREATE FUNCTION pg_temp.f() RETURNS void AS $$ RESET ROLE $$ LANGUAGE sql',
    'ALTER TABLE teams DISABLE ROW LEVEL SECURITY',
    'COMMIT',
    'CALL p()',
    '/* a /* nested */ comment */ RESET ROLE',
    '',
    '   ',
    '(SELECT 1)',
  ])('refuses %j', (sql) => {
    expect(() => assertDataStatement(sql)).toThrow(ForbiddenStatementError);
  });
});
