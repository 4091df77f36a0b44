/**
 * One replica of the sandbox's HTTP service: a real process, forked by sandbox/replica-process.ts.
 * Plain JavaScript and Node built-ins only, so it starts fast and stays small (tests run dozens).
 *
 * Its settings come as the first IPC message; its environment holds exactly the app's config and the
 * secrets it loaded at start, as on Fly. Over IPC it says `ready` with its port, reports every
 * request's status and duration (the parent keeps the Prometheus metrics), takes fault changes and
 * a graceful `stop`. It exits by itself when the IPC channel closes, so a killed parent leaves no
 * orphan behind.
 *
 * Routes: GET /health (what this process loaded; never a secret value, not counted in metrics),
 * /api/features/<feature> (kill switch read from Redis on each request), GET /api/flags (the flagd
 * file evaluated on each request), anything else answers {version, path}.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { connect } from 'node:net';

process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the parent decides when replicas stop (and if it dies, the channel closes).
process.on('SIGINT', () => {});

// Not an argument, where `ps` would show a password in the Redis URL. (argv[2] only names the replica.)
const settings = await new Promise((resolve) => process.once('message', (message) => resolve(message.settings)));
const startedAt = new Date().toISOString();
let fault = settings.fault;
let errorBudget = 0;
let stopping = false;

/** Sends to the parent while the channel is open (a send on a closed one would crash the replica). */
function tell(message) {
  if (process.connected) process.send(message);
}

