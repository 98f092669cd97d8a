// `fail`: appends `before` log events, then throws an Error carrying `message`,
// so the run ends errored with {"name": "Error", "message": message}.
import { defineAgent, defineWorkflow } from '@flue/runtime';
import type { WorkflowRouteHandler, WorkflowRunsHandler } from '@flue/runtime';
import * as v from 'valibot';
import { MODEL } from '../model.ts';
import { requireToken } from '../auth.ts';

export default defineWorkflow({
  agent: defineAgent(() => ({ model: MODEL })),
  input: v.object({
    message: v.string(),
    before: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 1),
  }),
  async run({ input, log }) {
    for (let i = 0; i < input.before; i++) {
      log.info('before-fail', { i });
    }
    throw new Error(input.message);
  },
});

export const route: WorkflowRouteHandler = requireToken;
export const runs: WorkflowRunsHandler = requireToken;
