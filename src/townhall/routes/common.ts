/** Building blocks of route definitions: security per scope, JSON bodies, error responses. */
import type { Scope } from "../../core/auth.ts";
import { requireScope } from "../auth.ts";
import { ErrorBody } from "../schemas.ts";

export const json = <T>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** A required JSON request body. */
export const jsonBody = <T>(schema: T) => ({
  body: { required: true, content: { "application/json": { schema } } },
});

const err = (description: string) => json(ErrorBody, description);

/** The error responses every protected route may give. */
export const errors = {
  400: err("Invalid input; `field` names the offending field"),
  401: err("Missing or invalid API key"),
  403: err("The API key lacks the required scope"),
  429: err("Rate limit exceeded; see Retry-After"),
};
export const notFound = { 404: err("No such agent or task") };
export const conflict = { 409: err("The operation conflicts with the current state") };
export const tooLarge = { 413: err("Request body too large") };

/** OpenAPI security requirement and the enforcing middleware for a scope. */
export function secured(scope: Scope) {
  return {
    security: [{ bearerAuth: [scope] }, { apiKeyHeader: [scope] }] as Record<string, string[]>[],
    middleware: [requireScope(scope)],
    description: `Requires scope \`${scope}\` (or \`admin\`).`,
  };
}
