import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { validateRequest } from '../../../src/pipeline/validate.js';

function rejection(op: 'chat' | 'completions' | 'embeddings', body: Record<string, unknown>): GatewayError {
  try {
    validateRequest(op, body);
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('accepted');
}

const chat = { messages: [{ role: 'user', content: 'hi' }] };

describe('validateRequest', () => {
  it('accepts well-formed requests with unknown fields', () => {
    expect(() => validateRequest('chat', { ...chat, n: 2, stop: ['x'], some_vendor_field: { a: 1 } })).not.toThrow();
    expect(() => validateRequest('completions', { prompt: 'hi', max_tokens: 5 })).not.toThrow();
    expect(() => validateRequest('embeddings', { input: ['a', 'b'], dimensions: 8 })).not.toThrow();
  });

  it('names the offending parameter for wrong types', () => {
    expect(rejection('chat', { ...chat, n: '2' }).param).toBe('n');
    expect(rejection('chat', { ...chat, temperature: 3 }).param).toBe('temperature');
    expect(rejection('chat', { ...chat, stop: [1] }).param).toBe('stop');
    expect(rejection('chat', { ...chat, max_tokens: 1.5 }).param).toBe('max_tokens');
    expect(rejection('chat', { ...chat, tools: {} }).param).toBe('tools');
    expect(rejection('embeddings', { input: 'x', encoding_format: 'hex' }).param).toBe('encoding_format');
  });

  it('requires the operation payload', () => {
    expect(rejection('chat', {}).param).toBe('messages');
    expect(rejection('chat', { messages: [] }).param).toBe('messages');
    expect(rejection('chat', { messages: ['hi'] }).param).toBe('messages[0]');
    expect(rejection('completions', { prompt: '' }).param).toBe('prompt');
    expect(rejection('embeddings', { input: 42 }).param).toBe('input');
    expect(rejection('embeddings', { input: 'x', stream: true }).status).toBe(400);
    // OpenAI's 2,048 inputs at most; a long array of token ids is one input.
    expect(rejection('embeddings', { input: Array.from({ length: 2049 }, () => 'x') }).param).toBe('input');
    expect(() => validateRequest('embeddings', { input: Array.from({ length: 2048 }, () => 'x') })).not.toThrow();
    expect(() => validateRequest('embeddings', { input: Array.from({ length: 5000 }, () => 1) })).not.toThrow();
  });
});
