/**
 * A self-signed certificate for 127.0.0.1 and localhost and its P-256 key, for tests of HTTPS clients
 * against a local `node:https` server only (generated for this project with
 * `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
 * -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost`). It protects nothing.
 */
export const TEST_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUWWRUEv7yCf0Jl9y32wIxWteEbEwwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTIwMzE5MTUzNFoYDzIxMjYxMTA5
MTkxNTM0WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASnMTgctk6ucBRY8ikfVwRIbfJszWJcr9PmBq8UAaSUuT30m6Oz7o/2
jE4XOnJqEw3FTtKU9+di7sKtVoSFKo6No28wbTAdBgNVHQ4EFgQUmTpfE4imSoWW
qvdDJ5VbbOKdDi0wHwYDVR0jBBgwFoAUmTpfE4imSoWWqvdDJ5VbbOKdDi0wDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSQAwRgIhAODcwfoMkgH3LA813G6g/eRIjwpWNRfWiLmg15161qfpAiEA
9APiFk83aIFiTFJJTURI5eoXZ3Lp0vWM3kEiKF35EtY=
-----END CERTIFICATE-----
`;

export const TEST_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1cmCZlm4HOImQpFW
J1pjTfxb0Z8WWkrqxhVkeA1lxUOhRANCAASnMTgctk6ucBRY8ikfVwRIbfJszWJc
r9PmBq8UAaSUuT30m6Oz7o/2jE4XOnJqEw3FTtKU9+di7sKtVoSFKo6N
-----END PRIVATE KEY-----
`;
