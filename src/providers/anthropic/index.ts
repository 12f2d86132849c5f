export { AnthropicAdapter, ANTHROPIC_BASE_URL, createAnthropicAdapter } from './adapter.js';
