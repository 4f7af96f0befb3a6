/** Small HTTP helpers the simulators share (node:http servers on loopback). */
import type { IncomingMessage } from 'node:http';

/** The request body as text (empty string when there is none). */
export async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The request body parsed as JSON, the raw text when it is not JSON, or null when empty. */
export async function readBody(req: IncomingMessage): Promise<unknown> {
  const text = await readText(req);
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Request headers as one string each (repeated headers joined). */
export function flatten(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The value when it is a plain object, else undefined. */
export function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}