process.on('message', (message) => {
  if (message?.type === 'fault') {
    fault = message.fault;
    tell({ type: 'fault-applied', seq: message.seq });
  }
  if (message?.type === 'stop') {
    // Finish the requests in flight, then go; the parent no longer routes here. Their answers close
    // their connections, or a kept-alive one would hold the server open.
    stopping = true;
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  }
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', ...(stopping ? { connection: 'close' } : {}) }).end(JSON.stringify(body));
}

function health() {
  const config = Object.fromEntries(settings.configKeys.map((key) => [key, process.env[key] ?? null]));
  return { version: settings.version, replica: settings.id, pid: process.pid, startedAt, status: 'ok', config, secretVersions: settings.secretVersions };
}

/**
 * Errors are spread evenly (an error budget that accrues errorRatePct per request) rather than by
 * dice, so a 20% fault gives 20% errors over any few dozen requests and tests can be exact.
 */
function shouldFail() {
  errorBudget += fault.errorRatePct / 100;
  if (errorBudget >= 1) {
    errorBudget -= 1;
    return true;
  }
  return false;
}

async function handle(req, res) {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/health') return sendJson(res, 200, health());
  const started = performance.now();
  // Spread handling time over a few buckets: base, base*2 or base*4, plus the fault's delay.
  const spread = [1, 1, 1, 2, 4][Math.floor(Math.random() * 5)] ?? 1;
  await sleep(settings.baseLatencyMs * spread + fault.addedLatencyMs);
  const [status, body] = shouldFail() ? [500, { error: 'injected fault', version: settings.version }] : await answer(path, req.url);
  // Reported before answering, so a scrape right after the answer already counts it.
  tell({ type: 'request', status, seconds: (performance.now() - started) / 1000 });
  sendJson(res, status, body);
}

async function answer(path, url) {
  const feature = /^\/api\/features\/([^/]+)$/.exec(path)?.[1];
  if (feature !== undefined) return featureAnswer(decodeURIComponent(feature));
  if (path === '/api/flags') return flagsAnswer();
  return [200, { version: settings.version, path: url }];
}

/** A kill switch set to "true" or "1" turns the feature off on the very next request; no answer from Redis is never "on". */
async function featureAnswer(feature) {
  const { version } = settings;
  if (!settings.redis) return [200, { version, feature, enabled: true }];
  try {
    const value = await redisGet(`${settings.redis.killSwitchPrefix}${feature}`);
    const killed = value !== null && ['true', '1'].includes(value.trim().toLowerCase());
    return [200, killed ? { version, feature, enabled: false, reason: 'kill switch' } : { version, feature, enabled: true }];
  } catch (err) {
    return [503, { version, feature, error: `kill switch store unreachable: ${err.message}` }];
  }
}

/** The flagd file, read on each request: a DISABLED flag is false, any other its default variant's value. */
async function flagsAnswer() {
  if (!settings.flagdFile) return [404, { version: settings.version, error: 'no flagd file configured' }];
  try {
    const { flags } = JSON.parse(await readFile(settings.flagdFile, 'utf8'));
    const evaluated = Object.fromEntries(
      Object.entries(flags ?? {}).map(([name, flag]) => [name, flag.state !== 'DISABLED' && flag.variants?.[flag.defaultVariant] === true]),
    );
    return [200, { version: settings.version, flags: evaluated }];
  } catch (err) {
    return [503, { version: settings.version, error: `flagd file ${settings.flagdFile} unreadable: ${err.message}` }];
  }
}

// The smallest Redis client that will do: one connection opened on first use, commands pipelined
// and answered in order (RESP2: simple strings, errors, integers, bulk strings).
let redis = null;

const encode = (args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

function redisCommand(...args) {
  return new Promise((resolve, reject) => {
    const connection = (redis ??= openRedis());
    const timer = setTimeout(() => fail(connection, new Error('no answer within 1000 ms')), 1000);
    connection.pending.push({
      resolve: (value) => (clearTimeout(timer), resolve(value)),
      reject: (err) => (clearTimeout(timer), reject(err)),
    });
    connection.socket.write(encode(args));
  });
}

async function redisGet(key) {
  const value = await redisCommand('GET', key);
  if (value instanceof Error) throw value;
  return value;
}

function openRedis() {
  const url = new URL(settings.redis.url);
  const socket = connect({ host: url.hostname || '127.0.0.1', port: Number(url.port || 6379) });
  const connection = { socket, pending: [], buffer: Buffer.alloc(0) };
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    connection.buffer = Buffer.concat([connection.buffer, chunk]);
    try {
      for (let reply = parseReply(connection); reply; reply = parseReply(connection)) connection.pending.shift()?.resolve(reply.value);
    } catch (err) {
      fail(connection, err);
    }
  });
  socket.on('error', (err) => fail(connection, err));
  socket.on('close', () => fail(connection, new Error('connection closed')));
  // Written first, so they are answered first; a refusal fails the command after them.
  const sent = [];
  if (url.password) sent.push(['AUTH', ...(url.username ? [decodeURIComponent(url.username)] : []), decodeURIComponent(url.password)]);
  if (url.pathname.length > 1) sent.push(['SELECT', url.pathname.slice(1)]);
  for (const args of sent) {
    connection.pending.push({ resolve: (value) => value instanceof Error && fail(connection, value), reject: () => {} });
    socket.write(encode(args));
  }
  return connection;
}

function fail(connection, err) {
  if (redis === connection) redis = null;
  connection.socket.destroy();
  for (const waiting of connection.pending.splice(0)) waiting.reject(err);
}

function parseReply(connection) {
  const { buffer } = connection;
  const end = buffer.indexOf('\r\n');
  if (end < 0) return null;
  const line = buffer.toString('utf8', 1, end);
  let value;
  let next = end + 2;
  switch (String.fromCharCode(buffer[0])) {
    case '+':
      value = line;
      break;
    case '-':
      value = new Error(line);
      break;
    case ':':
      value = Number(line);
      break;
    case '$': {
      const length = Number(line);
      if (length < 0) {
        value = null;
        break;
      }
      if (buffer.length < next + length + 2) return null;
      value = buffer.toString('utf8', next, next + length);
      next += length + 2;
      break;
    }
    default:
      throw new Error(`unexpected Redis reply ${JSON.stringify(line)}`);
  }
  connection.buffer = buffer.subarray(next);
  return { value };
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) sendJson(res, 500, { version: settings.version, error: err.message });
  });
});
server.listen(0, '127.0.0.1', () => tell({ type: 'ready', port: server.address().port, pid: process.pid, startedAt }));
