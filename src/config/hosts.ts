/** Host names the HTTPS server and the other listeners on the public host answer to: the public URL's host plus loopback names (for a laptop). */
export function serverHostNames(publicBaseUrl: string): string[] {
  const host = new URL(publicBaseUrl).hostname.replace(/^\[|\]$/g, '');
  return [...new Set([host, 'localhost', '127.0.0.1', '::1'])];
}
