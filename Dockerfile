# tollgate in a container. Build stage: Debian 12 packages and cmake.
# Runtime stage: the binary, its shared libraries and the default config.
#
#   docker build -t tollgate .
#   docker run --rm --privileged --network host \
#     -v /sys/fs/bpf:/sys/fs/bpf -v /sys/kernel/btf:/sys/kernel/btf:ro tollgate
#
# The BPF objects are compiled against the build host's kernel BTF
# (/sys/kernel/btf/vmlinux, read during the build) and relocated (CO-RE) on
# the host they run on. BASE may name a locally built Debian 12 image
# (tests/compose/run.sh makes one with debootstrap).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
# Dependencies first, by package name, so source edits keep this layer.
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN /src/scripts/install-deps.sh run && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -DTG_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build -j"$(nproc)" --target tollgate \
 && strip --strip-debug /build/tollgate

FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libbpf1 libuv1 libcurl4 libcjson1 libhttp-parser2.9 libssl3 libsystemd0 libcap2 libhiredis0.14 \
      libelf1 zlib1g iproute2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/tollgate /usr/local/bin/tollgate
COPY config/default.json /etc/tollgate/tollgate.json
# Spool and dead letters (state_dir); mount a volume here to keep them.
RUN mkdir -p /var/lib/tollgate
ENTRYPOINT ["tollgate"]
CMD ["run"]
