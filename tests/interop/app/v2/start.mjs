// Starts the built 2.x interop app (dist/app.mjs) on FLUE_TEST_HOST (default 127.0.0.1) and
// PORT (0: an ephemeral port). The harness preloads ../bind-loopback.mjs, which writes the port
// the kernel picked to FLUE_TEST_PORT_FILE. SIGTERM/SIGINT stop the server, giving in-flight work
// a short grace period: conversations live in memory and nothing needs to survive the process.
const { startFlueNodeServer } = await import(new URL('./dist/app.mjs', import.meta.url).href);

const server = await startFlueNodeServer({
  port: Number.parseInt(process.env.PORT || '0', 10),
  hostname: process.env.FLUE_TEST_HOST || '127.0.0.1',
  quiet: true,
});

let stopping = false;
function stop(code) {
  if (stopping) return;
  stopping = true;
  const grace = setTimeout(() => {
    server.closeSync();
    process.exit(code);
  }, 3000);
  grace.unref();
  server.stop().then(
    () => process.exit(code),
    (error) => {
      console.error('[interop] shutdown failed:', error);
      process.exit(1);
    },
  );
}

process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
