/**
 * Environment variables that override the configuration file. They are applied to the raw
 * document *before* schema validation, so a variable gets exactly the same checks as the file
 * key it replaces, and an error in it names the variable (the operator has no file line to fix).
 */
import type { ConfigIssue, PathSegment } from './errors.js';

type EnvKind = 'string' | 'integer' | 'boolean';

interface EnvOverride {
  variable: string;
  path: readonly PathSegment[];
  kind: EnvKind;
  /** Documentation for `--help` output and the example file. */
  description: string;
}

export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { variable: 'GATEHOUSE_PORT', path: ['server', 'port'], kind: 'integer', description: 'listen port' },
  { variable: 'GATEHOUSE_HOST', path: ['server', 'host'], kind: 'string', description: 'listen address' },
  { variable: 'GATEHOUSE_DATA_DIR', path: ['dataDir'], kind: 'string', description: 'data directory' },
  { variable: 'DATABASE_URL', path: ['databaseUrl'], kind: 'string', description: 'PostgreSQL URL' },
  { variable: 'REDIS_URL', path: ['limits', 'redisUrl'], kind: 'string', description: 'Redis URL for shared limit counters' },
  { variable: 'GATEHOUSE_LOG_LEVEL', path: ['logLevel'], kind: 'string', description: 'log level' },
  { variable: 'GATEHOUSE_MAX_BODY_BYTES', path: ['server', 'maxBodyBytes'], kind: 'integer', description: 'request body limit' },
  {
    variable: 'GATEHOUSE_REQUEST_TIMEOUT_MS',
    path: ['server', 'requestTimeoutMs'],
    kind: 'integer',
    description: 'whole-request deadline',
  },
  {
    variable: 'GATEHOUSE_SHUTDOWN_GRACE_MS',
    path: ['server', 'shutdownGraceMs'],
    kind: 'integer',
    description: 'drain time after SIGTERM',
  },
  { variable: 'GATEHOUSE_DEMO', path: ['demo', 'enabled'], kind: 'boolean', description: '0/false disables the demo tenant' },
  { variable: 'GATEHOUSE_DEMO_KEY', path: ['demo', 'key'], kind: 'string', description: 'API key of the demo tenant' },
];

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

export interface EnvResult {
  /** Overridden path (formatted as a key) → variable name, to attribute validation errors. */
  applied: Map<string, string>;
  issues: ConfigIssue[];
}

export function pathKey(path: readonly PathSegment[]): string {
  return JSON.stringify(path);
}

/**
 * Writes the overrides into `doc` (the parsed file, mutated in place). An empty variable counts
 * as unset, the usual convention for `FOO= command` and compose files with blank entries.
 */
export function applyEnvOverrides(doc: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvResult {
  const applied = new Map<string, string>();
  const issues: ConfigIssue[] = [];
  for (const o of ENV_OVERRIDES) {
    const raw = env[o.variable];
    if (raw === undefined || raw === '') continue;
    const parsed = parseEnvValue(o, raw);
    if (!parsed.ok) {
      issues.push({ origin: { kind: 'env', variable: o.variable }, path: '', message: parsed.message });
      continue;
    }
    if (setIn(doc, o.path, parsed.value)) applied.set(pathKey(o.path), o.variable);
  }
  return { applied, issues };
}

type Parsed = { ok: true; value: string | number | boolean } | { ok: false; message: string };

function parseEnvValue(o: EnvOverride, raw: string): Parsed {
  switch (o.kind) {
    case 'string':
      return { ok: true, value: raw };
    case 'integer': {
      // Strict on purpose: Number('80a') is NaN but parseInt('80a') is 80, and Number('') is 0.
      const value = Number(raw);
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) {
        return { ok: false, message: `expected a non-negative integer, got ${JSON.stringify(raw)}` };
      }
      return { ok: true, value };
    }
    case 'boolean': {
      const v = raw.trim().toLowerCase();
      if (TRUE.has(v)) return { ok: true, value: true };
      if (FALSE.has(v)) return { ok: true, value: false };
      return { ok: false, message: `expected 1/true/yes/on or 0/false/no/off, got ${JSON.stringify(raw)}` };
    }
  }
}

/**
 * Sets `doc[path]`, creating missing parent mappings. Returns false when a parent exists but is
 * not a mapping: the schema then reports that parent against the file, which is the real error.
 */
function setIn(doc: Record<string, unknown>, path: readonly PathSegment[], value: unknown): boolean {
  let cur: Record<string, unknown> = doc;
  for (const [i, seg] of path.entries()) {
    const key = String(seg);
    if (i === path.length - 1) {
      cur[key] = value;
      return true;
    }
    const next = cur[key];
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      cur[key] = created;
      cur = created;
    } else if (isPlainObject(next)) {
      cur = next;
    } else {
      return false;
    }
  }
  return false;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
