/** The `anthropic` provider kind in the configuration: its default base URL and its chat-only deployments. */
import { expect, it } from 'vitest';
import { fixture } from './helpers.js';

it('an anthropic provider defaults to api.anthropic.com and serves chat deployments', async () => {
  const f = await fixture(`demo: { enabled: false }
providers:
  - { name: claude, kind: anthropic, apiKey: { env: ANTHROPIC_API_KEY } }
deployments:
  - { model: claude-sonnet, provider: claude, upstreamModel: claude-sonnet-4-5 }
`);
  const config = await f.load({ ANTHROPIC_API_KEY: 'sk-ant-x' });
  expect(config.providers.find((p) => p.name === 'claude')).toMatchObject({ kind: 'anthropic', baseUrl: 'https://api.anthropic.com', apiKey: 'sk-ant-x' });
  expect(config.deployments[0]).toMatchObject({ provider: 'anthropic', upstreamModel: 'claude-sonnet-4-5', baseUrl: 'https://api.anthropic.com' });
});

it('an anthropic deployment of another kind than chat is a configuration error', async () => {
  const f = await fixture(`demo: { enabled: false }
providers:
  - { name: claude, kind: anthropic, apiKey: k }
deployments:
  - { model: emb, provider: claude, kind: embedding }
`);
  expect((await f.fail()).join('\n')).toMatch(/deployments\[0\]\.kind: provider kind "anthropic" serves chat models only, not "embedding"/);
});
