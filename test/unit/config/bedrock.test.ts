/** Provider kind `bedrock`: AWS credentials by reference, the AWS region per deployment, clear errors. */
import { describe, expect, it } from 'vitest';
import { fixture } from './helpers.js';

const provider = (aws: string): string => `
demo: { enabled: false }
providers:
  - name: aws
    kind: bedrock
${aws}
`;

const ENV = { AK: 'AKIDEXAMPLE000000000', SK: 'secret-key-CANARY-000000000', ST: 'session-token-1' };

describe('bedrock provider config', () => {
  it('resolves credentials from env, the AWS region (awsRegion > provider region > region) and the endpoint', async () => {
    const f = await fixture(`${provider(`    aws:
      accessKeyId: { env: AK }
      secretAccessKey: { env: SK }
      sessionToken: { env: ST }
      region: eu-west-1`)}
deployments:
  - { model: a, provider: aws, region: eu }
  - { model: b, provider: aws, region: eu, awsRegion: eu-central-1 }
`);
    const config = await f.load(ENV);
    const [a, b] = config.deployments;
    expect(a?.aws).toEqual({ accessKeyId: ENV.AK, secretAccessKey: ENV.SK, sessionToken: ENV.ST, region: 'eu-west-1' });
    expect(a?.baseUrl).toBe('https://bedrock-runtime.eu-west-1.amazonaws.com');
    expect(a?.region).toBe('eu');
    expect(b?.aws?.region).toBe('eu-central-1');
    expect(b?.baseUrl).toBe('https://bedrock-runtime.eu-central-1.amazonaws.com');
    expect(b?.provider).toBe('bedrock');
  });

  it('uses a deployment region that is an AWS region, and keeps a configured baseUrl', async () => {
    const f = await fixture(`
demo: { enabled: false }
providers:
  - name: aws
    kind: bedrock
    baseUrl: http://127.0.0.1:9999
    aws: { accessKeyId: { env: AK }, secretAccessKey: { env: SK } }
deployments:
  - { model: a, provider: aws, region: us-east-1 }
`);
    const [a] = (await f.load(ENV)).deployments;
    expect(a?.aws?.region).toBe('us-east-1');
    expect(a?.aws?.sessionToken).toBeUndefined();
    expect(a?.baseUrl).toBe('http://127.0.0.1:9999');
  });

  it('reports missing credentials, a missing region, misplaced settings and unset variables without echoing secrets', async () => {
    const noAws = await fixture(`${provider('')}
deployments:
  - { model: a, provider: aws }
`);
    const lines = (await noAws.fail(ENV)).join('\n');
    expect(lines).toMatch(/providers\[0\]\.aws.*required for kind "bedrock"/);

    const noRegion = await fixture(`${provider('    aws: { accessKeyId: { env: AK }, secretAccessKey: { env: SK } }')}
deployments:
  - { model: a, provider: aws, region: eu }
`);
    expect((await noRegion.fail(ENV)).join('\n')).toMatch(/deployments\[0\]\.awsRegion.*required/);

    const misplaced = await fixture(`
demo: { enabled: false }
providers:
  - name: o
    kind: openai
    apiKey: sk-x
    aws: { accessKeyId: AKID, secretAccessKey: literal-secret-CANARY }
deployments:
  - { model: a, provider: o, awsRegion: us-east-1 }
`);
    const text = (await misplaced.fail({})).join('\n');
    expect(text).toMatch(/aws.*only used by kind "bedrock"/);
    expect(text).toMatch(/awsRegion.*only used by provider kind "bedrock"/);
    expect(text).not.toContain('CANARY');

    const unset = await fixture(`${provider('    aws: { accessKeyId: { env: AK }, secretAccessKey: { env: NOPE }, region: us-east-1 }')}
deployments:
  - { model: a, provider: aws }
`);
    expect((await unset.fail(ENV)).join('\n')).toMatch(/aws\.secretAccessKey.*NOPE is not set/);

    const badRegion = await fixture(`${provider('    aws: { accessKeyId: AKID, secretAccessKey: { env: SK }, region: "Mars-1" }')}
`);
    expect((await badRegion.fail(ENV)).join('\n')).toMatch(/region.*AWS region/);
  });
});
