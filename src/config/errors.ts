/**
 * Configuration errors. Start-up fails with every problem listed at once (fixing a config file
 * one error per restart is miserable), one line each, and every line says where the bad value
 * came from: the file and the path inside it, or the environment variable.
 */

/** Where a configuration value came from. */
export type ConfigOrigin =
  | { kind: 'file'; file: string; line?: number; column?: number }
  | { kind: 'env'; variable: string }
  /** Built-in defaults: no file and no variable to point at. */
  | { kind: 'default' };

export interface ConfigIssue {
  origin: ConfigOrigin;
  /** Path inside the configuration, e.g. `deployments[2].capacity`; '' for the whole document. */
  path: string;
  /** What is wrong, e.g. `expected an integer ≥ 1, got "lots"`. Never contains a secret value. */
  message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** One line: `Invalid configuration in <file> at <path>: <message> (line L, column C)`. */
export function formatIssue(issue: ConfigIssue): string {
  const { origin, path, message } = issue;
  switch (origin.kind) {
    case 'env':
      return `Invalid configuration in environment variable ${origin.variable}: ${message}`;
    case 'default':
      return `Invalid configuration${path ? ` at ${path}` : ''}: ${message}`;
    case 'file': {
      const at = path ? ` at ${path}` : '';
      const pos =
        origin.line === undefined ? '' : ` (line ${origin.line}${origin.column === undefined ? '' : `, column ${origin.column}`})`;
      return `Invalid configuration in ${origin.file}${at}: ${message}${pos}`;
    }
  }
}

export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `['deployments', 2, 'capacity']` → `deployments[2].capacity` (odd keys are quoted). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && IDENTIFIER.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}
