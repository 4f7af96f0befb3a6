/**
 * What `npm start` says once it listens: where the API, the console and the docs are, which mode it
 * runs in, and where the API keys come from (a place, never a key).
 */

export interface BannerInfo {
  url: string;
  mode: string;
  dataDir: string;
  /** the development secrets file the keys were read from, when they were */
  devSecretsFile: string | undefined;
  /** the CRMs whose credentials are set */
  crm: string[];
}

/**
 * The start-up banner as lines.
 *
 * @example
 * bannerLines({ url: 'http://127.0.0.1:8787', mode: 'development', dataDir: '/srv/data',
 *   devSecretsFile: '/srv/data/dev-secrets.json', crm: [] });
 * // ['consent-sync is running (development mode)', '  API       http://127.0.0.1:8787', …]
 */
export function bannerLines(info: BannerInfo): string[] {
  const keys = info.devSecretsFile
    ? `${info.devSecretsFile} (API_KEYS: the "admin:…" entry signs in to the console)`
    : 'the API_KEYS environment variable (and keys made with POST /v1/keys)';
  return [
    `consent-sync is running (${info.mode} mode)`,
    `  API       ${info.url}`,
    `  console   ${info.url}/admin   (sign in with an API key)`,
    `  API docs  ${info.url}/docs`,
    `  keys      ${keys}`,
    `  data      ${info.dataDir}`,
    `  CRMs      ${info.crm.length ? info.crm.join(', ') : 'none configured (set HUBSPOT_* or SALESFORCE_*)'}`,
  ];
}
