# The compose file's gateway (nginx) and webhook receiver (python3): one
# small image for both, from the same base as the agent's.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nginx python3 python3-jsonschema ca-certificates \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/*
