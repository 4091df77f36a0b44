/**
 * A replica as a real process: sandbox/replica.mjs forked with an IPC channel. Spawning resolves once
 * it listens; stopping lets it finish what it is serving and resolves once it has exited. A replica
 * whose parent dies exits by itself (the IPC channel closes), so none outlives its sandbox.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const replicaScript = fileURLToPath(new URL('./replica.mjs', import.meta.url));
const READY_TIMEOUT_MS = 10_000;
/** Longer than the replica's own 5 s for draining its requests: after this it is killed. */
const STOP_TIMEOUT_MS = 7_000;

export interface Fault {
  /** Percent of requests answered 500. */
  errorRatePct: number;
  /** Added to every request's handling time. */
  addedLatencyMs: number;
}

export interface Replica {
  id: number;
  pid: number;
  port: number;
  startedAt: string;
  process: ChildProcess;
}

export interface ReplicaStart {
  version: string;
  id: number;
  baseLatencyMs: number;
  fault: Fault;
  /** The replica's whole environment, as a platform gives it: app config and resolved secrets, nothing else. */
  env: Record<string, string>;
  /** Which of `env` is config (reported by /health); the rest are secrets (never reported). */
  configKeys: string[];
  secretVersions: Record<string, number>;
  redis: { url: string; killSwitchPrefix: string } | null;
  flagdFile: string | null;
}

type ReplicaMessage =
  | { type: 'ready'; port: number; pid: number; startedAt: string }
  | { type: 'request'; status: number; seconds: number }
  | { type: 'fault-applied'; seq: number };

/** Forks a replica and resolves when it listens; `onRequest` hears every request it answers. */
export function spawnReplica(start: ReplicaStart, onRequest: (status: number, seconds: number) => void): Promise<Replica> {
  const { env, ...settings } = start;
  const name = `replica ${start.version}#${start.id}`;
  // The argument only names it in `ps`; its settings go over IPC, its config and secrets in its environment.
  const child = fork(replicaScript, [`${start.version}#${start.id}`], {
    env,
    // Not the parent's `--import tsx`: the replica is plain JavaScript and starts faster without it.
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('message', (message: ReplicaMessage) => {
    if (message.type === 'request') onRequest(message.status, message.seconds);
  });
  return new Promise((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${name} ${reason}`));
    };
    const timer = setTimeout(() => fail(`was not ready within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    const exited = (code: number | null, signal: string | null) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`);
    const failed = (err: Error) => fail(`could not start: ${err.message}`);
    child.once('exit', exited);
    child.once('error', failed);
    child.send({ type: 'start', settings }, (err) => err && failed(err));
    child.on('message', function ready(message: ReplicaMessage) {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      child.off('exit', exited).off('error', failed).off('message', ready);
      // Later errors are failed signals to a process that is gone; its 'exit' tells the rest.
      child.on('error', () => {});
      resolve({ id: start.id, pid: message.pid, port: message.port, startedAt: message.startedAt, process: child });
    });
  });
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Asks the replica to finish its requests and exit; kills it if it has not within 7 s. Resolves once it has exited. */
export async function stopReplica(replica: Replica): Promise<void> {
  const child = replica.process;
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  // With a callback, a channel that closed meanwhile is an argument here rather than an 'error' event.
  if (child.connected) child.send({ type: 'stop' }, (err) => err && child.kill('SIGTERM'));
  else child.kill('SIGTERM');
  await exited;
  clearTimeout(timer);
}

let faultSeq = 0;

/** Sends the fault to the replica; resolves once it applies it (or has exited). Never rejects. */
export function pushFault(replica: Replica, fault: Fault): Promise<void> {
  const child = replica.process;
  const seq = ++faultSeq;
  return new Promise((resolve) => {
    const done = () => {
      child.off('message', applied).off('exit', done);
      resolve();
    };
    const applied = (message: ReplicaMessage) => {
      if (message.type === 'fault-applied' && message.seq === seq) done();
    };
    if (hasExited(child) || !child.connected) return resolve();
    child.on('message', applied).once('exit', done);
    child.send({ type: 'fault', fault, seq }, (err) => err && done());
  });
}
