import type { Command } from 'commander';
import { contextRunner, printList, printRecord, type OpenCommandContext } from '../../cli/index.ts';
import { addClient, ClientError, findClient, listClients, removeClient, rotateClientSecret, type ClientAuthMethod, type ClientRecord, type LoginMethod } from './clients.ts';
import { openSealer } from './secrets.ts';

const withContext = contextRunner(ClientError);

const collect = (value: string, previous: string[] = []) => [...previous, value];
const commaList = (value: string) => value.split(',').map((s) => s.trim()).filter(Boolean);

interface AddOptions {
  name: string;
  redirectUri: string[];
  postLogoutRedirectUri?: string[];
  public?: boolean;
  authMethod?: ClientAuthMethod;
  jwksUri?: string;
  methods?: LoginMethod[];
  claims?: string[];
  backchannelLogoutUri?: string;
  refreshTokens?: boolean;
  tlsSubjectDn?: string;
  samlEntityId?: string;
  json?: boolean;
}

/** `tillit clients …`: the e-services (OpenID Connect relying parties) allowed to log people in. */
export function registerClientCommands(program: Command, open: OpenCommandContext): void {
  const clients = program.command('clients').description('OpenID Connect clients (e-services) of the identity provider');

  clients
    .command('add')
    .description('register a client and print its id and secret (the secret is shown once)')
    .requiredOption('--name <name>', 'display name shown on the login pages')
    .requiredOption('--redirect-uri <uri>', 'redirect URI (repeat for several)', collect)
    .option('--post-logout-redirect-uri <uri>', 'where RP-initiated logout may return (repeat for several)', collect)
    .option('--public', 'a browser or native app without a secret (PKCE only)')
    .option('--auth-method <method>', 'client_secret_basic (default), client_secret_post, private_key_jwt or tls_client_auth')
    .option('--tls-subject-dn <dn>', 'for tls_client_auth: subject DN of its function certificate, e.g. "CN=Journal, 2.5.4.5=SE2321000016-F001, O=Region"')
    .option('--jwks-uri <uri>', "the client's JWKS (for private_key_jwt)")
    .option('--methods <list>', 'login methods it accepts: oob-other,oob-same,mtls', commaList)
    .option('--claims <list>', 'claims it may receive (requests for more are cut)', commaList)
    .option('--backchannel-logout-uri <uri>', 'where logout notices are posted')
    .option('--refresh-tokens', 'may receive refresh tokens (when it asks for offline_access)')
    .option('--saml-entity-id <entityId>', 'RFC 7522: may trade assertions issued to this SAML SP for access tokens')
    .option('--json', 'print the result as JSON')
    .action((options: AddOptions, command: Command) =>
      withContext(open, command, async (context) => {
        const { client, secret } = await addClient(context.db, await openSealer(context.config), {
          displayName: options.name,
          redirectUris: options.redirectUri,
          ...(options.postLogoutRedirectUri ? { postLogoutRedirectUris: options.postLogoutRedirectUri } : {}),
          ...(options.public ? { public: true } : {}),
          ...(options.authMethod ? { tokenEndpointAuthMethod: options.authMethod } : {}),
          ...(options.jwksUri ? { jwksUri: options.jwksUri } : {}),
          ...(options.methods ? { methods: options.methods } : {}),
          ...(options.claims ? { allowedClaims: options.claims } : {}),
          ...(options.backchannelLogoutUri ? { backchannelLogoutUri: options.backchannelLogoutUri } : {}),
          ...(options.refreshTokens ? { refreshTokens: true } : {}),
          ...(options.tlsSubjectDn ? { tlsClientAuthSubjectDn: options.tlsSubjectDn } : {}),
          ...(options.samlEntityId !== undefined ? { samlEntityId: options.samlEntityId } : {}),
        });
        if (options.json) console.log(JSON.stringify({ ...view(client), secret }));
        else console.log(`client ${client.clientId} (${client.displayName}) registered${secret ? `\nsecret: ${secret}\nIt is not shown again; \`tillit clients rotate-secret ${client.clientId}\` makes a new one.` : ''}`);
      }),
    );

  clients
    .command('list')
    .description('list registered clients')
    .option('--json', 'print the result as JSON')
    .action((options: { json?: boolean }, command: Command) =>
      withContext(open, command, async (context) => {
        const all = (await listClients(context.db)).map(view);
        printList(all, options.json, (c) => `${c.clientId}\t${c.displayName}\t${c.redirectUris.join(' ')}`, 'no clients registered');
      }),
    );

  clients
    .command('show <clientId>')
    .description('show one client')
    .option('--json', 'print the result as JSON')
    .action((clientId: string, options: { json?: boolean }, command: Command) =>
      withContext(open, command, async (context) => {
        const client = await findClient(context.db, clientId);
        if (!client) throw new ClientError(`no client ${clientId}`);
        printRecord(view(client), options.json);
      }),
    );

  clients
    .command('remove <clientId>')
    .description('remove a client; its users can no longer log in to it')
    .option('--json', 'print the result as JSON')
    .action((clientId: string, options: { json?: boolean }, command: Command) =>
      withContext(open, command, async (context) => {
        if (!(await removeClient(context.db, clientId))) throw new ClientError(`no client ${clientId}`);
        console.log(options.json ? JSON.stringify({ clientId, removed: true }) : `client ${clientId} removed`);
      }),
    );

  clients
    .command('rotate-secret <clientId>')
    .description('give a client a new secret (the old one stops working at once)')
    .option('--json', 'print the result as JSON')
    .action((clientId: string, options: { json?: boolean }, command: Command) =>
      withContext(open, command, async (context) => {
        const secret = await rotateClientSecret(context.db, await openSealer(context.config), clientId, context.now());
        console.log(options.json ? JSON.stringify({ clientId, secret }) : `new secret for ${clientId}: ${secret}`);
      }),
    );
}

function view(client: ClientRecord) {
  return { ...client, createdAt: client.createdAt.toISOString() };
}
