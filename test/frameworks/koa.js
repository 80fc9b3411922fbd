'use strict';
// A Koa 3 app with @koa/router, served through node-fastcgi (app.callback()). The same routes as
// express5.js; Koa answers an error with 500.
const fcgi = require('node-fastcgi');
const Koa = require('koa');
const Router = require('@koa/router');
const { PassThrough } = require('node:stream');

const app = new Koa();

async function jsonBody(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return JSON.parse(text);
}

const api = new Router({ prefix: '/api/v1' });
api.get('/items/:id', (ctx) => {
  ctx.body = { id: ctx.params.id };
});
api.post('/echo', async (ctx) => {
  ctx.body = { got: await jsonBody(ctx.req) };
});

const root = new Router();
root.get('/', (ctx) => {
  ctx.type = 'text/plain';
  ctx.body = `pid=${process.pid}\n`;
});
root.get('/stream', (ctx) => {
  const stream = new PassThrough();
  let i = 0;
  const timer = setInterval(() => {
    stream.write(`chunk ${i}\n`);
    if (++i === 5) {
      clearInterval(timer);
      stream.end('done\n');
    }
  }, 20);
  ctx.type = 'text/plain';
  ctx.body = stream;
});
root.get('/boom', () => {
  throw new Error('boom');
});
root.get('/async-boom', async () => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  throw new Error('async boom');
});
root.get('/slow', async (ctx) => {
  await new Promise((resolve) => setTimeout(resolve, Number(ctx.query.ms)));
  ctx.body = `late pid=${process.pid}\n`;
});

app.use(api.routes()).use(root.routes());

fcgi.createServer(app.callback()).listen();
