export { BedrockAdapter, createBedrockAdapter } from './adapter.js';
