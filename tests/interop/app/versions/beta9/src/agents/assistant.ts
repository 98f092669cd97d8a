// `assistant`: the interop app's agent (beta.9 build only; see ../../../../README.md).
//
// Its model is `fake/echo`: the provider `fake` is registered here as an OpenAI-compatible
// endpoint whose base URL the interop harness passes in FLUE_FAKE_MODEL_URL (the fake
// chat-completions server in tools/flue_servers/fakemodel.py, on 127.0.0.1). No real model
// API is called. The reply is derived from the message (`echo: <text>`; directives such as `slow:`,
// `fail:`, `think:`, `tool:` are described in fakemodel.py).
import { defineAgent, defineTool, registerProvider } from '@flue/runtime';
import type { AgentRouteHandler } from '@flue/runtime';
import * as v from 'valibot';
import { requireToken } from '../auth.ts';

registerProvider('fake', {
  api: 'openai-completions',
  // Without the harness's URL the model calls go to a closed port and fail (never elsewhere).
  baseUrl: process.env.FLUE_FAKE_MODEL_URL || 'http://127.0.0.1:9/v1',
  apiKey: 'fake-model-key',
  contextWindow: 128000,
  maxTokens: 4096,
});

// Called by the fake model for `tool:<text>`; `tool:boom...` makes it throw (a tool error).
const echo = defineTool({
  name: 'echo',
  description: 'Echoes the given text back.',
  input: v.object({ text: v.string() }),
  async run({ input }) {
    if (input.text.startsWith('boom')) throw new Error(`echo refused: ${input.text}`);
    return { echoed: input.text };
  },
});

export const description = 'Echoes each message back through a fake local model.';

export default defineAgent(() => ({
  model: 'fake/echo',
  instructions: 'Repeat the message.',
  tools: [echo],
}));

// The same bearer-token gate as the workflows, for prompts, reads, abort and attachments.
export const route: AgentRouteHandler = requireToken;
export const attachments: AgentRouteHandler = requireToken;
