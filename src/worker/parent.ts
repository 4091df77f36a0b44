/**
 * For processes the main job (`npm start`) starts: stop when it is gone, even if it died without
 * stopping them (SIGKILL, a crash), so nothing of the checkout is left running. The main job passes
 * its pid in ROLLBACKS_MAIN_JOB_PID; without it (a worker run on its own) this does nothing.
 */
export function stopWithParent(stop: () => void, parentPid = Number(process.env.ROLLBACKS_MAIN_JOB_PID)): void {
  if (!parentPid) return;
  let stopped = false;
  setInterval(() => {
    if (stopped || process.ppid === parentPid) return;
    stopped = true;
    stop();
  }, 1000).unref();
}
