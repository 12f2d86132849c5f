export { startMockGemini, sendGeminiError } from './server.js';
export type { MockGemini, MockGeminiOptions, MockGeminiRequest } from './server.js';
