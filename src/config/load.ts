/**
 * Loads the configuration: YAML file (named by GATEHOUSE_CONFIG) → environment overrides →
 * schema → secrets → cross-references → resolved deployments. Every problem found is collected
 * and thrown as one ConfigError, each line naming the file and path (or the variable).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';
import { applyEnvOverrides, isPlainObject, pathKey } from './env.js';
import { ConfigError, formatPath } from './errors.js';
import type { ConfigIssue, ConfigOrigin, PathSegment } from './errors.js';
import { convertIssue } from './issues.js';
import { checkPlans } from './plans.js';
import type { RawIssue } from './issues.js';
import { resolveDeployments, resolveProviders } from './resolve.js';
import { checkRouting } from './routing.js';
import type { Report } from './resolve.js';
import { configSchema } from './schema.js';
import type { SecretRef } from './schema.js';
import { describeFsError, resolveSecret } from './secrets.js';
import { keyNamedByValue, resolveTenants } from './tenants.js';
import type { LoadedConfig, ResolvedAwsCredentials } from './types.js';

export interface LoadConfigOptions {
  /** Defaults to process.env. Tests pass their own instead of mutating the global one. */
  env?: NodeJS.ProcessEnv;
  /** Base for a relative GATEHOUSE_CONFIG and for relative paths given by env or defaults. */
  cwd?: string;
}

interface Source {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

export async function loadConfig(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const named = env.GATEHOUSE_CONFIG;
  const source = named ? await readSource(path.resolve(cwd, named)) : undefined;

  const raw = source ? toPlain(source) : {};
  const fileSetsDataDir = isPlainObject(raw) && raw.dataDir !== undefined;
  const overrides = isPlainObject(raw) ? applyEnvOverrides(raw, env) : { applied: new Map<string, string>(), issues: [] };

  const originOf = (p: readonly PathSegment[]): ConfigOrigin => {
    for (let n = p.length; n > 0; n--) {
      const variable = overrides.applied.get(pathKey(p.slice(0, n)));
      if (variable !== undefined) return { kind: 'env', variable };
    }
    return source ? { kind: 'file', file: source.file, ...positionOf(source, p) } : { kind: 'default' };
  };
  const issues: ConfigIssue[] = [...overrides.issues];
  const toIssue = ({ path: p, message }: RawIssue): ConfigIssue => ({ origin: originOf(p), path: formatPath(p), message });
  const report: Report = (p, message) => issues.push(toIssue({ path: p, message }));

  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const raws: RawIssue[] = [];
    for (const issue of parsed.error.issues) convertIssue(configSchema, issue, raws);
    issues.push(...raws.map(toIssue));
  }
  if (!parsed.success || issues.length > 0) throw new ConfigError(issues);
  const config = parsed.data;

  // Relative secret files and paths in a file are relative to that file, so a config directory
  // can be moved (or mounted) as a whole; the cwd is only the base for env and defaults.
  const baseDir = source ? path.dirname(source.file) : cwd;
  const secret = async (ref: SecretRef | undefined, at: PathSegment[]): Promise<string | undefined> => {
    if (ref === undefined) return undefined;
    const result = await resolveSecret(ref, env, baseDir);
    if (result.ok) return result.value;
    report(at, result.message);
    return undefined;
  };

  const providerKeys = new Map<number, string>();
  for (const [i, p] of config.providers.entries()) {
    const value = await secret(p.apiKey, ['providers', i, 'apiKey']);
    if (value !== undefined) providerKeys.set(i, value);
  }
  const providerAws = new Map<number, ResolvedAwsCredentials>();
  for (const [i, p] of config.providers.entries()) {
    if (p.aws === undefined) continue;
    const at = (key: string): PathSegment[] => ['providers', i, 'aws', key];
    const accessKeyId = await secret(p.aws.accessKeyId, at('accessKeyId'));
    const secretAccessKey = await secret(p.aws.secretAccessKey, at('secretAccessKey'));
    const sessionToken = await secret(p.aws.sessionToken, at('sessionToken'));
    if (accessKeyId === undefined || secretAccessKey === undefined) continue;
    const aws: ResolvedAwsCredentials = { accessKeyId, secretAccessKey };
    if (sessionToken !== undefined) aws.sessionToken = sessionToken;
    if (p.aws.region !== undefined) aws.region = p.aws.region;
    providerAws.set(i, aws);
  }
  const keyValues = new Map<string, string>();
  for (const [ti, t] of config.tenants.entries()) {
    for (const [ki, k] of t.keys.entries()) {
      const value = await secret(k.value, ['tenants', ti, 'keys', ki, 'value']);
      if (value !== undefined) keyValues.set(`${ti}/${ki}`, value);
    }
  }
  // A disabled demo must not demand its key's variable or file (GATEHOUSE_DEMO=0 in production).
  const demoKey = config.demo.enabled ? await secret(config.demo.key, ['demo', 'key']) : undefined;

