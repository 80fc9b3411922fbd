'use strict';
// A Fastify 5 app with node-fastcgi as its server (Fastify's serverFactory), listening as Fastify's
// guide has it. The same routes as express5.js, the API as a plugin with a prefix.
const { Readable } = require('node:stream');
const fcgi = require('node-fastcgi');
const Fastify = require('fastify');

const fastify = Fastify({ serverFactory: (handler) => fcgi.createServer(handler) });

fastify.register(
  async (api) => {
    api.get('/items/:id', async (request) => ({ id: request.params.id }));
    api.post('/echo', async (request) => ({ got: request.body }));
  },
  { prefix: '/api/v1' },
);

fastify.get('/', async (request, reply) => reply.type('text/plain').send(`pid=${process.pid}\n`));
fastify.get('/stream', (request, reply) => {
  const stream = new Readable({ read() {} });
  let i = 0;
  const timer = setInterval(() => {
    stream.push(`chunk ${i}\n`);
    if (++i === 5) {
      clearInterval(timer);
      stream.push('done\n');
      stream.push(null);
    }
  }, 20);
  reply.type('text/plain').send(stream);
});
fastify.get('/boom', async () => {
  throw new Error('boom');
});
fastify.get('/async-boom', async () => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  throw new Error('async boom');
});
fastify.get('/slow', async (request) => {
  await new Promise((resolve) => setTimeout(resolve, Number(request.query.ms)));
  return `late pid=${process.pid}\n`;
});

fastify.listen({ port: Number(process.env.PORT) || 3000, host: '0.0.0.0' }, (err) => {
  if (err) {
    fastify.log.error(err);
    process.exit(1);
  }
});
