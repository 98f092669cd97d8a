'use agent';
// `Assistant`: the 2.x interop app's one agent (see ../../../README.md). Its model is
// `fake/echo` (registered in ../app.ts), which answers `echo: <text>`; leading directives such
// as `slow:`, `fail:`, `think:`, `tool:` are described in tools/flue_servers/fakemodel.py.
import { defineTool, useModel, useTool } from '@flue/runtime';
import * as v from 'valibot';

// Called by the fake model for `tool:<text>`; text starting with `boom` makes it throw, which
// the model sees as a tool error.
const echo = defineTool({
  name: 'echo',
  description: 'Echoes the given text back.',
  input: v.object({ text: v.string() }),
  async run({ data }) {
    if (data.text.startsWith('boom')) throw new Error(`echo refused: ${data.text}`);
    return { output: { echoed: data.text } };
  },
});

export function Assistant() {
  useModel('fake/echo');
  useTool(echo);
  return 'Repeat the message.';
}
