/**
 * For the seed runbook tests (test/seed-00N.test.ts): the runbook file as committed in runbooks/seeds/,
 * checked against the JSON Schema editors use, and loaded for a test with only its endpoints, windows
 * and timeouts changed (`forTest`), so what runs end to end is the seed's runbook and not a copy of it.
 * Also the service a runbook's health section reaches (its checks and a Prometheus endpoint) and
 * stand-ins for the CLIs its commands run (gcloud, fly, railway), which record what they were asked.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse, stringify } from 'yaml';
import { parseRunbook } from '../src/runbook/load.ts';
import type { Runbook } from '../src/runbook/schema.ts';
import type { RollbackTestEnv } from './rollback-harness.ts';

const root = join(import.meta.dirname, '..');

/** The seed runbook's text as committed. */
export const seedText = (file: string): string => readFileSync(join(root, 'runbooks', 'seeds', file), 'utf8');

/** Problems the JSON Schema (schemas/runbook.schema.json) finds in the file; [] when it passes. */
export function jsonSchemaProblems(file: string): string[] {
  const schema = JSON.parse(readFileSync(join(root, 'schemas', 'runbook.schema.json'), 'utf8')) as Record<string, unknown>;
  const check = new Ajv2020({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
  return check(parse(seedText(file))) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

/** The file through the worker's loader, as committed. */
export const loadSeed = (file: string): Runbook => parseRunbook(seedText(file), `runbooks/seeds/${file}`);

/** The line numbers (1-based) of the file holding `text`. */
export function linesHolding(file: string, text: string): number[] {
  return seedText(file)
    .split('\n')
    .flatMap((line, i) => (line.includes(text) ? [i + 1] : []));
}

/**
 * The seed runbook with `edit` applied to its document (endpoints to emulators and local servers,
 * short windows), loaded with the worker's loader and added to the test worker's runbooks.
 */
export function addSeedRunbook(t: RollbackTestEnv, file: string, edit: (doc: Record<string, any>) => void): Runbook {
  const doc = parse(seedText(file)) as Record<string, any>;
  edit(doc);
  const runbook = parseRunbook(stringify(doc), `runbooks/seeds/${file}`);
  t.runbooks.set(runbook.system, runbook);
  return runbook;
}

/** Replaces `from` with `to` at the start of every string of the document (URLs to a local server). */
export function rebase(node: unknown, from: string, to: string): unknown {
  if (typeof node === 'string') return node.startsWith(from) ? to + node.slice(from.length) : node;
  if (Array.isArray(node)) return node.map((n) => rebase(n, from, to));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, rebase(v, from, to)]));
  return node;
}

export interface ServiceStandIn {
  url: string;
  /** Requests by path, in order. */
  requests: { method: string; path: string; body: string }[];
  stop(): Promise<void>;
}

/**
 * The service a runbook's health section reaches: `routes` answer by path (status and JSON body), and
 * /metrics is a Prometheus text endpoint whose request counter grows 50 a second, all 200s answered
 * within 50 ms, so a window of a second or more has enough requests and a healthy p95; `metrics`, when
 * given, writes /metrics instead (a stand-in that errs).
 */
export async function startServiceStandIn(routes: Record<string, (req: IncomingMessage, body: string) => { status: number; json?: unknown; text?: string }>, metrics?: () => string): Promise<ServiceStandIn> {
  const started = Date.now();
  const requests: ServiceStandIn['requests'] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      requests.push({ method: req.method ?? 'GET', path, body });
      if (path === '/metrics') {
        const n = Math.floor(((Date.now() - started) / 1000) * 50);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics ? metrics() : prometheusText(n));
        return;
      }
      const route = routes[path];
      const answer = route ? route(req, body) : { status: 404, text: 'not found' };
      if (answer.json !== undefined) res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.json));
      else res.writeHead(answer.status).end(answer.text ?? '');
    });
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function prometheusText(n: number): string {
  return [
    '# TYPE http_requests_total counter',
    `http_requests_total{status="200"} ${n}`,
    '# TYPE http_request_duration_seconds histogram',
    `http_request_duration_seconds_bucket{le="0.05"} ${n}`,
    `http_request_duration_seconds_bucket{le="0.5"} ${n}`,
    `http_request_duration_seconds_bucket{le="+Inf"} ${n}`,
    `http_request_duration_seconds_sum ${n * 0.02}`,
    `http_request_duration_seconds_count ${n}`,
    '',
  ].join('\n');
}

/**
 * A stand-in for a CLI (gcloud, fly, railway) in `binDir`: it appends its arguments, one call a line,
 * to `<binDir>/<name>.calls`, then runs `script` (sh, with the arguments as "$@").
 */
export function fakeCli(binDir: string, name: string, script: string): void {
  mkdirSync(binDir, { recursive: true });
  const path = join(binDir, name);
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' "$*" >> "${join(binDir, `${name}.calls`)}"\n${script}\n`);
  chmodSync(path, 0o755);
}

/** The calls a CLI stand-in received, one string of its arguments per call. */
export function cliCalls(binDir: string, name: string): string[] {
  try {
    return readFileSync(join(binDir, `${name}.calls`), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Asserts that a seed-cited line of the runbook holds `text`: coverage rows point at such lines. */
export function assertLineHolds(file: string, line: number, text: string): void {
  const held = seedText(file).split('\n')[line - 1];
  assert.ok(held?.includes(text), `runbooks/seeds/${file}:${line} should hold ${JSON.stringify(text)}, holds ${JSON.stringify(held)}`);
}
