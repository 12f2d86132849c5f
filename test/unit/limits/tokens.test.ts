import { beforeAll, describe, expect, it } from 'vitest';
import { encodingFor, estimateTokens, preloadTokenizers, promptTokens, tokenizersReady } from '../../../src/limits/tokens.js';

describe('prompt token counting', () => {
  beforeAll(async () => {
    preloadTokenizers(['gpt-4o-mini', 'gpt-4']);
    await tokenizersReady();
  });

  it('picks the real encoding of OpenAI model families and none for others', () => {
    expect(encodingFor('gpt-4o-mini')).toBe('o200k_base');
    expect(encodingFor('o3-mini')).toBe('o200k_base');
    expect(encodingFor('gpt-4-turbo')).toBe('cl100k_base');
    expect(encodingFor('text-embedding-3-small')).toBe('cl100k_base');
    expect(encodingFor('claude-sonnet-4')).toBeUndefined();
    expect(encodingFor('llama-3.1-70b')).toBeUndefined();
  });

  it('counts exactly with the BPE encoding once it is loaded', () => {
    // "Hello world" is two tokens in both encodings; the estimate (11 bytes / 4) would say 3.
    expect(promptTokens('completions', { prompt: 'Hello world' }, 'gpt-4o-mini')).toBe(2);
    expect(promptTokens('embeddings', { input: ['Hello world', 'Hello world'] }, 'gpt-4')).toBe(4);
    expect(promptTokens('embeddings', { input: [[1, 2, 3], [4, 5]] }, 'gpt-4')).toBe(5);
  });

  it('adds the chat framing, tools and images', () => {
    const plain = promptTokens('chat', { messages: [{ role: 'user', content: 'Hello world' }] }, 'gpt-4o-mini');
    expect(plain).toBe(2 + 3 + 3); // content + per message + reply primer
    const withImage = promptTokens(
      'chat',
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello world' }, { type: 'image_url', image_url: { url: 'x' } }] }] },
      'gpt-4o-mini',
    );
    expect(withImage).toBe(plain + 765);
    const withTools = promptTokens(
      'chat',
      { messages: [{ role: 'user', content: 'Hello world' }], tools: [{ type: 'function', function: { name: 'get_weather' } }] },
      'gpt-4o-mini',
    );
    expect(withTools).toBeGreaterThan(plain + 5);
    // The deprecated functions / function_call count like tools / tool_calls.
    const description = 'word '.repeat(400);
    const viaTools = promptTokens('chat', { messages: [{ role: 'user', content: 'Hello world' }], tools: [{ type: 'function', function: { name: 'f', description } }] }, 'gpt-4o-mini');
    const viaFunctions = promptTokens('chat', { messages: [{ role: 'user', content: 'Hello world' }], functions: [{ name: 'f', description }] }, 'gpt-4o-mini');
    expect(viaFunctions).toBeGreaterThan(plain + 400);
    expect(Math.abs(viaFunctions - viaTools)).toBeLessThan(20);
    const call = promptTokens('chat', { messages: [{ role: 'assistant', content: null, function_call: { name: 'f', arguments: description } }] }, 'gpt-4o-mini');
    expect(call).toBeGreaterThan(400);
  });

  it('estimates other families at one token per 4 UTF-8 bytes, rounded up', () => {
    expect(promptTokens('completions', { prompt: 'Hello world' }, 'llama-3')).toBe(3);
    expect(estimateTokens('€€')).toBe(2); // 6 bytes
    expect(estimateTokens('')).toBe(0);
  });
});
