/**
 * A non-stream Anthropic answer, collected (bounded) and translated whole at its end: the
 * OpenAI completion needs every content block, so there is nothing to send earlier.
 */
import { GatewayError } from '../../errors.js';
import type { BodyTranslator } from '../translate-body.js';
import type { Usage } from '../types.js';
import { toChatCompletion } from './response.js';
import type { AnthropicResponse } from './wire.js';

const MAX_BYTES = 32 * 1024 * 1024;

export class AnthropicJsonTranslator implements BodyTranslator {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private seen: Usage | undefined;
  private readonly created: number;

  constructor(created: number) {
    this.created = created;
  }

  push(chunk: Buffer): string {
    this.bytes += chunk.length;
    if (this.bytes > MAX_BYTES) throw new GatewayError('upstream_error', 'The upstream answer is too large to translate.');
    this.chunks.push(chunk);
    return '';
  }

  end(): string {
    const text = Buffer.concat(this.chunks, this.bytes).toString('utf8');
    this.chunks = [];
    let parsed: AnthropicResponse;
    try {
      parsed = JSON.parse(text) as AnthropicResponse;
    } catch {
      throw new GatewayError('upstream_error', 'The upstream provider answered with a body that is not JSON.');
    }
    if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.content)) {
      throw new GatewayError('upstream_error', 'The upstream provider answered with an unexpected body.');
    }
    const { body, usage } = toChatCompletion(parsed, this.created);
    this.seen = usage;
    return JSON.stringify(body);
  }

  usage(): Usage | undefined {
    return this.seen;
  }
}
