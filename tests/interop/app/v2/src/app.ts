// The 2.x interop app's route map (see ../../README.md). One agent, `Assistant`, mounted twice:
// at /agents/assistant, the beta.9-style `/agents/{name}/{id}` address, and at /api/chat, an
// address of the app's own choosing. Conversations are keyed by the agent, not the mount, so
// /agents/assistant/c1 and /api/chat/c1 are the same conversation. Every request under either
// mount needs `Authorization: Bearer $FLUE_TEST_TOKEN` (the app's own middleware; Flue 2.x has
// no route hooks of its own). A third mount, /api/unregistered, serves a function that is not a
// registered agent (it is no 'use agent' export): a prompt there fails inside Flue's router, the
// one cheap way to see its 500 envelope (`error.ref`, `flue-error-ref`). Anything else is Hono's
// plain-text 404.
import { createProvider } from '@earendil-works/pi-ai';
import { openAICompletionsApi } from '@earendil-works/pi-ai/api/openai-completions.lazy';
import { setProvider } from '@flue/runtime';
import { createAgentRouter } from '@flue/runtime/routing';
import { Hono } from 'hono';
import type { MiddlewareHandler } from 'hono';
import { Assistant } from './agents/assistant.ts';

// The fake model: an OpenAI-compatible chat-completions server run by the harness
// (tools/flue_servers/fakemodel.py) on 127.0.0.1; its base URL arrives in FLUE_FAKE_MODEL_URL.
// Without it the calls go to a closed local port and fail, never anywhere else. The key is a
// placeholder: a provider that resolves no key fails every submission before calling the model.
setProvider(
  createProvider({
    id: 'fake',
    auth: {
      apiKey: {
        name: 'interop fake model (placeholder key)',
        resolve: async () => ({ auth: { apiKey: 'fake-model-key' } }),
      },
    },
    models: [
      {
        id: 'echo',
        name: 'Interop echo model',
        api: 'openai-completions',
        provider: 'fake',
        baseUrl: process.env.FLUE_FAKE_MODEL_URL || 'http://127.0.0.1:9/v1',
        reasoning: false,
        input: ['text'],
        cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
        contextWindow: 128000,
        maxTokens: 4096,
      },
    ],
    api: openAICompletionsApi(),
  }),
);

const requireToken: MiddlewareHandler = async (c, next) => {
  const token = process.env.FLUE_TEST_TOKEN;
  if (!token || c.req.header('authorization') !== `Bearer ${token}`) {
    return c.json(
      {
        error: {
          type: 'unauthorized',
          message: 'A valid bearer token is required.',
          details: 'Send Authorization: Bearer <token>.',
        },
      },
      401,
    );
  }
  await next();
};

function Unregistered() {
  return 'Never runs: this function is not a registered agent.';
}

const MOUNTS = [
  ['/agents/assistant', Assistant],
  ['/api/chat', Assistant],
  ['/api/unregistered', Unregistered],
] as const;

const app = new Hono();
for (const [mount, agent] of MOUNTS) {
  app.use(`${mount}/*`, requireToken);
  app.route(mount, createAgentRouter(agent));
}

export default app;
