export { startMockProvider, DEFAULT_MODELS } from './server.js';
export type { MockProvider, MockProviderOptions, RecordedRequest } from './server.js';
