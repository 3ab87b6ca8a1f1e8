import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface SmtpSink {
  readonly port: number;
  /** Every message accepted, parsed, in order. */
  readonly received: ParsedMail[];
  /** Envelope recipients per accepted message. */
  readonly envelopes: string[][];
  /** Per accepted message: whether the session was under TLS (STARTTLS). */
  readonly secure: boolean[];
  /** RCPT TO commands seen (accepted or refused). */
  attempts(): number;
  close(): Promise<void>;
}

/**
 * A real SMTP server on loopback that keeps what it is sent. `refuse`
 * decides per RCPT TO (1 = first) whether to answer with an error code
 * instead (4xx: try later, 5xx: refused).
 */
export async function startSmtpSink(
  options: { refuse?: (attempt: number) => { code: number; message: string } | undefined; auth?: { user: string; password: string }; tls?: { key: string; cert: string } } = {},
): Promise<SmtpSink> {
  const received: ParsedMail[] = [];
  const envelopes: string[][] = [];
  const secure: boolean[] = [];
  let attempts = 0;
  const server = new SMTPServer({
    // Plain SMTP on loopback unless a certificate is given; then STARTTLS is offered.
    disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])],
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    allowInsecureAuth: true,
    authOptional: !options.auth,
    logger: false,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.password) return callback(null, { user: auth.username });
      callback(new Error('invalid credentials'));
    },
    onRcptTo(_address, _session, callback) {
      attempts++;
      const refusal = options.refuse?.(attempts);
      if (refusal) return callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (mail) => {
          received.push(mail);
          envelopes.push(session.envelope.rcptTo.map((r) => r.address));
          secure.push(session.secure);
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    envelopes,
    secure,
    attempts: () => attempts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
