// `emit`: appends `count` log events, `delayMs` apart, after waiting `startDelayMs`.
// No model is called: the agent's model (MODEL in ../model.ts) is only looked up.
import { defineAgent, defineWorkflow } from '@flue/runtime';
import type { WorkflowRouteHandler, WorkflowRunsHandler } from '@flue/runtime';
import * as v from 'valibot';
import { MODEL } from '../model.ts';
import { requireToken } from '../auth.ts';

const nonNegativeInt = (fallback: number) =>
  v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), fallback);

const pause = (ms: number) =>
  ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve();

export default defineWorkflow({
  agent: defineAgent(() => ({ model: MODEL })),
  input: v.object({
    count: nonNegativeInt(10),
    size: nonNegativeInt(0),
    delayMs: nonNegativeInt(0),
    startDelayMs: nonNegativeInt(0),
  }),
  async run({ input, log }) {
    await pause(input.startDelayMs);
    const data = 'x'.repeat(input.size);
    for (let i = 0; i < input.count; i++) {
      if (i > 0) await pause(input.delayMs);
      log.info('emit', { i, data });
    }
    return { emitted: input.count, size: input.size };
  },
});

export const route: WorkflowRouteHandler = requireToken;
export const runs: WorkflowRunsHandler = requireToken;
