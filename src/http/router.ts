import { OpenAPIHono } from '@hono/zod-openapi';
import { errorBody } from './errors.ts';
import type { AppEnv } from './types.ts';
import { plainIssues } from './validation.ts';

/** Validation failures of any route render as one 400 shape, in plain words naming fields but never their values. */
export function newRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      return c.json(errorBody('VALIDATION_FAILED', plainIssues(result.error.issues)), 400);
    },
  });
}

export type Router = ReturnType<typeof newRouter>;
