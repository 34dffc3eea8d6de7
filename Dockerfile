# syntax=docker/dockerfile:1
# Gatehouse container image: build with the full toolchain, run with production
# dependencies only, as a non-root user given by number (uid:gid 1000:1000), so
# that the kubelet can verify runAsNonRoot without a runAsUser in the pod spec.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config/examples ./config/examples
# The image's own "node" user, by number: a name cannot be checked against
# runAsNonRoot. Nothing is written at run time (readOnlyRootFilesystem works).
USER 1000:1000
EXPOSE 8080 9901
ENV GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.yaml
ENTRYPOINT ["node", "dist/cli.js"]
