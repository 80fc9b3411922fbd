'use strict';
// An Express 4 app (express 4 installed as express4) as Express's own guide writes one, served through node-fastcgi. Routes: / (the
// worker's pid), /api/v1/items/:id and POST /api/v1/echo (a mounted router, JSON in and out),
// /stream (five chunks, 20 ms apart), /boom and /async-boom (throw: 500), /slow?ms=N (answers later).
const express = require('express4');
const fcgi = require('node-fastcgi');

const app = express();
app.use(express.json());

const api = express.Router();
api.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
api.post('/echo', (req, res) => res.json({ got: req.body }));
app.use('/api/v1', api);

app.get('/', (req, res) => res.type('text/plain').send(`pid=${process.pid}\n`));
app.get('/stream', (req, res) => {
  res.type('text/plain');
  let i = 0;
  const timer = setInterval(() => {
    res.write(`chunk ${i}\n`);
    if (++i === 5) {
      clearInterval(timer);
      res.end('done\n');
    }
  }, 20);
});
app.get('/boom', () => {
  throw new Error('boom');
});
app.get('/async-boom', async () => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  throw new Error('async boom'); // Express 4 leaves this rejection unhandled; Express 5 answers 500
});
app.get('/slow', (req, res) => setTimeout(() => res.send(`late pid=${process.pid}\n`), Number(req.query.ms)));

fcgi.createServer(app).listen();
