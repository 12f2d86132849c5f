/**
 * Turns zod issues into one-line messages an operator can act on: the path, what the schema
 * expected (read from the schema itself, so "an integer between 1 and 1000000" stays true when
 * the schema changes) and what the file said — except where the value may be a secret.
 */
import { z } from 'zod';
import type { PathSegment } from './errors.js';

export interface RawIssue {
  path: PathSegment[];
  message: string;
}

/**
 * Path segments under which a value may be a credential. A wrong value there is described by
 * its type only, never quoted (a literal secret must not end up in a log via an error).
 */
const SECRET_SEGMENTS = new Set<PathSegment>(['apiKey', 'value', 'key', 'databaseUrl', 'accessKeyId', 'secretAccessKey', 'sessionToken']);

export function isSecretPath(path: readonly PathSegment[]): boolean {
  return path.some((seg) => SECRET_SEGMENTS.has(seg));
}

/** Converts one zod issue (parsed with `reportInput: true`) into one or more messages. */
export function convertIssue(root: z.ZodType, issue: z.core.$ZodIssue, out: RawIssue[], prefix: PathSegment[] = []): void {
  const path = [...prefix, ...toSegments(issue.path)];
  const input: unknown = issue.input;
  const expected = describe(schemaAt(root, path));
  const push = (message: string, at: PathSegment[] = path): void => {
    out.push({ path: at, message });
  };
  const expectedGot = (what: string): string =>
    input === undefined ? `missing; expected ${what}` : `expected ${what}, got ${show(input, isSecretPath(path))}`;

  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = objectKeys(schemaAt(root, path));
      for (const key of issue.keys) push(`unknown key "${key}"${suggest(key, allowed)}`, [...path, key]);
      return;
    }
    case 'invalid_union': {
      // A branch whose every issue points deeper than the union itself is the one the input was
      // shaped like (e.g. a list with one bad element): report its issues, not "no branch matched".
      const deep = issue.errors.find((branch) => branch.length > 0 && branch.every((i) => i.path.length > 0));
      if (deep) {
        for (const sub of deep) convertIssue(root, sub, out, path);
        return;
      }
      push(expectedGot(expected ?? 'a valid value'));
      return;
    }
    case 'invalid_type':
      push(expectedGot(expected ?? withArticle(issue.expected)));
      return;
    case 'too_small':
    case 'too_big': {
      const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const word = issue.code === 'too_small' ? 'at least' : 'at most';
      if (issue.origin === 'string' && typeof input === 'string') {
        push(`expected ${word} ${plural(bound, 'character')}, got ${input.length}`);
      } else if (issue.origin === 'array' && Array.isArray(input)) {
        push(`expected ${word} ${plural(bound, 'item')}, got ${input.length}`);
      } else {
        push(expectedGot(expected ?? `a number ${issue.code === 'too_small' ? '≥' : '≤'} ${bound}`));
      }
      return;
    }
    case 'invalid_format':
    case 'invalid_value':
      push(expectedGot(expected ?? issue.message));
      return;
    default:
      push(input === undefined ? issue.message : `${issue.message}, got ${show(input, isSecretPath(path))}`);
  }
}

function toSegments(path: readonly PropertyKey[]): PathSegment[] {
  return path.map((seg) => (typeof seg === 'symbol' ? String(seg) : seg));
}

/** A short, safe rendering of a value from the file. */
export function show(value: unknown, secret: boolean): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return secret ? 'a date' : value.toISOString();
  switch (typeof value) {
    case 'string':
      if (secret) return 'a string';
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
    case 'number':
    case 'boolean':
      return secret ? `a ${typeof value}` : String(value);
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
}

function withArticle(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Strips the wrappers that do not change what a value must look like. */
function unwrap(schema: z.ZodType): z.ZodType {
  let cur = schema;
  for (;;) {
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional || cur instanceof z.ZodNullable) {
      cur = cur.unwrap() as z.ZodType;
    } else if (cur instanceof z.ZodPipe) {
      cur = cur.in as z.ZodType;
    } else {
      return cur;
    }
  }
}

/** The schema that validates the value at `path`, if the path leads anywhere. */
function schemaAt(root: z.ZodType, path: readonly PathSegment[]): z.ZodType | undefined {
  let cur: z.ZodType | undefined = root;
  for (const seg of path) {
    if (!cur) return undefined;
    cur = childOf(cur, seg);
  }
  return cur;
}

function childOf(schema: z.ZodType, seg: PathSegment): z.ZodType | undefined {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject && typeof seg === 'string') return (s.shape as Record<string, z.ZodType>)[seg];
  if (s instanceof z.ZodArray && typeof seg === 'number') return s.element as z.ZodType;
  if (s instanceof z.ZodUnion) {
    for (const option of s.options as readonly z.ZodType[]) {
      const found = childOf(option, seg);
      if (found) return found;
    }
  }
  return undefined;
}

function objectKeys(schema: z.ZodType | undefined): string[] {
  if (!schema) return [];
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) return Object.keys(s.shape as Record<string, unknown>);
  if (s instanceof z.ZodUnion) return (s.options as readonly z.ZodType[]).flatMap((o) => objectKeys(o));
  return [];
}

/** Plain-words description of what a schema accepts. */
function describe(schema: z.ZodType | undefined): string | undefined {
  if (!schema) return undefined;
  const own = z.globalRegistry.get(schema)?.description;
  if (own) return own;
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) {
    return describe(schema.unwrap() as z.ZodType);
  }
  if (schema instanceof z.ZodPipe) return describe(schema.in as z.ZodType);
  if (schema instanceof z.ZodNumber) return describeNumber(schema);
  if (schema instanceof z.ZodURL) return 'an http(s) URL';
  if (schema instanceof z.ZodString) return (schema.minLength ?? 0) > 0 ? 'a non-empty string' : 'a string';
  if (schema instanceof z.ZodBoolean) return 'true or false';
  if (schema instanceof z.ZodEnum) return `one of ${schema.options.map((o) => JSON.stringify(o)).join(', ')}`;
  if (schema instanceof z.ZodLiteral) return [...schema.values].map((v) => JSON.stringify(v)).join(' or ');
  if (schema instanceof z.ZodObject) return 'a mapping';
  if (schema instanceof z.ZodArray) return 'a list';
  if (schema instanceof z.ZodUnion) {
    const parts = (schema.options as readonly z.ZodType[]).map((o) => describe(o) ?? 'a valid value');
    return parts.join(' or ');
  }
  return undefined;
}

function describeNumber(schema: z.ZodNumber): string {
  const noun = schema.isInt ? 'an integer' : 'a number';
  // z.int() carries the safe-integer limits; those are not worth printing.
  const min = schema.minValue !== null && Math.abs(schema.minValue) < 1e15 ? schema.minValue : null;
  const max = schema.maxValue !== null && Math.abs(schema.maxValue) < 1e15 ? schema.maxValue : null;
  if (min !== null && max !== null) return `${noun} between ${min} and ${max}`;
  if (min !== null) return `${noun} ≥ ${min}`;
  if (max !== null) return `${noun} ≤ ${max}`;
  return noun;
}

/** ` (did you mean "x"?)` for a near miss, else the list of allowed keys. */
function suggest(key: string, allowed: readonly string[]): string {
  if (allowed.length === 0) return '';
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 4))) return ` (did you mean "${best}"?)`;
  return `; allowed keys: ${[...new Set(allowed)].join(', ')}`;
}

/** Edit distance counting a swap of neighbours as one edit ("hots" → "host"); keys are short. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] ?? [];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}