  const providers = resolveProviders(config, providerKeys, report, providerAws);
  const deployments = resolveDeployments(config, providers, Math.floor(Date.now() / 1000), report);
  checkPlans(config, deployments, report);
  checkRouting(config.routing, deployments, report);
  const tenants = resolveTenants(config, deployments, keyValues, report);
  if (demoKey !== undefined) {
    const clash = keyNamedByValue(tenants, demoKey);
    if (clash) report(['demo', 'key'], `same key value as ${clash}; every key must be unique`);
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const dataDirBase = fileSetsDataDir && !overrides.applied.has(pathKey(['dataDir'])) ? baseDir : cwd;
  return {
    ...config,
    dataDir: path.resolve(dataDirBase, config.dataDir),
    demo: { enabled: config.demo.enabled, key: demoKey },
    providers,
    deployments,
    tenants,
    source: source?.file,
  };
}

async function readSource(file: string): Promise<Source> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      {
        origin: { kind: 'env', variable: 'GATEHOUSE_CONFIG' },
        path: '',
        message: `cannot read configuration file ${file}: ${describeFsError(err)}`,
      },
    ]);
  }
  const lines = new LineCounter();
  // merge: `<<: *anchor` lets deployments share settings; uniqueKeys: a repeated key is an error
  // rather than last-one-wins.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true, merge: true });
  // Warnings (unknown tags, ...) are errors too: the file would not mean what it says.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    throw new ConfigError(
      problems.map((e) => {
        const pos = e.linePos?.[0];
        // The pretty message ends with a quote of the offending source lines, which may hold a
        // literal secret: keep only the first line, without its own position suffix.
        const reason = (e.message.split('\n')[0] ?? e.code).replace(/ at line \d+, column \d+:?\s*$/, '');
        const origin: ConfigOrigin = { kind: 'file', file };
        if (pos) {
          origin.line = pos.line;
          origin.column = pos.col;
        }
        return { origin, path: '', message: `YAML syntax error: ${reason}` };
      }),
    );
  }
  return { file, doc, lines };
}

function toPlain(source: Source): unknown {
  try {
    // An empty file (or only comments) is an empty configuration: all defaults.
    return source.doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    // e.g. "Excessive alias count" from a billion-laughs document.
    const reason = err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err);
    throw new ConfigError([{ origin: { kind: 'file', file: source.file }, path: '', message: `YAML error: ${reason}` }]);
  }
}

/**
 * Line and column of the entry at `p` (its key, for mapping entries: that is where an unknown
 * key is, and where the eye looks first), or of its nearest ancestor present in the file.
 */
function positionOf(source: Source, p: readonly PathSegment[]): { line?: number; column?: number } {
  for (let n = p.length; n >= 0; n--) {
    const node = nodeAt(source, p.slice(0, n));
    if (node?.range) {
      const pos = source.lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

function nodeAt(source: Source, p: readonly PathSegment[]): Node | undefined {
  if (p.length === 0) return isNode(source.doc.contents) ? source.doc.contents : undefined;
  const last = p[p.length - 1];
  const parent: unknown = p.length === 1 ? source.doc.contents : source.doc.getIn(p.slice(0, -1), true);
  if (isMap(parent)) {
    const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === String(last));
    if (pair && isNode(pair.key)) return pair.key;
  }
  const node: unknown = source.doc.getIn(p, true);
  return isNode(node) ? node : undefined;
}
