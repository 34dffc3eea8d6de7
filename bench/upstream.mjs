// The benchmark's upstream when nginx is not installed: the smallest useful
// node:http server. Every request gets 200 "upstream-ok\n" (12 bytes, keep-alive).
// Usage: node bench/upstream.mjs PORT   (listens on 127.0.0.1 only)
import http from 'node:http'

const port = Number(process.argv[2])
const BODY = Buffer.from('upstream-ok\n')
const HEADERS = { 'content-type': 'text/plain', 'content-length': String(BODY.length) }
const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  // Drain any request body, then answer.
  req.resume()
  res.writeHead(200, HEADERS)
  res.end(BODY)
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => { process.stdout.write(`upstream listening 127.0.0.1:${port}\n`) })
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { server.closeAllConnections(); server.close(() => process.exit(0)) })
