# The rollback worker. Build and run through docker-compose.yml, or alone:
#   docker build -t rollback-worker . && docker run --rm -e TEMPORAL_ADDRESS=host:7233 rollback-worker
FROM node:20-bookworm-slim

# pg_dump/pg_restore/psql for database backup and restore activities, sqlite3 for SQLite restores.
# Debian bookworm ships PostgreSQL client 15,
# and pg_dump refuses to dump a server newer than itself, so take a recent client from the
# PostgreSQL apt repository (PGDG); newer clients dump and restore older servers fine.
ARG PG_CLIENT_MAJOR=17
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-common \
 && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
 && apt-get install -y --no-install-recommends "postgresql-client-${PG_CLIENT_MAJOR}" sqlite3 \
 && rm -rf /var/lib/apt/lists/* \
 && pg_dump --version

WORKDIR /app

# Dependencies first so source edits don't reinstall them. Dev dependencies are included on purpose:
# tsx, esbuild and webpack build the worker and its workflow bundle below.
COPY package.json package-lock.json ./
RUN npm ci --include=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src
COPY schemas ./schemas
COPY runbooks ./runbooks

# The workflow bundle (webpack over src/workflows), built once here rather than by every container start;
# the worker checks it against the sources it was built from (src/build/workflow-bundle.ts).
RUN node --import tsx src/build/workflow-bundle-builder.ts .cache/workflow-bundle
# The worker's own JavaScript (esbuild over src/worker/main.ts: no TypeScript compiled at run time), and
# dist/worker.mjs.map beside it, through which stack traces name the files in src/.
RUN node --import tsx src/build/worker-build.ts dist/worker.mjs

# Code stays root-owned (read-only for the worker); only .data (reports, backups) is writable.
# A named volume mounted on /app/.data starts with this ownership.
RUN mkdir -p /app/.data/reports /app/.data/backups && chown -R node:node /app/.data
USER node

# Temporal's worker drains on SIGTERM within WORKER_SHUTDOWN_GRACE_SECONDS.
STOPSIGNAL SIGTERM
# The same allocator settings and command as every worker of ours (src/build/worker-command.ts says why).
ENV MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 MALLOC_MMAP_THRESHOLD_=131072
CMD ["node", "--max-semi-space-size=4", "--heap-growing-percent=20", "dist/worker.mjs"]
