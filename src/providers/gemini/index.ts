export { GeminiAdapter, geminiHeaders, geminiPaths } from './adapter.js';

import { GeminiAdapter } from './adapter.js';

export function createGeminiAdapter(): GeminiAdapter {
  return new GeminiAdapter();
}
