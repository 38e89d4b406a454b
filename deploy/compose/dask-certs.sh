#!/bin/sh
# One-shot of docker-compose.yml (profile dask): a private CA and TLS certificates for the Dask
# scheduler, its workers and its clients (the api container's `pilotshare simulate --dask`),
# written to $CERTS_DIR (the dask-certs volume). Dask then speaks mutual TLS only: a peer
# without a certificate signed by this CA cannot connect, let alone run code.
#
# The CA's private key is deleted once the three certificates are signed, so nobody can mint
# another; to rotate, delete the volume's files (or set FORCE=1) and run the step again.
# Keeps existing certificates while they are valid for another 30 days (idempotent).
# Needs only openssl (the pilotshare image has it). Nothing here is ever committed.
set -eu

DIR=${CERTS_DIR:-/certs}
DAYS=${CERT_DAYS:-825}
umask 077
mkdir -p "$DIR"

if [ "${FORCE:-0}" != 1 ] && [ -s "$DIR/ca.pem" ] && [ -s "$DIR/client-key.pem" ] \
  && openssl x509 -checkend 2592000 -noout -in "$DIR/ca.pem" >/dev/null \
  && openssl x509 -checkend 2592000 -noout -in "$DIR/scheduler.pem" >/dev/null; then
  echo "dask-certs: keeping the certificates in $DIR" >&2
  exit 0
fi

work=$(mktemp -d "$DIR/.new.XXXXXX")
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }

key "$work/ca-key.pem"
openssl req -x509 -new -key "$work/ca-key.pem" -out "$work/ca.pem" -days "$DAYS" \
  -subj "/CN=pilotshare Dask CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

for name in scheduler worker client; do
  key "$work/$name-key.pem"
  openssl req -new -key "$work/$name-key.pem" -out "$work/$name.csr" -subj "/CN=dask-$name"
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=DNS:dask-$name,DNS:dask-scheduler,DNS:localhost,IP:127.0.0.1" \
    >"$work/$name.ext"
  openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" \
    -CAcreateserial -out "$work/$name.pem" -days "$DAYS" -extfile "$work/$name.ext" 2>/dev/null
done

# only what the services read: the CA certificate and each role's certificate and key
for f in ca.pem scheduler.pem scheduler-key.pem worker.pem worker-key.pem client.pem client-key.pem; do
  mv "$work/$f" "$DIR/$f"
done
chmod 0644 "$DIR"/ca.pem "$DIR"/scheduler.pem "$DIR"/worker.pem "$DIR"/client.pem
chmod 0600 "$DIR"/*-key.pem
# compose runs this step as root and hands the files to the image's user (CERTS_OWNER)
if [ -n "${CERTS_OWNER:-}" ]; then
  chown "$CERTS_OWNER" "$DIR" "$DIR"/*.pem
fi
echo "dask-certs: a new CA and certificates for scheduler, worker and client in $DIR" >&2
