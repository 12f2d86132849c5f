import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { z } from 'zod';
import { ENV_OVERRIDES } from '../../../src/config/env.js';
import { configSchema } from '../../../src/config/schema.js';
import { fixture } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../../src/config/gatehouse.example.yaml', import.meta.url));

it('the annotated example configuration loads', async () => {
  // Copied into a temp dir so its relative {file} secrets can be created beside it.
  const f = await fixture(await readFile(EXAMPLE, 'utf8'), {
    'secrets/azure-eu.key': 'azure-key\n',
    'secrets/acme-support.key': 'acme-support-key\n',
  });
  const config = await f.load({
    GATEHOUSE_EXAMPLE_DEMO_KEY: 'demo-key',
    OPENAI_API_KEY: 'openai-key',
    ACME_RESEARCH_KEY: 'acme-research-key',
    GLOBEX_KEY: 'globex-key',
  });
  expect(config.demo).toEqual({ enabled: true, key: 'demo-key' });
  expect(config.providers.map((p) => [p.name, p.apiKey])).toEqual([
    ['openai', 'openai-key'],
    ['azure-eu', 'azure-key'],
    ['local-vllm', ''],
    ['mock', ''],
  ]);
  expect(config.deployments.map((d) => d.id)).toEqual([
    'openai-gpt-4o-mini',
    'azure-eu-gpt-4o-mini',
    'openai-text-embedding-3-small',
    'local-vllm-llama-3-1-8b',
    'mock-mock-chat',
  ]);
  expect(config.tenants.map((t) => [t.slug, t.keys.map((k) => k.value)])).toEqual([
    ['acme', ['acme-research-key', 'acme-support-key']],
    ['globex', ['globex-key']],
  ]);
  expect(config.plans.map((p) => [p.name, p.weight, p.rules.length])).toEqual([['pro', 8, 5]]);
  expect(config.tenants.map((t) => [t.plan, t.limits?.length])).toEqual([
    ['pro', 3],
    ['free', undefined],
  ]);
  expect(config.tenants.map((t) => t.cache)).toEqual([{ enabled: true, ttlSeconds: 3600 }, undefined]);
  expect(config.cache.maxEntryBytes).toBe(1048576);
  expect(config.deployments.map((d) => d.limitsFailMode)).toEqual(['closed', 'closed', 'closed', 'open', 'closed']);
});

/** Every key name the schema accepts, at any depth. */
function schemaKeys(schema: z.ZodType, out = new Set<string>()): Set<string> {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) return schemaKeys(schema.unwrap() as z.ZodType, out);
  if (schema instanceof z.ZodPipe) return schemaKeys(schema.in as z.ZodType, out);
  if (schema instanceof z.ZodArray) return schemaKeys(schema.element as z.ZodType, out);
  if (schema instanceof z.ZodUnion) for (const o of schema.options as readonly z.ZodType[]) schemaKeys(o, out);
  if (schema instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      out.add(key);
      schemaKeys(child, out);
    }
  }
  return out;
}

it('the example shows every option and every environment override', async () => {
  const text = await readFile(EXAMPLE, 'utf8');
  const keys = schemaKeys(configSchema);
  expect(keys.size).toBeGreaterThan(40);
  for (const key of keys) expect(text, `option "${key}"`).toMatch(new RegExp(`\\b${key}:`));
  for (const o of ENV_OVERRIDES) expect(text).toContain(o.variable);
});
