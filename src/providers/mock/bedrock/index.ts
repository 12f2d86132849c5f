export { MOCK_AWS, exceptionFrame, frame, startMockBedrock, type MockBedrock, type MockBedrockOptions } from './server.js';
