/** Temp-dir fixtures for config tests: each test writes its own file and passes its own env. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { loadConfig } from '../../../src/config/load.js';
import type { LoadedConfig } from '../../../src/config/types.js';

const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-config-'));
  dirs.push(dir);
  return dir;
}

export interface Fixture {
  dir: string;
  file: string;
  load(env?: NodeJS.ProcessEnv): Promise<LoadedConfig>;
  /** Loads, expects a ConfigError and returns its message lines. */
  fail(env?: NodeJS.ProcessEnv): Promise<string[]>;
}

/**
 * Writes `yaml` as gatehouse.yaml (plus `files`, relative to the same directory) in a fresh
 * temp dir.
 */
export async function fixture(yaml: string, files: Record<string, string> = {}): Promise<Fixture> {
  const dir = await tempDir();
  const file = path.join(dir, 'gatehouse.yaml');
  await writeFile(file, yaml);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  const load = (env: NodeJS.ProcessEnv = {}): Promise<LoadedConfig> =>
    loadConfig({ env: { GATEHOUSE_CONFIG: file, ...env }, cwd: dir });
  return { dir, file, load, fail: (env) => failureLines(load(env)) };
}

export async function failureLines(promise: Promise<unknown>): Promise<string[]> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).message.split('\n');
}

/** A mock provider plus one deployment, for tests about other sections. */
export const BASE = `
demo: { enabled: false }
providers:
  - { name: mock, kind: mock }
deployments:
  - { model: m1, provider: mock, region: eu }
  - { model: m2, provider: mock, region: us }
`;
