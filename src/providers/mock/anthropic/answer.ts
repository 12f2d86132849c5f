/**
 * What the mock Anthropic model answers, decided from the request alone (deterministic):
 * - tools given and the last user turn asks for one ("tool", "weather", or tool_choice any/tool)
 *   → a tool_use block for the chosen tool, with an input built from its schema;
 * - the last user turn carries tool results → text quoting them;
 * - otherwise text echoing the last user text, cut by max_tokens (one word = one token) and
 *   by stop_sequences.
 */
import type { AnthropicRequest, AnthropicTool, ResponseBlock, StopReason } from '../../anthropic/wire.js';

export interface MockAnswer {
  blocks: ResponseBlock[];
  stopReason: StopReason;
  stopSequence: string | null;
  inputTokens: number;
  outputTokens: number;
  /** Text deltas per block (text blocks: words; tool_use: JSON fragments). */
  pieces: string[][];
}

let toolIds = 0;

export function answer(req: AnthropicRequest): MockAnswer {
  const inputTokens = Math.max(1, Math.ceil(JSON.stringify(req.messages).length / 4) + Math.ceil(systemText(req).length / 4));
  const last = req.messages[req.messages.length - 1];
  const blocks = last === undefined || typeof last.content === 'string' ? [] : last.content;
  const lastText = last === undefined ? '' : typeof last.content === 'string' ? last.content : blocks.map((b) => (b.type === 'text' ? b.text : '')).join(' ');
  const results = blocks.filter((b) => b.type === 'tool_result');

  const tool = results.length === 0 ? chooseTool(req, lastText) : undefined;
  if (tool !== undefined) {
    const input = inputFor(tool);
    const json = JSON.stringify(input);
    const cut = Math.max(1, Math.floor(json.length / 2));
    toolIds++;
    const id = `toolu_mock${toolIds.toString(36).padStart(6, '0')}`;
    return {
      blocks: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id, name: tool.name, input },
      ],
      stopReason: 'tool_use',
      stopSequence: null,
      inputTokens,
      outputTokens: 3 + Math.ceil(json.length / 4),
      pieces: [['Let ', 'me ', 'check.'], [json.slice(0, cut), json.slice(cut)]],
    };
  }

  let text: string;
  if (results.length > 0) {
    const quoted = results.map((r) => (r.type === 'tool_result' ? (typeof r.content === 'string' ? r.content : JSON.stringify(r.content ?? '')) : '')).join('; ');
    text = `The tool said: ${quoted}`;
  } else {
    text = `Hello from mock Claude. You said: ${lastText.trim() === '' ? '(nothing)' : lastText.trim()}`;
  }
  let words = text.split(/(?<= )/);
  let stopReason: StopReason = 'end_turn';
  let stopSequence: string | null = null;
  for (const seq of req.stop_sequences ?? []) {
    const at = seq === '' ? -1 : text.indexOf(seq);
    if (at !== -1) {
      text = text.slice(0, at);
      words = text === '' ? [] : text.split(/(?<= )/);
      stopReason = 'stop_sequence';
      stopSequence = seq;
      break;
    }
  }
  if (words.length > req.max_tokens) {
    words = words.slice(0, req.max_tokens);
    text = words.join('');
    stopReason = 'max_tokens';
    stopSequence = null;
  }
  return { blocks: [{ type: 'text', text }], stopReason, stopSequence, inputTokens, outputTokens: words.length, pieces: [words] };
}

function systemText(req: AnthropicRequest): string {
  if (req.system === undefined) return '';
  return typeof req.system === 'string' ? req.system : req.system.map((b) => b.text).join('\n');
}

function chooseTool(req: AnthropicRequest, lastText: string): AnthropicTool | undefined {
  const tools = req.tools ?? [];
  const choice = req.tool_choice;
  if (tools.length === 0 || choice?.type === 'none') return undefined;
  if (choice?.type === 'tool') return tools.find((t) => t.name === choice.name);
  if (choice?.type === 'any' || /\b(tool|weather)\b/i.test(lastText)) return tools[0];
  return undefined;
}

/** One value per required property, by its declared type. */
function inputFor(tool: AnthropicTool): Record<string, unknown> {
  const schema = tool.input_schema as { properties?: Record<string, { type?: string; enum?: unknown[] }>; required?: string[] };
  const input: Record<string, unknown> = {};
  const props = schema.properties ?? {};
  for (const name of schema.required ?? Object.keys(props)) {
    const p = props[name] ?? {};
    if (Array.isArray(p.enum) && p.enum.length > 0) input[name] = p.enum[0];
    else if (p.type === 'number' || p.type === 'integer') input[name] = 1;
    else if (p.type === 'boolean') input[name] = true;
    else input[name] = name === 'location' ? 'San Francisco, CA' : `mock ${name}`;
  }
  return input;
}
