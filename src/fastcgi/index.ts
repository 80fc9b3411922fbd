// The worker's FastCGI path: a record layer under node-fastcgi's API (see docs/worker-path.md).

export { applyWorkerPath, hasWorkerPath, CHECKED_NODE_FASTCGI_VERSION, FASTCGI_PATH_CHOICES, type FastCgiPathChoice, isNodeFastcgiServer } from './install';
export { OBSERVER_LISTENER, workerPathConnection } from './connection';
