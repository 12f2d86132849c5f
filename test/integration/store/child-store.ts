/**
 * Runs the real store in a second Node.js process, to prove the data directory lock across
 * processes. Node 20 cannot run TypeScript, so the store's sources are transpiled (types
 * stripped, nothing bundled) into a temporary directory that links the project's node_modules.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const ENTRY = `
import { readFileSync } from 'node:fs';
import { metaRepo, openStore } from './src/store/index.js';
const [dataDir, mode] = process.argv.slice(2);
try {
  const store = await openStore({ dataDir });
  if (mode === 'peak') {
    // This process's peak resident set (kB) once the store is open and migrated.
    await store.migrate();
    process.stdout.write(/^VmHWM:\\s+(\\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] + '\\n');
    await store.close();
  } else if (mode === 'hold') {
    await store.migrate();
    await store.admin((tx) => metaRepo.set(tx, 'written-by', String(process.pid)));
    process.stdout.write('READY\\n');
    setInterval(() => {}, 1 << 30);
  } else {
    process.stdout.write('OPENED\\n');
    await store.close();
  }
} catch (err) {
  process.stderr.write(String(err instanceof Error ? err.message : err) + '\\n');
  process.exit(3);
}
`;

let built: Promise<string> | undefined;

/** The path of a script: `node <script> <dataDir> open|hold|peak`. */
export function childScript(): Promise<string> {
  built ??= (async () => {
    const out = await mkdtemp(join(tmpdir(), 'gatehouse-child-'));
    await symlink(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
    await writeFile(join(out, 'package.json'), '{"type":"module"}\n');
    const files = [...(await sources(join(ROOT, 'src/store'))), join(ROOT, 'src/tenancy/types.ts')];
    for (const file of files) {
      const js = ts.transpileModule(await readFile(file, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      }).outputText;
      const target = join(out, relative(ROOT, file)).replace(/\.ts$/, '.js');
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, js);
    }
    await writeFile(join(out, 'child.js'), ENTRY);
    return join(out, 'child.js');
  })();
  return built;
}

/** Removes the transpiled copy (the symlink to node_modules is removed, not followed). */
export async function removeChildScript(): Promise<void> {
  if (built === undefined) return;
  const script = await built;
  built = undefined;
  await rm(dirname(script), { recursive: true, force: true });
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the child to completion. */
export async function runChild(dataDir: string, mode: 'open' | 'peak'): Promise<ChildResult> {
  const child = spawn(process.execPath, [await childScript(), dataDir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout, stderr };
}

/** Starts a child that opens the store, writes a row and holds the directory until killed. */
export async function startHolder(dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [await childScript(), dataDir, 'hold'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}: ${stderr}`)));
  });
  return child;
}

export function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
