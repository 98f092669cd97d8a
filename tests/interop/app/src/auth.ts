// Bearer-token gate shared by every workflow of the interop app.
//
// The expected token comes from FLUE_TEST_TOKEN in the server's environment. When it is unset
// or empty every request is refused, so a misconfigured server never exposes runs.
import type { WorkflowRouteHandler } from '@flue/runtime';

function sameString(a: string, b: string): boolean {
  // Length-independent comparison so the check does not leak how much of the token matched.
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  }
  return diff === 0;
}

export const requireToken: WorkflowRouteHandler = async (c, next) => {
  const expected = process.env.FLUE_TEST_TOKEN ?? '';
  const header = c.req.header('authorization') ?? '';
  const prefix = 'Bearer ';
  const given = header.startsWith(prefix) ? header.slice(prefix.length) : '';
  if (expected === '' || !sameString(given, expected)) {
    return c.json(
      {
        error: {
          type: 'unauthorized',
          message: 'A valid "Authorization: Bearer <token>" header is required.',
          details: 'The interop test server checks the token given in FLUE_TEST_TOKEN.',
        },
      },
      401,
    );
  }
  await next();
};
