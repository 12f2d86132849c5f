#!/usr/bin/env node
// Entry point: compiles the TypeScript sources when the build is missing or older than them,
// then hands over to the compiled CLI. Keeps `npm install && npm start` a two-command setup.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const time = entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs;
    if (time > newest) newest = time;
  }
  return newest;
}

function needsBuild() {
  if (!existsSync(join(root, 'src'))) return false; // installed package: dist only
  if (!existsSync(entry)) return true;
  return newestSource(join(root, 'src')) > statSync(entry).mtimeMs;
}

if (needsBuild()) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    console.error('gatehouse: the build is missing and TypeScript is not installed; run `npm install` first.');
    process.exit(1);
  }
  process.stderr.write('gatehouse: compiling sources...\n');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const { main } = await import(pathToFileURL(entry).href);
await main(process.argv);
