// The WebSocket benchmark's upstream: a `ws` echo server (no compression).
// Plain GETs get 200 "upstream-ok\n" (the login lands there).
// Usage: node bench/ws-upstream.mjs PORT   (listens on 127.0.0.1 only)
import http from 'node:http'
import { WebSocketServer } from 'ws'

const port = Number(process.argv[2])
const server = http.createServer((req, res) => {
  req.resume()
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '12' })
  res.end('upstream-ok\n')
})
const wss = new WebSocketServer({ server, perMessageDeflate: false })
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => { ws.send(data, { binary: isBinary }) })
  ws.on('error', () => undefined)
})
server.listen(port, '127.0.0.1', () => { process.stdout.write(`ws upstream listening 127.0.0.1:${port}\n`) })
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { for (const c of wss.clients) c.terminate(); server.close(() => process.exit(0)) })
