import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { upstreamHeaders, upstreamPaths } from '../../../src/providers/openai/endpoint.js';
import { clientErrorBody, redact } from '../../../src/providers/upstream-errors.js';
import { deployment } from '../../integration/providers/helpers.js';

describe('upstreamPaths', () => {
  it('appends the operation to an OpenAI-style base, with or without a trailing slash or prefix', () => {
    expect(upstreamPaths(deployment({ baseUrl: 'https://api.openai.com/v1' })).chat).toBe('/v1/chat/completions');
    expect(upstreamPaths(deployment({ baseUrl: 'https://api.openai.com/v1/' })).embeddings).toBe('/v1/embeddings');
    expect(upstreamPaths(deployment({ baseUrl: 'https://openrouter.ai/api/v1//', provider: 'openai-compatible' })).completions).toBe(
      '/api/v1/completions',
    );
  });

  it('builds Azure deployment paths with an encoded name and api-version', () => {
    const d = deployment({ baseUrl: 'https://res.openai.azure.com/', provider: 'azure', upstreamModel: 'gpt 4o', apiVersion: '2024-10-21' });
    expect(upstreamPaths(d)).toEqual({
      chat: '/openai/deployments/gpt%204o/chat/completions?api-version=2024-10-21',
      completions: '/openai/deployments/gpt%204o/completions?api-version=2024-10-21',
      embeddings: '/openai/deployments/gpt%204o/embeddings?api-version=2024-10-21',
    });
  });

  it('refuses an Azure deployment without apiVersion', () => {
    expect(() => upstreamPaths(deployment({ baseUrl: 'https://r.openai.azure.com', provider: 'azure' }))).toThrow(GatewayError);
  });
});

describe('upstreamHeaders', () => {
  it('uses api-key for azure, a bearer token otherwise, nothing without a key', () => {
    const azure = upstreamHeaders(deployment({ baseUrl: 'https://x', provider: 'azure', apiKey: 'k1' }), 'application/json');
    expect(azure).toContain('api-key');
    expect(azure).not.toContain('authorization');
    const openai = upstreamHeaders(deployment({ baseUrl: 'https://x', apiKey: 'k2' }), 'application/json');
    expect(openai.slice(-2)).toEqual(['authorization', 'Bearer k2']);
    expect(upstreamHeaders(deployment({ baseUrl: 'https://x', apiKey: '' }), 'application/json')).toHaveLength(8);
  });

  it('asks for an uncompressed body (it is passed and scanned as it comes, never decoded)', () => {
    const headers = upstreamHeaders(deployment({ baseUrl: 'https://x', apiKey: 'k' }), 'text/event-stream, application/json');
    expect(headers[headers.indexOf('accept-encoding') + 1]).toBe('identity');
  });
});

describe('error bodies', () => {
  it('redacts the credential and bearer tokens', () => {
    expect(redact('key sk-abcdefgh12 and Bearer xyz.123', 'sk-abcdefgh12')).toBe('key [redacted] and Bearer [redacted]');
  });

  it('keeps a valid envelope and wraps anything else', () => {
    const env = '{"error":{"message":"bad","type":"invalid_request_error","param":"x","code":"c"}}';
    expect(clientErrorBody(400, env, '').toString()).toBe(env);
    expect(JSON.parse(clientErrorBody(403, '', '').toString())).toEqual({
      error: { message: 'The upstream provider answered HTTP 403.', type: 'permission_denied_error', code: 'upstream_http_403', param: null },
    });
  });
});
