# syntax=docker/dockerfile:1
# The pilotshare server image: one image for migrate, api, ingest and the simulated agents.
# Build: docker build -t pilotshare .   (docker compose builds it for you)
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/pilotshare \
 && /opt/pilotshare/bin/pip install --upgrade pip \
 && /opt/pilotshare/bin/pip install '.[server]'

FROM python:3.11-slim

ENV PATH=/opt/pilotshare/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PILOTSHARE_DATA_DIR=/var/lib/pilotshare
COPY --from=build /opt/pilotshare /opt/pilotshare
# The health probe of docker-compose.yml (HTTP endpoints, or established TCP connections).
COPY --chmod=0755 deploy/compose/probe.py /usr/local/bin/pilotshare-probe
# A fixed unprivileged user; agents keep their outboxes under /var/lib/pilotshare.
RUN useradd --system --uid 10001 --home-dir /var/lib/pilotshare --create-home pilotshare
USER pilotshare
WORKDIR /var/lib/pilotshare
EXPOSE 8000
ENTRYPOINT []
CMD ["pilotshare", "--help"]
