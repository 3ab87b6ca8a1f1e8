import { execFile } from 'node:child_process';

export interface CurlAnswer {
  readonly status: number;
  readonly location: string;
  readonly setCookie: string;
  /** curl's exit code: 0, or e.g. 35/56 when the TLS handshake failed. */
  readonly exitCode: number;
}

/**
 * One GET with curl (not our HTTP code), trusting only `cacert`, without -k;
 * `resolve` pins host names to 127.0.0.1 as `--resolve` does. Asynchronous,
 * so a server in the same process keeps answering.
 */
export function curlGet(url: string, options: { cacert: string; cert?: string; key?: string; resolve?: readonly string[]; cookie?: string }): Promise<CurlAnswer> {
  const target = new URL(url);
  const args = ['-s', '-o', '/dev/null', '-D', '-', '--cacert', options.cacert, '-w', '\n%{http_code}'];
  for (const host of options.resolve ?? []) args.push('--resolve', `${host}:${target.port}:127.0.0.1`);
  if (options.cert) args.push('--cert', options.cert);
  if (options.key) args.push('--key', options.key);
  if (options.cookie) args.push('-H', `Cookie: ${options.cookie}`);
  args.push(url);
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8' }, (error, stdout) => {
      const lines = stdout.split(/\r?\n/);
      const header = (name: string) => lines.find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim() ?? '';
      resolve({ status: Number(lines.at(-1)) || 0, location: header('location'), setCookie: header('set-cookie'), exitCode: error ? Number(error.code ?? 1) : 0 });
    });
  });
}
