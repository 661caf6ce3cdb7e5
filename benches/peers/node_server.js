// Node's http module: one process, one JavaScript thread (--port P).
'use strict';
const http = require('http');
const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const body = Buffer.from('Hello, world!');
const headers = { 'Server': 'node', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length };
const server = http.createServer((req, res) => {
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.headersTimeout = 61000;
server.requestTimeout = 0;
server.maxConnections = 100000;
server.listen({ port, host: '127.0.0.1', backlog: 4096 });
