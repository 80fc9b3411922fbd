// The URI a request is logged and shown under: what the web server sent (REQUEST_URI), as PHP-FPM
// logs it, not `req.url`, which frameworks rewrite as they route (Express inside a mounted router
// shows `/items/7` for `/api/v1/items/7`).

interface RequestWithUri {
  url?: string;
  /** Express keeps the URL it was given here. */
  originalUrl?: string;
  /** node-fastcgi's FastCGI params. */
  cgiParams?: Record<string, string>;
}

export function requestUri(request: object): string | undefined {
  const req = request as RequestWithUri;
  return req.cgiParams?.REQUEST_URI ?? req.originalUrl ?? req.url;
}
