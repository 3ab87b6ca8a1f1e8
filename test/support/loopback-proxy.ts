import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';

/**
 * An HTTP CONNECT proxy that sends `localhost`, `*.localhost` and
 * `127.0.0.1` to 127.0.0.1 and refuses everything else. Chromium resolves
 * `*.localhost` to loopback itself, but with playwright's client
 * certificates the connection is made by Node, whose resolver (glibc) does
 * not; this stands in for that rule (as `curl --resolve` does).
 */
export async function startLoopbackProxy(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_request, response) => response.writeHead(405).end());
  server.on('connect', (request, socket, head) => {
    const [host = '', port = ''] = (request.url ?? '').split(/:(?=\d+$)/);
    if (!(host === 'localhost' || host === '127.0.0.1' || host.endsWith('.localhost')) || !/^\d+$/.test(port)) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect(Number(port), '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
