export { OpenAIAdapter, OPENAI_WIRE_KINDS, createOpenAIAdapter } from './adapter.js';
