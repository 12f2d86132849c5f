export { startMockAnthropic } from './server.js';
export type { MockAnthropic, MockAnthropicOptions, RecordedAnthropicRequest } from './server.js';
