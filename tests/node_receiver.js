// A webhook receiver in Node that checks every delivery with the npm `standardwebhooks`
// library, as an integrator's would: 204 if it verifies, 400 with the library's reason if not.
// Prints {"port"} once listening, then one JSON verdict per request.
const http = require("http");
const { Webhook } = require("standardwebhooks");

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const id = req.headers["webhook-id"] || null;
    try {
      const event = webhook.verify(body, req.headers);
      console.log(JSON.stringify({ ok: true, id, type: event.type }));
      res.writeHead(204).end();
    } catch (err) {
      console.log(JSON.stringify({ ok: false, id, error: err.message }));
      res.writeHead(400, { "Content-Type": "text/plain" }).end(err.message);
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
