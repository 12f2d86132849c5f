/**
 * The Bedrock Runtime wire shapes this adapter speaks: Converse / ConverseStream (JSON request,
 * JSON or `application/vnd.amazon.eventstream` answer) and InvokeModel for Titan embeddings.
 * Only the members the gateway reads or writes are named; the rest rides along untouched.
 */

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

export interface TextBlock {
  text: string;
}
export interface ImageBlock {
  /** `bytes` is base64 text in the REST/JSON protocol. */
  image: { format: ImageFormat; source: { bytes: string } };
}
export interface ToolUseBlock {
  toolUse: { toolUseId: string; name: string; input: unknown };
}
export interface ToolResultBlock {
  toolResult: { toolUseId: string; content: Array<TextBlock | { json: unknown }>; status?: 'success' | 'error' };
}
export type ContentBlock = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock;

export interface BedrockMessage {
  role: 'user' | 'assistant';
  content: ContentBlock[];
}

export interface ToolSpec {
  toolSpec: { name: string; description?: string; inputSchema: { json: unknown } };
}
export type ToolChoice = { auto: Record<string, never> } | { any: Record<string, never> } | { tool: { name: string } };

export interface InferenceConfig {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stopSequences?: string[];
}

/** Body of POST /model/{modelId}/converse and /converse-stream (modelId is in the path). */
export interface ConverseRequest {
  messages: BedrockMessage[];
  system?: TextBlock[];
  inferenceConfig?: InferenceConfig;
  toolConfig?: { tools: ToolSpec[]; toolChoice?: ToolChoice };
}

export type StopReason =
  | 'end_turn'
  | 'tool_use'
  | 'max_tokens'
  | 'stop_sequence'
  | 'guardrail_intervened'
  | 'content_filtered';

export interface BedrockUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens?: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
}

/** Answer of /converse. Output blocks may also be reasoningContent etc., which are skipped. */
export interface ConverseResponse {
  output: { message: { role: 'assistant'; content: Array<Partial<TextBlock & ToolUseBlock> & Record<string, unknown>> } };
  stopReason: StopReason | string;
  usage?: BedrockUsage;
  metrics?: { latencyMs?: number };
}

/** Payloads of the ConverseStream events, by `:event-type`. */
export interface StreamEvents {
  messageStart: { role: 'assistant' };
  contentBlockStart: { contentBlockIndex: number; start: { toolUse?: { toolUseId: string; name: string } } };
  contentBlockDelta: {
    contentBlockIndex: number;
    delta: { text?: string; toolUse?: { input: string }; reasoningContent?: unknown };
  };
  contentBlockStop: { contentBlockIndex: number };
  messageStop: { stopReason: StopReason | string };
  metadata: { usage?: BedrockUsage; metrics?: { latencyMs?: number } };
}
export type StreamEventType = keyof StreamEvents;

/** InvokeModel body and answer of the Titan text embedding models. */
export interface TitanEmbeddingRequest {
  inputText: string;
  dimensions?: number;
}
export interface TitanEmbeddingResponse {
  embedding: number[];
  inputTextTokenCount: number;
}

/** Error answers: `{"message": ...}` with the type in the x-amzn-errortype header. */
export interface BedrockErrorBody {
  message: string;
}

/** Exception type (x-amzn-errortype / :exception-type) → HTTP status, as documented for the runtime API. */
export const ERROR_STATUS: Readonly<Record<string, number>> = {
  ValidationException: 400,
  AccessDeniedException: 403,
  UnrecognizedClientException: 403,
  InvalidSignatureException: 403,
  MissingAuthenticationTokenException: 403,
  ResourceNotFoundException: 404,
  ModelTimeoutException: 408,
  ModelErrorException: 424,
  ModelNotReadyException: 429,
  ThrottlingException: 429,
  ServiceQuotaExceededException: 400,
  ModelStreamErrorException: 424,
  InternalServerException: 500,
  ServiceUnavailableException: 503,
};
