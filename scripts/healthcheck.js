// Container health check: GET /health on this container's own port with a short timeout. No curl in the image.
// Exit 0 when the server answers 200, 1 otherwise (Docker marks the container unhealthy after the retries).
const http = require('node:http');

const port = Number(process.env.PORT) || 3000;
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS) || 3000;

const req = http.get({ host: '127.0.0.1', port, path: '/health', timeout: timeoutMs }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => {
  req.destroy();
  process.exit(1);
});
req.on('error', () => process.exit(1));
