/**
 * Which dedicated deployments the snapshot will serve, and how (pure): each tenant provider kind
 * with the model kinds its adapter serves, Bedrock rows signed with the tenant's own sealed AWS
 * credentials, and the rows it refuses to serve (wrong credential shape, unreadable AWS document,
 * an endpoint of another region), with reasons that never carry a secret.
 */
import { describe, expect, it } from 'vitest';
import { compileOutboundPolicy, outboundGuard } from '../../../src/routing/ssrf.js';
import { decodeAwsCredential, encodeAwsCredential } from '../../../src/routing/tenant-credentials.js';
import { dedicatedDeployment, dedicatedProblem, type DedicatedDeploymentSource } from '../../../src/routing/tenant-deployments.js';

const guard = outboundGuard(compileOutboundPolicy());
const AWS = { accessKeyId: 'AKIATENANT0000000001', secretAccessKey: 'tenant/SECRET+CANARY/0000000000000000000', sessionToken: 'FwoGZXIvYXdzEJr-CANARY-token', region: 'eu-central-1' };

const source = (over: Partial<DedicatedDeploymentSource> = {}): DedicatedDeploymentSource => ({
  id: '0b7a3c4e-1111-4222-8333-444455556666',
  model: 'own-model',
  kind: 'chat',
  provider: 'anthropic',
  baseUrl: 'https://api.anthropic.com',
  apiKey: 'sk-ant-CANARY-0123',
  credentialProvider: 'anthropic',
  upstreamModel: 'claude-sonnet-4',
  apiVersion: null,
  region: 'eu',
  capacity: 4,
  timeoutMs: 10_000,
  prices: { input: 0, output: 0, cachedInput: 0, request: 0 },
  createdAt: new Date(0),
  ...over,
});

function served(src: DedicatedDeploymentSource) {
  const r = dedicatedDeployment(src, 'acme', guard);
  if (!r.ok) throw new Error(`not served: ${r.reason}`);
  return r.deployment;
}

function refused(src: DedicatedDeploymentSource): string {
  const r = dedicatedDeployment(src, 'acme', guard);
  if (r.ok) throw new Error('served');
  expect(r.reason).not.toMatch(/CANARY/);
  return r.reason;
}

describe('AWS credentials, sealed as one document', () => {
  it('round-trip, with and without a session token', () => {
    expect(decodeAwsCredential(encodeAwsCredential(AWS))).toEqual(AWS);
    const { sessionToken: _, ...permanent } = AWS;
    expect(decodeAwsCredential(encodeAwsCredential(permanent))).toEqual(permanent);
  });

  it('an API key, another shape or a bad region is not AWS credentials', () => {
    expect(decodeAwsCredential('sk-ant-0123456789')).toBeUndefined();
    expect(decodeAwsCredential('{"accessKeyId":"A"}')).toBeUndefined();
    expect(decodeAwsCredential(JSON.stringify({ v: 1, ...AWS, region: 'mars' }))).toBeUndefined();
    expect(decodeAwsCredential(JSON.stringify({ v: 2, ...AWS }))).toBeUndefined();
  });
});

describe('dedicatedProblem', () => {
  it.each([
    [{ provider: 'anthropic', kind: 'chat', credentialProvider: 'anthropic' }, undefined],
    [{ provider: 'anthropic', kind: 'chat', credentialProvider: null }, undefined],
    [{ provider: 'anthropic', kind: 'embedding', credentialProvider: null }, 'kind'],
    [{ provider: 'gemini', kind: 'embedding', credentialProvider: 'gemini' }, undefined],
    [{ provider: 'gemini', kind: 'completion', credentialProvider: 'gemini' }, 'kind'],
    [{ provider: 'bedrock', kind: 'embedding', credentialProvider: 'bedrock' }, undefined],
    [{ provider: 'bedrock', kind: 'chat', credentialProvider: null }, 'credential_id'],
    [{ provider: 'bedrock', kind: 'chat', credentialProvider: 'openai' }, 'credential_id'],
    [{ provider: 'openai-compatible', kind: 'chat', credentialProvider: 'bedrock' }, 'credential_id'],
    [{ provider: 'gemini', kind: 'chat', credentialProvider: 'bedrock' }, 'credential_id'],
    [{ provider: 'openai-compatible', kind: 'completion', credentialProvider: 'openai' }, undefined],
    [{ provider: 'mock', kind: 'chat', credentialProvider: null }, 'provider'],
  ] as const)('%o → %s', (d, param) => {
    expect(dedicatedProblem(d)?.param).toBe(param);
  });
});

describe('dedicatedDeployment', () => {
  it('serves Anthropic and Gemini rows with the opened key, guarded', () => {
    expect(served(source())).toMatchObject({ id: 'tenant:0b7a3c4e-1111-4222-8333-444455556666', provider: 'anthropic', apiKey: 'sk-ant-CANARY-0123', ownedBy: 'acme', outbound: guard });
    const g = served(source({ provider: 'gemini', kind: 'embedding', baseUrl: 'https://generativelanguage.googleapis.com', credentialProvider: 'gemini' }));
    expect(g).toMatchObject({ provider: 'gemini', kind: 'embedding', outbound: guard });
    expect(g.aws).toBeUndefined();
  });

  it("signs Bedrock rows with the tenant's own AWS credentials and region; no API key", () => {
    const d = served(source({ provider: 'bedrock', baseUrl: 'https://bedrock-runtime.eu-central-1.amazonaws.com', apiKey: encodeAwsCredential(AWS), credentialProvider: 'bedrock' }));
    expect(d).toMatchObject({ provider: 'bedrock', apiKey: '', aws: AWS, region: 'eu', outbound: guard });
    // A VPC endpoint or a proxy names no region: the credential's is used.
    expect(served(source({ provider: 'bedrock', baseUrl: 'https://vpce-0a1b.bedrock.example.com', apiKey: encodeAwsCredential(AWS), credentialProvider: 'bedrock' })).aws?.region).toBe('eu-central-1');
  });

  it('refuses rows it cannot serve, saying why without the secret', () => {
    const bedrock = { provider: 'bedrock', baseUrl: 'https://bedrock-runtime.eu-central-1.amazonaws.com', credentialProvider: 'bedrock' };
    expect(refused(source({ ...bedrock, apiKey: 'sk-CANARY-not-aws' }))).toMatch(/readable AWS credentials/);
    expect(refused(source({ ...bedrock, baseUrl: 'https://bedrock-runtime.us-east-1.amazonaws.com', apiKey: encodeAwsCredential(AWS) }))).toMatch(
      /region us-east-1 but its credential signs for eu-central-1/,
    );
    expect(refused(source({ ...bedrock, apiKey: encodeAwsCredential(AWS), credentialProvider: 'openai' }))).toMatch(/bedrock credential/);
    expect(refused(source({ provider: 'openai-compatible', apiKey: encodeAwsCredential(AWS), credentialProvider: 'bedrock' }))).toMatch(/cannot authenticate/);
    expect(refused(source({ kind: 'completion' }))).toMatch(/serves chat models, not completion/);
    expect(refused(source({ provider: 'future-llm' }))).toMatch(/not served to tenants/);
    expect(refused(source({ baseUrl: 'https://' }))).toMatch(/not a valid URL/);
  });
});
