import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { contextRunner, printList, printRecord, type OpenCommandContext } from '../../cli/index.ts';
import { MAX_AGGREGATE_BYTES } from './sp-metadata.ts';
import { addServiceProvider, addServiceProvidersFromAggregate, findServiceProvider, listServiceProviders, readMetadataSource, removeServiceProvider, ServiceProviderError, type ServiceProvider } from './sps.ts';

const withContext = contextRunner(ServiceProviderError);

const commaList = (value: string) => value.split(',').map((s) => s.trim()).filter(Boolean);

interface AddOptions {
  metadata: string;
  aggregateCertificate?: string;
  name?: string;
  methods?: string[];
  attributes?: string[];
  attributeNames?: string;
  requireSignedRequests?: boolean;
  signAssertions: boolean;
  replace?: boolean;
  json?: boolean;
}

/** `tillit sp …`: the e-services (SAML service providers) allowed to log people in. */
export function registerSpCommands(program: Command, open: OpenCommandContext): void {
  const sp = program.command('sp').description('SAML service providers (e-services) of the identity provider');

  sp.command('add')
    .description("register a service provider from its metadata; the login pages show the metadata's OrganizationDisplayName")
    .requiredOption('--metadata <file|url>', 'the SP metadata (md:EntityDescriptor): a file, or an https URL')
    .option('--aggregate-certificate <file>', "the metadata is a federation aggregate (md:EntitiesDescriptor) signed with this certificate's key: register each SP in it")
    .option('--name <name>', 'display name on the login pages (instead of OrganizationDisplayName)')
    .option('--methods <list>', 'login methods it accepts: oob-other,oob-same,mtls', commaList)
    .option('--attributes <list>', 'attributes it may receive, as claim names (employeeHsaId) or SAML names; requests for more are cut', commaList)
    .option('--attribute-names <naming>', 'attribute names on the wire: sambi (http://sambi.se/attributes/1/…, default) or oid (urn:oid:… where defined)')
    .option('--require-signed-requests', 'refuse unsigned AuthnRequests even if the metadata does not say AuthnRequestsSigned')
    .option('--no-sign-assertions', 'sign only the Response, not the Assertion inside it')
    .option('--replace', 'take new metadata and settings for an SP already registered')
    .option('--json', 'print the result as JSON')
    .action((options: AddOptions, command: Command) =>
      withContext(open, command, async (context) => {
        const metadataXml = await readMetadataSource(options.metadata, (path) => readFile(path, 'utf8'), 10_000, options.aggregateCertificate ? MAX_AGGREGATE_BYTES : undefined);
        // What every SP registered by this command gets, whether from one metadata file or an aggregate.
        const settings = {
          metadataSource: options.metadata,
          ...(options.methods ? { methods: options.methods } : {}),
          ...(options.attributes ? { attributes: options.attributes } : {}),
          ...(options.attributeNames ? { attributeProfile: options.attributeNames } : {}),
          requireSignedRequests: options.requireSignedRequests ?? false,
          signAssertions: options.signAssertions,
        };
        if (options.aggregateCertificate) {
          const trustedCertificatePem = await readFile(options.aggregateCertificate, 'utf8').catch((error: NodeJS.ErrnoException) => {
            throw new ServiceProviderError(`cannot read ${options.aggregateCertificate}: ${error.code ?? error.message}`);
          });
          const result = await addServiceProvidersFromAggregate(
            context.db,
            { aggregateXml: metadataXml, trustedCertificatePem, ...settings },
            context.now(),
            { replace: options.replace ?? false },
          );
          if (options.json) console.log(JSON.stringify({ added: result.added.map(view), skipped: result.skipped }));
          else {
            for (const sp of result.added) console.log(`service provider ${sp.entityId} (${sp.displayName}) registered`);
            for (const s of result.skipped) console.log(`skipped ${s.entityId}: ${s.reason}`);
          }
          return;
        }
        const added = await addServiceProvider(
          context.db,
          { metadataXml, ...(options.name ? { displayName: options.name } : {}), ...settings },
          context.now(),
          { replace: options.replace ?? false },
        );
        console.log(options.json ? JSON.stringify(view(added)) : `service provider ${added.entityId} (${added.displayName}) registered`);
      }),
    );

  sp.command('list')
    .description('list registered service providers')
    .option('--json', 'print the result as JSON')
    .action((options: { json?: boolean }, command: Command) =>
      withContext(open, command, async (context) => {
        const all = (await listServiceProviders(context.db)).map(view);
        printList(all, options.json, (s) => `${s.entityId}\t${s.displayName}`, 'no service providers registered');
      }),
    );

  sp.command('show <entityId>')
    .description('show one service provider')
    .option('--json', 'print the result as JSON')
    .action((entityId: string, options: { json?: boolean }, command: Command) =>
      withContext(open, command, async (context) => {
        const found = await findServiceProvider(context.db, entityId);
        if (!found) throw new ServiceProviderError(`no service provider ${entityId}`);
        printRecord(view(found), options.json);
      }),
    );

  sp.command('remove <entityId>')
    .description('remove a service provider; its users can no longer log in to it')
    .option('--json', 'print the result as JSON')
    .action((entityId: string, options: { json?: boolean }, command: Command) =>
      withContext(open, command, async (context) => {
        if (!(await removeServiceProvider(context.db, entityId))) throw new ServiceProviderError(`no service provider ${entityId}`);
        console.log(options.json ? JSON.stringify({ entityId, removed: true }) : `service provider ${entityId} removed`);
      }),
    );
}

/** What `show` and `--json` print: the settings and the endpoints and keys read from the metadata. */
function view(sp: ServiceProvider) {
  const d = sp.descriptor;
  return {
    entityId: sp.entityId,
    displayName: sp.displayName,
    metadataSource: sp.metadataSource,
    methods: sp.methods,
    attributes: sp.allowedAttributes,
    attributeNames: sp.attributeProfile,
    signedRequests: sp.requireSignedRequests || d.authnRequestsSigned ? 'required' : 'optional',
    signAssertions: sp.signAssertions,
    encryptAssertions: d.encryptionCertificates.length > 0,
    assertionConsumerServices: d.assertionConsumerServices.map((s) => `${s.index}${s.isDefault ? '*' : ''} ${s.binding.split(':').at(-1)} ${s.location}`),
    singleLogoutServices: d.singleLogoutServices.map((s) => `${s.binding.split(':').at(-1)} ${s.location}`),
    signingCertificates: d.signingCertificates.length,
    createdAt: new Date(sp.createdAt).toISOString(),
    updatedAt: new Date(sp.updatedAt).toISOString(),
  };
}
