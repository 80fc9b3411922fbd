// When a worker asks to be recycled (PHP-FPM's pm.max_requests, gunicorn's max_requests with
// max_requests_jitter, PM2's max_memory_restart). Pure: the worker checks after requests end and on
// its report interval; the manager starts the replacement first and retires this worker once the
// replacement accepts, so a recycle never costs capacity.

export interface RecyclePolicy {
  /** 0: never by count. */
  maxRequests: number;
  /** 0: never by memory. */
  maxMemoryBytes: number;
}

/** This worker's own request limit: max_requests plus a random 0..jitter (0 stays 0). */
export function requestLimit(maxRequests: number, jitter: number, random: () => number = Math.random): number {
  if (maxRequests === 0) return 0;
  return maxRequests + Math.floor(random() * (jitter + 1));
}

/**
 * Why the worker should be recycled now, for the log; undefined if it should not. What crossed the
 * limit, not a count: the worker serves on until its replacement accepts, so the requests it has
 * served by the time it exits are more.
 */
export function recycleReason(policy: RecyclePolicy, served: number, rssBytes: number): string | undefined {
  if (policy.maxRequests > 0 && served >= policy.maxRequests) return `reached max_requests (${policy.maxRequests})`;
  if (policy.maxMemoryBytes > 0 && rssBytes > policy.maxMemoryBytes) {
    return `RSS ${mib(rssBytes)} MiB over max_memory ${mib(policy.maxMemoryBytes)} MiB`;
  }
  return undefined;
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}
