// Preloaded with `node --import ./bind-loopback.mjs dist/server.mjs` (1.0) or `... start.mjs`
// (2.x, whose start script names 127.0.0.1 itself: there only the port file below matters).
//
// The server that `flue build --target node` generates calls listen() without a host, which
// binds every interface. This preload fills in a host (FLUE_TEST_HOST, default 127.0.0.1) for
// any listen() call that names none, and once the socket is listening writes the bound port
// to FLUE_TEST_PORT_FILE (if set), so PORT=0 can be used to get a free ephemeral port.
import fs from 'node:fs';
import net from 'node:net';

const host = process.env.FLUE_TEST_HOST || '127.0.0.1';
const portFile = process.env.FLUE_TEST_PORT_FILE;
const originalListen = net.Server.prototype.listen;

function withHost(args) {
  const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.path !== undefined || first.host !== undefined || first.fd !== undefined) return args;
    if (first._handle !== undefined || first.handle !== undefined) return args;
    return [{ ...first, host }, ...(callback ? [callback] : [])];
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] === 'string' && args[1] !== '') return args;
    const backlog = typeof args[2] === 'number' ? { backlog: args[2] } : {};
    return [{ port: Number(first), host, ...backlog }, ...(callback ? [callback] : [])];
  }
  if (first === undefined || typeof first === 'function') {
    return [{ port: 0, host }, ...(callback ? [callback] : [])];
  }
  return args;
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  if (portFile) {
    this.once('listening', () => {
      const address = this.address();
      if (address && typeof address === 'object') {
        const tmp = `${portFile}.tmp-${process.pid}`;
        fs.writeFileSync(tmp, JSON.stringify({ host: address.address, port: address.port, pid: process.pid }));
        fs.renameSync(tmp, portFile);
      }
    });
  }
  return originalListen.apply(this, withHost(args));
};
